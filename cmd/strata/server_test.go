package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// The test binary doubles as the strata binary: with STRATA_TEST_MAIN=1 it runs main, so lifecycle
// tests can start, SIGTERM and SIGKILL real server processes.
func TestMain(m *testing.M) {
	if os.Getenv("STRATA_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// proc is one strata process.
type proc struct {
	cmd    *exec.Cmd
	stderr objstoretest.SyncBuffer
	kafka  string
	http   string
	done   chan struct{}
	err    error
}

var servingRe = regexp.MustCompile(`msg="strata serving".* kafka=(\S+) .*http=(\S+)`)

// startStrata runs `strata server` with args and waits until it logs that it is serving.
func startStrata(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"server"}, args...)...)
	p.cmd.Env = append(os.Environ(), "STRATA_TEST_MAIN=1")
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := servingRe.FindStringSubmatch(line); m != nil {
				select {
				case found <- [2]string{m[1], m[2]}:
				default:
				}
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case addrs := <-found:
		p.kafka, p.http = addrs[0], addrs[1]
	case <-p.done:
		t.Fatalf("strata exited before serving: %v\n%s", p.err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("strata did not start serving\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	return p.stderr.String()
}

// wait returns the exit code once the process ends, failing after limit.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("strata did not exit within %v\n%s", limit, p.log())
	}
	if p.cmd.ProcessState == nil {
		t.Fatalf("no process state: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

func serverArgs(dataDir string) []string {
	return []string{"--data-dir", dataDir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}
}

// TestServerKillRecoversAckedRecords produces with acks=all, SIGKILLs the server, restarts it on the
// same data dir and reads every acknowledged record back; then SIGTERM exits 0.
func TestServerKillRecoversAckedRecords(t *testing.T) {
	dataDir := t.TempDir()
	p := startStrata(t, serverArgs(dataDir)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const topic, n = "durable", 2000
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var acked int
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte(fmt.Sprintf("v%d", i))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	acked = n
	cl.Close()

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)

	p2 := startStrata(t, serverArgs(dataDir)...)
	cl2, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	seen := map[string]bool{}
	for len(seen) < acked && ctx.Err() == nil {
		fs := cl2.PollFetches(ctx)
		fs.EachError(func(tp string, part int32, err error) { t.Logf("fetch %s/%d: %v", tp, part, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Errorf("record %s read twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	if len(seen) != acked {
		t.Fatalf("read back %d of %d acknowledged records after SIGKILL", len(seen), acked)
	}
	cl2.Close()

	if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p2.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, p2.log())
	}
	if !strings.Contains(p2.log(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", p2.log())
	}
}

// TestDataDirLocked: a second server on the same data dir refuses to start with a clear message.
func TestDataDirLocked(t *testing.T) {
	dataDir := t.TempDir()
	startStrata(t, serverArgs(dataDir)...)
	var stderr bytes.Buffer
	code := run(append([]string{"server"}, serverArgs(dataDir)...), nil, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "in use by another strata process") {
		t.Fatalf("second server: exit %d, stderr %q", code, stderr.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--kafka-addr", "nonsense"}, `--kafka-addr "nonsense": want host:port`},
		{[]string{"server", "--metadata", "http://x:1"}, `--metadata "http://x:1"`},
		{[]string{"server", "--node-id", "x"}, `invalid value "x" for flag -node-id`},
		{[]string{"server", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"server", "--metadata-sync", "sometimes"}, `--metadata-sync "sometimes"`},
		{[]string{"server", "--max-connections-per-ip", "0"}, `--max-connections-per-ip 0`},
		{[]string{"server", "--metadata-sync", "-1s"}, `--metadata-sync "-1s"`},
		{[]string{"server", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"server", "--inter-node-user", "alice"}, "--inter-node-user needs --sasl-users"},
		{[]string{"server", "--inter-node-tls-ca", "ca.pem"}, "--inter-node-tls-ca needs --kafka-tls-cert"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"topic", "frobnicate"}, `unknown topic subcommand "frobnicate"`},
		{[]string{"produce"}, "want exactly one topic name"},
		{[]string{"consume", "t", "--bootstrap", "nohostport"}, `--bootstrap "nohostport"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestBadObjectStoreURL(t *testing.T) {
	var stderr bytes.Buffer
	args := append([]string{"server"}, serverArgs(t.TempDir())...)
	code := run(append(args, "--object-store", "ftp://nowhere/x"), nil, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--object-store") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("STRATA_KAFKA_ADDR", "not-an-addr")
	var stderr bytes.Buffer
	code := run([]string{"server", "--data-dir", t.TempDir()}, nil, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `--kafka-addr "not-an-addr"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestClientCommands drives topic/produce/consume against a real server process.
func TestClientCommands(t *testing.T) {
	p := startStrata(t, serverArgs(t.TempDir())...)
	bs := []string{"--bootstrap", p.kafka}
	runOK := func(stdin string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append(args, bs...), strings.NewReader(stdin), &out, &errb); code != 0 {
			t.Fatalf("strata %v: exit %d: %s", args, code, errb.String())
		}
		return out.String()
	}
	runOK("", "topic", "create", "cli", "--partitions", "2", "--config", "retention.ms=3600000")
	if out := runOK("", "topic", "list"); !strings.Contains(out, "cli\t2") {
		t.Fatalf("topic list: %q", out)
	}
	runOK("a:1\nb:2\nc:3\n", "produce", "cli", "--key-separator", ":")
	out := runOK("", "consume", "cli", "--from-beginning", "--max", "3", "--keys", "--group", "g1")
	for _, want := range []string{"a\t1", "b\t2", "c\t3"} {
		if !strings.Contains(out, want) {
			t.Errorf("consume output %q lacks %q", out, want)
		}
	}
	if out := runOK("", "topic", "describe", "cli"); !strings.Contains(out, "retention.ms=3600000") {
		t.Errorf("describe: %q", out)
	}
	runOK("", "topic", "alter", "cli", "--partitions", "4")
	if out := runOK("", "topic", "describe", "cli"); !strings.Contains(out, "partitions 4") {
		t.Errorf("describe after alter: %q", out)
	}
	runOK("", "topic", "delete", "cli")
	var errb bytes.Buffer
	if code := run(append([]string{"topic", "describe", "cli"}, bs...), nil, io.Discard, &errb); code != 1 ||
		!strings.Contains(errb.String(), `topic "cli" does not exist`) {
		t.Fatalf("describe deleted topic: exit %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"topic", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "2s"}, nil, io.Discard, &errb); code != 1 ||
		!strings.Contains(errb.String(), "cannot reach a Strata node") {
		t.Fatalf("unreachable: exit %d %q", code, errb.String())
	}
}
