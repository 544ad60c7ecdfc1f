//go:build unix

package compat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// TestStreamsExactlyOnce runs a Kafka Streams word count with processing.guarantee=exactly_once_v2
// (testdata/compat/java, WordCount.java) through a repartition topic and a compacted changelog,
// kills it with SIGKILL while it is counting, and starts it again on the same state directory.
// The app emits (word, count) for every word it reads, so a read_committed consumer of its output
// must see, for each word, exactly 1, 2, ... n where n is how often the test wrote the word: a
// count seen twice, skipped or past n means a transaction of the killed instance was half
// applied, or the restarted one counted again what the first had committed.
func TestStreamsExactlyOnce(t *testing.T) {
	root := repoRoot(t)
	argv := streamsCommand(t, root)
	b := startBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()

	name := topicName("streams")
	in, out, app := name+"-lines", name+"-counts", name+"-app"
	for _, topic := range []string{in, out} {
		if err := createTopicN(ctx, b.addr, topic, 3); err != nil {
			t.Fatal(err)
		}
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	// Lines of 6 words from a vocabulary of 40; want is each word's count over all lines written.
	rng := rand.New(rand.NewPCG(13, 2))
	want := map[string]int64{}
	words := int64(0)
	nextLine := 0
	writeLines := func(n int) {
		t.Helper()
		recs := make([]*kgo.Record, 0, n)
		for range n {
			ws := make([]string, 6)
			for i := range ws {
				ws[i] = fmt.Sprintf("w%02d", rng.IntN(40))
				want[ws[i]]++
				words++
			}
			recs = append(recs, &kgo.Record{Topic: in, Key: []byte("line-" + strconv.Itoa(nextLine)), Value: []byte(strings.Join(ws, " "))})
			nextLine++
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce lines: %v", err)
		}
	}
	writeLines(4000)

	// The checker: a read_committed consumer of the output, from its start.
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(out),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	last := map[string]int64{} // the last count read per word
	read := int64(0)
	perPartition := map[int32]int64{} // counts read per output partition
	var a *streamsApp
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n--- streams app log (tail) ---\n%s%s", fmt.Sprintf(format, args...), a.logs.Tail(60), b.logTail())
	}
	// poll reads what the output holds within d and checks each count follows the word's last.
	poll := func(d time.Duration) int {
		t.Helper()
		pctx, pcancel := context.WithTimeout(ctx, d)
		defer pcancel()
		fs := cons.PollFetches(pctx)
		if ctx.Err() != nil {
			fail("timed out: read %d of %d counts", read, words)
		}
		n := 0
		fs.EachError(func(topic string, p int32, err error) {
			if err != context.DeadlineExceeded {
				fail("consume %s[%d]: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			n++
			read++
			perPartition[r.Partition]++
			w := string(r.Key)
			c, err := strconv.ParseInt(string(r.Value), 10, 64)
			if err != nil {
				fail("%s[%d]@%d: count %q of %q is not a number", r.Topic, r.Partition, r.Offset, r.Value, w)
			}
			if c != last[w]+1 || c > want[w] {
				fail("%s[%d]@%d: %q counted %d after %d (written %d times so far)", r.Topic, r.Partition, r.Offset, w, c, last[w], want[w])
			}
			last[w] = c
		})
		return n
	}

	state := t.TempDir()
	a = startStreams(t, argv, b.addr, in, out, app, state)
	defer a.kill()
	// Kill it with SIGKILL once about a third of the first lines' words are counted and committed,
	// at a moment a transaction has records in the output (the checker sees counts right after a
	// commit: killing then would find the next transaction empty).
	for read < words/3 {
		a.check(fail)
		poll(250 * time.Millisecond)
	}
	adm := kadm.NewClient(prod)
	for open, until := int64(0), time.Now().Add(10*time.Second); open == 0 && time.Now().Before(until); {
		a.check(fail)
		open = openRecords(ctx, adm, out)
	}
	firstOutput := time.Since(start)
	a.kill()
	killedAt := read
	openAtKill := openRecords(ctx, adm, out)
	t.Logf("killed the app after %d of %d counts were committed (%v after the start), its open transaction holding %d records of the output; counts read per output partition %v",
		killedAt, words, firstOutput.Round(time.Millisecond), openAtKill, perPartition)

	a = startStreams(t, argv, b.addr, in, out, app, state)
	defer a.kill()
	restarted := time.Now()
	writeLines(2000)
	for read < words {
		a.check(fail)
		poll(250 * time.Millisecond)
	}
	caughtUp := time.Since(restarted)
	// Quiet: nothing more may come (a count past a word's total already failed in poll).
	for quiet := time.Now(); time.Since(quiet) < 3*time.Second; {
		poll(500 * time.Millisecond)
	}
	for w, n := range want {
		if last[w] != n {
			fail("%q: last count %d, written %d times", w, last[w], n)
		}
	}

	// The counts went through the repartition topic and the compacted changelog.
	ends, err := adm.ListEndOffsets(ctx, app+"-counts-repartition", app+"-counts-changelog")
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		fail("end offsets of the internal topics: %v", err)
	}
	internal := map[string]int64{}
	ends.Each(func(o kadm.ListedOffset) { internal[o.Topic] += o.Offset })
	if internal[app+"-counts-repartition"] < words || internal[app+"-counts-changelog"] < words {
		fail("internal topics' end offsets %v, want each at least %d (one record per word, plus markers)", internal, words)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, app+"-counts-changelog")
	if err != nil {
		fail("describe the changelog: %v", err)
	}
	if v, err := rc.On(app+"-counts-changelog", nil); err != nil || !hasConfig(v.Configs, "cleanup.policy", "compact") {
		fail("the changelog is not compacted: %v %+v", err, v)
	}
	// The records of the killed instance's open transaction are in the log, aborted: a
	// read_uncommitted consumer sees them.
	aborted := int64(countRecords(ctx, t, b.addr, out)) - words
	if aborted < openAtKill {
		fail("a read_uncommitted consumer sees %d records of aborted transactions in the output, want at least the %d the killed instance left open", aborted, openAtKill)
	}
	t.Logf("%d lines, %d words counted exactly once (%d words in the output; %d records of aborted transactions in it); first %d counts before the kill in %v; restart to all counts in %v; total %v",
		nextLine, words, len(want), aborted, killedAt, firstOutput.Round(time.Millisecond), caughtUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	a.kill()
	b.stop(t)
}

// openRecords is how many records of topic lie past its last stable offset, in transactions not
// yet committed or aborted (0 on an error: the caller asks again or reports a figure).
func openRecords(ctx context.Context, adm *kadm.Client, topic string) int64 {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		return 0
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil || stable.Error() != nil {
		return 0
	}
	n := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := stable.Lookup(o.Topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	return n
}

// countRecords counts the records of topic read with read_uncommitted until a poll of a second
// brings nothing.
func countRecords(ctx context.Context, t *testing.T, addr, topic string) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		n += fs.NumRecords()
	}
	return n
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

// streamsCommand is the java command line of WordCount up to its arguments; the test skips (fails
// under STRATA_REQUIRE_TOOLS=1) when java or the build of testdata/compat/java is missing.
func streamsCommand(t *testing.T, root string) []string {
	t.Helper()
	dir := filepath.Join(root, "testdata/compat/java/target")
	missing := ""
	if _, err := exec.LookPath("java"); err != nil {
		missing = "java not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "classes/io/strata/compat/WordCount.class")); err != nil {
		missing = "testdata/compat/java is not built"
	} else if m, _ := filepath.Glob(filepath.Join(dir, "lib/kafka-streams-*.jar")); len(m) == 0 {
		missing = "kafka-streams missing from testdata/compat/java/target/lib"
	}
	if missing != "" {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s (STRATA_REQUIRE_TOOLS=1; run `make clients`)", missing)
		}
		t.Skipf("%s; run `make clients` to install it", missing)
	}
	cp := filepath.Join(dir, "classes") + string(os.PathListSeparator) + filepath.Join(dir, "lib", "*")
	return []string{"java", "-Xmx256m", "-cp", cp, "io.strata.compat.WordCount"}
}

// streamsApp is a running WordCount process.
type streamsApp struct {
	cmd    *exec.Cmd
	logs   *objstoretest.SyncBuffer
	exited chan error
	done   bool
}

func startStreams(t *testing.T, argv []string, addr, in, out, app, state string) *streamsApp {
	t.Helper()
	a := &streamsApp{logs: &objstoretest.SyncBuffer{}, exited: make(chan error, 1)}
	a.cmd = exec.Command(argv[0], append(argv[1:], "--bootstrap", addr, "--input", in, "--output", out,
		"--app-id", app, "--state-dir", state)...)
	a.cmd.Stdout, a.cmd.Stderr = a.logs, a.logs
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.exited <- a.cmd.Wait() }()
	return a
}

// check fails the test if the app has exited.
func (a *streamsApp) check(fail func(string, ...any)) {
	if a.done {
		return
	}
	select {
	case err := <-a.exited:
		a.done = true
		fail("the streams app exited: %v", err)
	default:
	}
}

// kill SIGKILLs the app's process group unless it has exited, and waits for it.
func (a *streamsApp) kill() {
	if !a.done {
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
		a.done = true
	}
}
