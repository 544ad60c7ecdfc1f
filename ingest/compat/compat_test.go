//go:build unix

package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientLimit bounds one client's whole scenario; past it the client's processes are killed.
const clientLimit = 3 * time.Minute

// external describes a client that runs as its own program.
type external struct {
	name string
	// command returns the program and arguments (before --bootstrap/--topic), or why the
	// client is not installed.
	command func(root string) (argv []string, missing string)
	// testCreatesTopic is set for clients that cannot create topics themselves.
	testCreatesTopic bool
	// needsKey is an API key the broker must advertise for this client mode to apply.
	needsKey int16
}

func externals() []external {
	return []external{
		{name: "kcat", testCreatesTopic: true, command: func(root string) ([]string, string) {
			if _, err := exec.LookPath("kcat"); err != nil {
				return nil, "kcat not on PATH"
			}
			return []string{"bash", filepath.Join(root, "testdata/compat/kcat/compat.sh")}, ""
		}},
		{name: "kafkajs", command: func(root string) ([]string, string) {
			dir := filepath.Join(root, "testdata/compat/kafkajs")
			if _, err := exec.LookPath("node"); err != nil {
				return nil, "node not on PATH"
			}
			if _, err := os.Stat(filepath.Join(dir, "node_modules/kafkajs/package.json")); err != nil {
				return nil, "kafkajs not installed in testdata/compat/kafkajs/node_modules"
			}
			return []string{"node", filepath.Join(dir, "compat.js")}, ""
		}},
		{name: "java", command: javaCommand("classic", false)},
		{name: "java-legacy-3.9", command: javaCommand("classic", true)},
		// KIP-848 consumer groups apply only where the broker advertises ConsumerGroupHeartbeat.
		{name: "java-kip848", command: javaCommand("consumer", false), needsKey: int16(kmsg.ConsumerGroupHeartbeat)},
		// KIP-932 share groups: two KafkaShareConsumers instead of the group members.
		{name: "java-share", command: javaCommand("share", false), needsKey: int16(kmsg.ShareFetch)},
		{name: "confluent-kafka-python", command: func(root string) ([]string, string) {
			py := filepath.Join(root, ".tools/compat-venv/bin/python")
			if _, err := os.Stat(py); err != nil {
				return nil, "no Python venv at .tools/compat-venv"
			}
			if m, _ := filepath.Glob(filepath.Join(root, ".tools/compat-venv/lib/python*/site-packages/confluent_kafka")); len(m) == 0 {
				return nil, "confluent-kafka not installed in .tools/compat-venv"
			}
			return []string{py, filepath.Join(root, "testdata/compat/python/compat.py")}, ""
		}},
	}
}

// javaCommand runs testdata/compat/java with the current kafka-clients (target/lib), or with
// the older line in target/lib-legacy in its place when legacy is set.
func javaCommand(groupProtocol string, legacy bool) func(string) ([]string, string) {
	return func(root string) ([]string, string) {
		dir := filepath.Join(root, "testdata/compat/java/target")
		if _, err := exec.LookPath("java"); err != nil {
			return nil, "java not on PATH"
		}
		if _, err := os.Stat(filepath.Join(dir, "classes/io/strata/compat/Main.class")); err != nil {
			return nil, "testdata/compat/java is not built"
		}
		cp := []string{filepath.Join(dir, "classes"), filepath.Join(dir, "lib", "*")}
		if legacy {
			old, _ := filepath.Glob(filepath.Join(dir, "lib-legacy", "kafka-clients-*.jar"))
			if len(old) == 0 {
				return nil, "no legacy kafka-clients in testdata/compat/java/target/lib-legacy"
			}
			// The legacy client plus every non-Kafka jar (compression codecs, slf4j).
			cp = append([]string{filepath.Join(dir, "classes")}, old...)
			jars, _ := filepath.Glob(filepath.Join(dir, "lib", "*.jar"))
			for _, j := range jars {
				if !strings.HasPrefix(filepath.Base(j), "kafka") {
					cp = append(cp, j)
				}
			}
		}
		return []string{"java", "-Xmx256m", "-cp", strings.Join(cp, string(os.PathListSeparator)),
			"io.strata.compat.Main", "--group-protocol", groupProtocol}, ""
	}
}

