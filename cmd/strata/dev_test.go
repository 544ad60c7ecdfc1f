package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
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

	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// TestDevCluster: `strata dev cluster up` (this test binary re-executed as strata, on free ports)
// starts MinIO, three NATS servers and three nodes and returns; a second up starts nothing.
// Records produced with acks=all to partitions led by every node are read back; one node is
// SIGKILLed by its PID file; more records are produced and every acknowledged record, before
// and after the kill, is read back. status reports the dead node, down stops the six others and
// removes the stale PID file, and no process of the cluster is left.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	minioBin := objstoretest.ToolPath(t, "minio")
	dir := filepath.Join(t.TempDir(), "cluster")
	var base int
	port := func(off int) string { return strconv.Itoa(base + off) }
	var flags []string
	pickPorts := func() {
		base = freePortBlock(t, 14)
		flags = []string{"--dir", dir, "--kafka-port", port(0), "--http-port", port(3), "--nats-port", port(6),
			"--nats-cluster-port", port(9), "--minio-port", port(12), "--minio-console-port", port(13),
			"--minio", minioBin, "--grace", "10s", "--ready-timeout", "90s"}
	}
	pickPorts()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	l := devLayout{dir: dir}

	// dev runs `strata dev cluster sub` as its own process, as make does: up's children outlive it.
	dev := func(ctx context.Context, sub string) (string, error) {
		cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"dev", "cluster", sub}, flags...)...)
		cmd.Env = append(os.Environ(), "STRATA_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { // whatever happened, nothing is left running; logs when the test failed
		if t.Failed() {
			for _, name := range []string{"strata-1", "strata-2", "strata-3", "nats-1", "minio"} {
				t.Logf("--- %s ---\n%s", name, logTail(l.logPath(name), 25))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := dev(ctx, "down"); err != nil {
			t.Errorf("cleanup: down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	out, err := dev(ctx, "up")
	for try := 1; err != nil && strings.Contains(out, "is taken") && try < 3; try++ {
		t.Logf("another process took a port between the test's check and up: %s", out)
		pickPorts()
		out, err = dev(ctx, "up")
	}
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	t.Logf("up took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	seeds := []string{"127.0.0.1:" + port(0), "127.0.0.1:" + port(1), "127.0.0.1:" + port(2)}
	if want := "Kafka bootstrap                 " + strings.Join(seeds, ","); !strings.Contains(out, want) {
		t.Errorf("up output lacks %q", want)
	}
	pids := devPIDs(t, l)
	if len(pids) != 7 {
		t.Fatalf("PID files %v: want minio, nats-1..3, strata-1..3", pids)
	}
	for _, name := range []string{"minio.log", "nats-2.log", "strata-3.log"} {
		if fi, err := os.Stat(filepath.Join(dir, "logs", name)); err != nil || fi.Size() == 0 {
			t.Errorf("log %s: %v", name, err)
		}
	}

	if out, err := dev(ctx, "up"); err != nil || !strings.Contains(out, "already running") {
		t.Fatalf("second up: %v\n%s", err, out)
	}
	if again := devPIDs(t, l); fmt.Sprint(again) != fmt.Sprint(pids) {
		t.Fatalf("second up changed the PID files: %v, was %v", again, pids)
	}

	// The cluster helpers of the other multi-process tests, on the dev cluster's nodes.
	c := &cluster{t: t, nodes: map[int]*clusterNode{}}
	for i, s := range seeds {
		c.nodes[i+1] = &clusterNode{id: i + 1, kafka: s}
	}
	// Leaders are placed by rendezvous hash over the live nodes, so once all three are registered
	// the placement of this topic's partitions is fixed: every node leads some.
	adm := kadm.NewClient(c.client(t))
	for {
		md, err := adm.BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == len(seeds) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the cluster never listed %d brokers: %v %v", len(seeds), md.Brokers, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	const topic, n = "devcluster", 300
	c.createTopic(t, ctx, topic, 6, map[string]*string{"strata.durability": strp("object")})
	led, err := leaders(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[int32]int{}
	for _, le := range led {
		byNode[le[0]]++
	}
	t.Logf("partitions led per node: %v", byNode)
	if len(byNode) != len(seeds) {
		t.Fatalf("partitions led per node %v: want every node to lead some, so records go to all three", byNode)
	}

	acked := map[string]bool{}
	produce := func(phase string) {
		t.Helper()
		cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
		results := make(chan string, n)
		for i := range n {
			v := fmt.Sprintf("%s-%d", phase, i)
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%12), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %s: %v", r.Value, err)
					results <- ""
					return
				}
				results <- string(r.Value)
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush %s: %v", phase, err)
		}
		for range n {
			if v := <-results; v != "" {
				acked[v] = true
			}
		}
		cl.Close()
	}
	checkAcked := func(when string) {
		t.Helper()
		got := consumeAll(t, ctx, c, topic)
		lost := 0
		for v := range acked {
			if got[v] == 0 {
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("%s: %d of %d acknowledged records not read back", when, lost, len(acked))
		}
	}

	produce("before")
	checkAcked("before the kill")

	victim := int(led[0][0])
	name := fmt.Sprintf("strata-%d", victim)
	if err := syscall.Kill(pids[name], syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", name, err)
	}
	for processAlive(pids[name], l.dataDir(name)) {
		if ctx.Err() != nil {
			t.Fatalf("%s (pid %d) survived SIGKILL", name, pids[name])
		}
		time.Sleep(20 * time.Millisecond)
	}
	delete(c.nodes, victim)
	t.Logf("SIGKILLed %s (pid %d), leader of partition 0", name, pids[name])

	produce("after")
	if len(acked) != 2*n {
		t.Fatalf("%d of %d records acknowledged", len(acked), 2*n)
	}
	checkAcked("after the kill")

	// Every object is in the one bucket.
	bkt, err := objstore.Open(ctx, fmt.Sprintf("s3://strata/?endpoint=http://127.0.0.1:%s&region=us-east-1", port(12)),
		objstore.WithCredentials(devMinIOUser, devMinIOPassword), objstore.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	objects := 0
	if err := bkt.List(ctx, "", func(objstore.Attrs) error { objects++; return nil }); err != nil {
		t.Fatal(err)
	}
	bkt.Close()
	if objects == 0 {
		t.Errorf("bucket strata holds no object after %d records with object durability", 2*n)
	}

	var status bytes.Buffer
	if code := run(append([]string{"dev", "cluster", "status"}, flags...), nil, &status, io.Discard); code != 1 ||
		!strings.Contains(status.String(), name+"  pid "+strconv.Itoa(pids[name])+"  not running") {
		t.Errorf("status with %s dead: exit %d\n%s", name, code, status.String())
	}

	out, err = dev(ctx, "down")
	if err != nil {
		t.Fatalf("down: %v\n%s", err, out)
	}
	t.Logf("down:\n%s", out)
	for p, pid := range pids {
		want := fmt.Sprintf("%-9s stopped, pid %d", p, pid)
		if p == name {
			want = name + "  not running (stale PID file removed)"
		}
		if !strings.Contains(out, want) {
			t.Errorf("down output lacks %q", want)
		}
		if processAlive(pid, l.dataDir(p)) {
			t.Errorf("%s (pid %d) still running after down", p, pid)
		}
	}
	if left := devPIDs(t, l); len(left) != 0 {
		t.Errorf("PID files left after down: %v", left)
	}
	if out, err := dev(ctx, "down"); err != nil || !strings.Contains(out, "no cluster running") {
		t.Errorf("second down: %v\n%s", err, out)
	}
}

// devPIDs reads the cluster's PID files.
func devPIDs(t *testing.T, l devLayout) map[string]int {
	t.Helper()
	entries, err := l.pidFiles()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range entries {
		out[e.name] = e.pid
	}
	return out
}

// freePortBlock finds n consecutive free ports on 127.0.0.1 and returns the first (`up` checks
// them again, and says which one was taken if another process got there in between). They are
// below Linux's default ephemeral range (32768-60999), where outgoing connections and ":0"
// listeners could take them.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(12000)
		var ls []net.Listener
		for i := range n {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
			if err != nil {
				break
			}
			ls = append(ls, ln)
		}
		for _, ln := range ls {
			ln.Close()
		}
		if len(ls) == n {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// TestDevClusterFlags: mistakes in the command line are usage errors that name the flag.
func TestDevClusterFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dev"}, "want a subcommand"},
		{[]string{"dev", "frob"}, `unknown dev subcommand "frob"`},
		{[]string{"dev", "cluster"}, "want up, down or status"},
		{[]string{"dev", "cluster", "sideways"}, `unknown dev cluster subcommand "sideways"`},
		{[]string{"dev", "cluster", "up", "--nodes", "0"}, "--nodes 0: want 1 to 9"},
		{[]string{"dev", "cluster", "up", "--kafka-port", "65535"}, "--kafka-port 65535: want 1 to 65533"},
		{[]string{"dev", "cluster", "up", "--host", "localhost"}, `--host "localhost": want an IP address`},
		{[]string{"dev", "cluster", "down", "--grace", "0s"}, "--grace and --ready-timeout"},
		{[]string{"dev", "cluster", "status", "extra"}, `unexpected argument "extra"`},
		{[]string{"dev", "nats", "--name", "x"}, "--name, --dir and --routes are required"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, nil, io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestDevClusterStalePIDs: PID files of processes that are gone, or whose PID now belongs to
// another program, are stale: status and up say so, down removes them and stops only the live one.
func TestDevClusterStalePIDs(t *testing.T) {
	l := devLayout{dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(l.dir, "pids"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A process that has exited (and was reaped); this test process, alive but not naming nats-1's
	// data dir, so a reused PID; a torn file; and a live process that names nats-2's data dir.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sh", "-c", "sleep 60; true", l.dataDir("nats-2"))
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = live.Wait(); close(exited) }()
	t.Cleanup(func() { _ = live.Process.Kill(); <-exited })
	pids := map[string]int{"strata-1": gone.Process.Pid, "nats-2": live.Process.Pid}
	stale := 2
	if hasProcFS {
		pids["nats-1"] = os.Getpid()
		stale++
	} else {
		t.Log("no /proc: a reused PID cannot be told apart; not checking one")
	}
	for name, pid := range pids {
		if err := l.writePID(name, pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(l.pidPath("minio"), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"dev", "cluster", "status", "--dir", l.dir}, nil, &out, &errb); code != 1 ||
		strings.Count(out.String(), "  running") != 1 || !strings.Contains(errb.String(), fmt.Sprintf("1 of %d processes running", stale+1)) {
		t.Errorf("status: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"dev", "cluster", "up", "--dir", l.dir}, nil, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "is partly running (nats-2 up,") {
		t.Errorf("up: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"dev", "cluster", "down", "--dir", l.dir, "--grace", "5s"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("down: exit %d\n%s", code, out.String())
	}
	if strings.Count(out.String(), "not running (stale PID file removed)") != stale ||
		!strings.Contains(out.String(), fmt.Sprintf("nats-2    stopped, pid %d", live.Process.Pid)) {
		t.Errorf("down:\n%s", out.String())
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("the live process outlived down")
	}
	if left := devPIDs(t, l); len(left) != 0 {
		t.Errorf("PID files left: %v", left)
	}
}
