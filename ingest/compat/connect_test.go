//go:build unix

package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

const connectLines = 1000

// testConnect runs a Kafka Connect distributed worker (its group protocol, compacted internal
// topics, offset and status storage) against the broker with the FileStream connectors: a
// source copies a file into a one-partition topic, a sink copies the topic into another file,
// and the two files must be equal.
func testConnect(t *testing.T, root string, b *broker) {
	lib := connectLib(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()

	dir := t.TempDir()
	name := topicName("connect")
	data := name + "-data"
	source, sink := name+"-source", name+"-sink" // the sink's group is connect-<sink>
	if err := createTopicN(ctx, b.addr, data, 1); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	var want strings.Builder
	for i := range connectLines {
		fmt.Fprintf(&want, "line-%d\n", i)
	}
	if err := os.WriteFile(in, []byte(want.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	w := startConnect(ctx, t, lib, b, dir, name)
	defer w.kill()

	for _, c := range []struct{ name, class, key, value, file string }{
		{source, "org.apache.kafka.connect.file.FileStreamSourceConnector", "topic", data, in},
		{sink, "org.apache.kafka.connect.file.FileStreamSinkConnector", "topics", data, out},
	} {
		w.putConnector(c.name, false, map[string]string{
			"connector.class": c.class, "tasks.max": "1", "file": c.file, c.key: c.value,
		})
	}

	w.waitFor(fmt.Sprintf("%d lines in the sink's file", connectLines), func() bool {
		got, _ := os.ReadFile(out)
		return bytes.Count(got, []byte("\n")) >= connectLines
	})
	got, _ := os.ReadFile(out)
	if string(got) != want.String() {
		w.fail("sink file differs from source file: %d bytes, want %d", len(got), want.Len())
	}
	for _, c := range []string{source, sink} {
		w.checkRunning(c)
	}

	// The sink's consumer group committed everything it wrote.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	w.waitFor("the sink group's commit", func() bool {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "connect-"+sink)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup(data, 0)
		return ok && o.At == connectLines
	})
	w.stop()
}

// connectLib is the directory of the Kafka Connect jars; the test skips (fails under
// STRATA_REQUIRE_TOOLS=1) when they or java are missing.
func connectLib(t *testing.T, root string) string {
	t.Helper()
	lib := filepath.Join(root, "testdata/compat/connect/lib")
	missing := ""
	if _, err := exec.LookPath("java"); err != nil {
		missing = "java not on PATH"
	} else if m, _ := filepath.Glob(filepath.Join(lib, "connect-runtime-*.jar")); len(m) == 0 {
		missing = "Kafka Connect jars missing from testdata/compat/connect/lib"
	}
	if missing != "" {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s (STRATA_REQUIRE_TOOLS=1; run `make clients`)", missing)
		}
		t.Skipf("%s; run `make clients` to install it", missing)
	}
	return lib
}

// connectWorker is a running Kafka Connect distributed worker and its REST API.
type connectWorker struct {
	t      *testing.T
	ctx    context.Context
	b      *broker
	cmd    *exec.Cmd
	logs   *objstoretest.SyncBuffer
	exited chan error
	done   bool // the process has exited and been waited for
	base   string
	hc     *http.Client
}

// startConnect starts a worker of group name, its config, offset and status topics named
// <name>-configs, -offsets and -status, and waits for its REST API. The caller must stop or kill it.
func startConnect(ctx context.Context, t *testing.T, lib string, b *broker, dir, name string) *connectWorker {
	t.Helper()
	rest := objstoretest.FreeAddr(t)
	props := strings.Join([]string{
		"bootstrap.servers=" + b.addr,
		"group.id=" + name,
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.storage.StringConverter",
		"config.storage.topic=" + name + "-configs",
		"offset.storage.topic=" + name + "-offsets",
		"status.storage.topic=" + name + "-status",
		"config.storage.replication.factor=1",
		"offset.storage.replication.factor=1",
		"status.storage.replication.factor=1",
		"listeners=http://" + rest,
		"rest.advertised.host.name=127.0.0.1",
		"offset.flush.interval.ms=1000",
		"plugin.discovery=service_load",
	}, "\n") + "\n"
	worker := filepath.Join(dir, "worker.properties")
	if err := os.WriteFile(worker, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	w := &connectWorker{t: t, ctx: ctx, b: b, logs: &objstoretest.SyncBuffer{}, exited: make(chan error, 1),
		base: "http://" + rest, hc: &http.Client{Timeout: 10 * time.Second}}
	w.cmd = exec.Command("java", "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", filepath.Join(lib, "*"), "org.apache.kafka.connect.cli.ConnectDistributed", worker)
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	w.waitFor("the REST API", func() bool {
		resp, err := w.hc.Get(w.base + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return w
}

// fail ends the test with the worker's and the broker's log tails.
func (w *connectWorker) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s\n--- connect worker log (tail) ---\n%s%s", fmt.Sprintf(format, args...), w.logs.Tail(40), w.b.logTail())
}

// waitFor polls cond every 250ms until it holds, the worker exits, or ctx ends.
func (w *connectWorker) waitFor(what string, cond func() bool) {
	w.t.Helper()
	for !cond() {
		select {
		case err := <-w.exited:
			w.done = true
			w.fail("connect worker exited while waiting for %s: %v", what, err)
		case <-w.ctx.Done():
			w.fail("timed out waiting for %s", what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// do sends a REST request with a JSON body (when body is not nil) and decodes a JSON answer into
// out (when not nil); it fails the test unless the status is want.
func (w *connectWorker) do(method, path string, body, out any, want int) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, w.base+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.hc.Do(req)
	if err != nil {
		w.fail("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		w.fail("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(msg, out); err != nil {
			w.fail("%s %s: %v: %s", method, path, err, msg)
		}
	}
}

// get decodes the JSON answer to a GET of path into out; it reports false on any failure.
func (w *connectWorker) get(path string, out any) bool {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		return false
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(out) == nil
}

// putConnector creates connector name with config, or (update) replaces its config.
func (w *connectWorker) putConnector(name string, update bool, config map[string]string) {
	w.t.Helper()
	if update {
		w.do(http.MethodPut, "/connectors/"+name+"/config", config, nil, http.StatusOK)
		return
	}
	w.do(http.MethodPost, "/connectors", map[string]any{"name": name, "config": config}, nil, http.StatusCreated)
}

// checkRunning fails the test unless connector name and its one task run.
func (w *connectWorker) checkRunning(name string) {
	w.t.Helper()
	var st struct {
		Connector struct{ State string }   `json:"connector"`
		Tasks     []struct{ State string } `json:"tasks"`
	}
	w.do(http.MethodGet, "/connectors/"+name+"/status", nil, &st, http.StatusOK)
	if st.Connector.State != "RUNNING" || len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" {
		w.fail("connector %s not running: %+v", name, st)
	}
}

// stop sends SIGTERM and waits for the worker to exit (it commits its tasks' offsets first).
func (w *connectWorker) stop() {
	w.t.Helper()
	if w.done {
		return
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-w.exited:
		w.done = true
	case <-time.After(60 * time.Second):
		w.fail("connect worker still running 60s after SIGTERM")
	}
}

// kill SIGKILLs the worker's process group unless it has exited.
func (w *connectWorker) kill() {
	if !w.done {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.exited
		w.done = true
	}
}

// createTopicN creates topic with n partitions.
func createTopicN(ctx context.Context, addr, topic string, n int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