// TestClients runs the scenario (see the package doc) with every client, one subtest each.
func TestClients(t *testing.T) {
	root := repoRoot(t)
	b := startBroker(t, nil)
	logAPIVersions(t, b.addr)

	inProcess := []struct {
		name string
		run  func(ctx context.Context, logf func(string, ...any), addr, topic string) (Summary, error)
	}{
		{"franz-go", runFranz},
		{"franz-go-rebalance-cooperative", runFranzRebalance(kgo.CooperativeStickyBalancer())},
		{"franz-go-rebalance-eager", runFranzRebalance(kgo.RangeBalancer())},
		{"sarama", runSarama(sarama.V2_8_0_0)},          // sarama's default protocol level
		{"sarama-latest", runSarama(sarama.MaxVersion)}, // newest request versions it knows
	}
	for _, c := range inProcess {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
			defer cancel()
			s, err := c.run(ctx, t.Logf, b.addr, topicName(c.name))
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			checkSummary(t, b, s, nil)
		})
	}

	t.Run("franz-go-compression", func(t *testing.T) { testCompression(t, b.addr) })

	for _, c := range externals() {
		t.Run(c.name, func(t *testing.T) {
			argv, missing := c.command(root)
			if missing != "" {
				if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
					t.Fatalf("%s: %s (STRATA_REQUIRE_TOOLS=1; run `make clients`)", c.name, missing)
				}
				t.Skipf("%s: %s; run `make clients` to install it", c.name, missing)
			}
			if c.needsKey != 0 {
				if ok, err := advertises(b.addr, c.needsKey); err != nil {
					t.Fatalf("ApiVersions: %v", err)
				} else if !ok {
					t.Skipf("broker does not advertise %s (API key %d)", kmsg.NameForKey(c.needsKey), c.needsKey)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
			defer cancel()
			topic := topicName(c.name)
			if c.testCreatesTopic {
				if err := createTopic(ctx, b.addr, topic); err != nil {
					t.Fatal(err)
				}
			}
			argv = append(argv, "--bootstrap", b.addr, "--topic", topic)
			stdout, stderr, exitErr := runProgram(ctx, argv)
			s, err := parseSummary(stdout)
			if err != nil {
				t.Errorf("%s: %v (exit: %v)\nstdout:\n%s\nstderr (tail):\n%s%s",
					c.name, err, exitErr, stdout, tail(stderr, 60), b.logTail())
				return
			}
			passed := checkSummary(t, b, s, stderr)
			if perrs := protocolErrors(stderr); perrs != "" {
				passed = false
				t.Errorf("%s: the client could not parse some broker responses (librdkafka PROTOERR):\n%s", c.name, perrs)
			}
			if passed && exitErr != nil {
				t.Errorf("%s: summary passes but the program exited with %v\nstderr (tail):\n%s",
					c.name, exitErr, tail(stderr, 60))
			}
			if !passed && exitErr == nil && len(s.problems(recordCount)) > 0 {
				t.Errorf("%s: summary fails but the program exited 0", c.name)
			}
		})
	}

	t.Run("java-console-tools", func(t *testing.T) { testConsoleTools(t, root, b) })
	t.Run("kafka-connect", func(t *testing.T) { testConnect(t, root, b) })

	b.stop(t)
}

// checkSummary logs s and fails t on every problem; it reports whether s passed.
func checkSummary(t *testing.T, b *broker, s Summary, clientLog []byte) bool {
	t.Helper()
	line, _ := json.Marshal(s)
	t.Logf("summary: %s", line)
	probs := s.problems(recordCount)
	if len(probs) == 0 {
		return true
	}
	msg := "  - " + strings.Join(probs, "\n  - ")
	if len(clientLog) > 0 {
		msg += "\n--- client log (tail) ---\n" + tail(clientLog, 60)
	}
	t.Errorf("%s failed the scenario:\n%s%s", s.Client, msg, b.logTail())
	return false
}

// runProgram runs argv in its own process group; when ctx ends the whole group is killed.
func runProgram(ctx context.Context, argv []string) (stdout, stderr []byte, err error) {
	return runProgramInput(ctx, argv, "")
}

// runProgramInput is runProgram with stdin.
func runProgramInput(ctx context.Context, argv []string, stdin string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w (%v)", clientLimit, ctx.Err(), err)
	}
	return out.Bytes(), errb.Bytes(), err
}

// protocolErrors returns librdkafka's PROTOERR log lines (responses it could not parse:
// always a broker bug, even when the client recovers by retrying), counted and deduplicated.
func protocolErrors(stderr []byte) string {
	counts := map[string]int{}
	var order []string
	for _, line := range strings.Split(string(stderr), "\n") {
		i := strings.Index(line, "PROTOERR")
		if i < 0 {
			continue
		}
		msg := line[i:]
		if counts[msg] == 0 {
			order = append(order, msg)
		}
		counts[msg]++
	}
	var b strings.Builder
	for i, msg := range order {
		if i == 10 {
			fmt.Fprintf(&b, "  ... and %d more distinct lines\n", len(order)-10)
			break
		}
		fmt.Fprintf(&b, "  %dx %s\n", counts[msg], msg)
	}
	return b.String()
}

// advertises reports whether the broker's ApiVersions response lists key.
func advertises(addr string, key int16) (bool, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		return false, err
	}
	any := false
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return false, v.Err
		}
		if _, ok := v.KeyMaxVersion(key); !ok {
			return false, nil
		}
		any = true
	}
	if !any {
		return false, errors.New("no broker answered ApiVersions")
	}
	return true, nil
}

// logAPIVersions logs what the broker advertises, so a client failure can be read against it.
func logAPIVersions(t testing.TB, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		t.Logf("ApiVersions: %v", err)
		return
	}
	for _, v := range vs.Sorted() {
		var keys []string
		v.EachKeySorted(func(key, minV, maxV int16) {
			keys = append(keys, fmt.Sprintf("%s(%d) v%d-%d", kmsg.NameForKey(key), key, minV, maxV))
		})
		t.Logf("broker %d advertises %d APIs (%s): %s", v.NodeID, len(keys), v.VersionGuess(), strings.Join(keys, ", "))
	}
}

// topicName is unique per run, so reruns against a long-lived external broker do not collide.
func topicName(client string) string {
	return fmt.Sprintf("compat-%s-%d-%d", client, os.Getpid(), time.Now().UnixNano()%1_000_000_000)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
