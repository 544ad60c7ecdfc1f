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

	logs := &objstoretest.SyncBuffer{}
	cmd := exec.Command("java", "-Xmx512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-cp", filepath.Join(lib, "*"), "org.apache.kafka.connect.cli.ConnectDistributed", worker)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n--- connect worker log (tail) ---\n%s%s", fmt.Sprintf(format, args...), logs.Tail(40), b.logTail())
	}

	base := "http://" + rest
	hc := &http.Client{Timeout: 10 * time.Second}
	// waitFor polls cond every 250ms until it holds, the worker exits, or ctx ends.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case err := <-exited:
				stopped = true
				fail("connect worker exited while waiting for %s: %v", what, err)
			case <-ctx.Done():
				fail("timed out waiting for %s", what)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	waitFor("the REST API", func() bool {
		resp, err := hc.Get(base + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	for _, c := range []struct{ name, class, key, value, file string }{
		{source, "org.apache.kafka.connect.file.FileStreamSourceConnector", "topic", data, in},
		{sink, "org.apache.kafka.connect.file.FileStreamSinkConnector", "topics", data, out},
	} {
		body, _ := json.Marshal(map[string]any{"name": c.name, "config": map[string]string{
			"connector.class": c.class, "tasks.max": "1", "file": c.file, c.key: c.value,
		}})
		resp, err := hc.Post(base+"/connectors", "application/json", bytes.NewReader(body))
		if err != nil {
			fail("create connector %s: %v", c.name, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			fail("create connector %s: %s: %s", c.name, resp.Status, msg)
		}
	}

	waitFor(fmt.Sprintf("%d lines in the sink's file", connectLines), func() bool {
		got, _ := os.ReadFile(out)
		return bytes.Count(got, []byte("\n")) >= connectLines
	})
	got, _ := os.ReadFile(out)
	if string(got) != want.String() {
		fail("sink file differs from source file: %d bytes, want %d", len(got), want.Len())
	}
	for _, c := range []string{source, sink} {
		var st struct {
			Connector struct{ State string }   `json:"connector"`
			Tasks     []struct{ State string } `json:"tasks"`
		}
		resp, err := hc.Get(base + "/connectors/" + c + "/status")
		if err != nil {
			fail("status of %s: %v", c, err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || st.Connector.State != "RUNNING" || len(st.Tasks) != 1 || st.Tasks[0].State != "RUNNING" {
			fail("connector %s not running: %+v (%v)", c, st, err)
		}
	}

	// The sink's consumer group committed everything it wrote.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitFor("the sink group's commit", func() bool {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "connect-"+sink)
		if err != nil {
			return false
		}
		o, ok := offs.Lookup(data, 0)
		return ok && o.At == connectLines
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
	case <-time.After(60 * time.Second):
		fail("connect worker still running 60s after SIGTERM")
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
