//go:build unix

package compat

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConnectRestartCompacted restarts a Kafka Connect distributed worker whose config, offset
// and status topics Strata has compacted by key. The topics are created beforehand as an
// operator would, cleanup.policy=compact with small segments and local.retention.ms (Strata
// compacts tiered data), on a server running compaction passes every 200 ms. The worker runs a
// FileStream source connector over a file appended to in three steps (so its offset is flushed
// several times under one key), a second connector that is created and deleted (tombstones in
// the config and status topics), and the first one's config updated once. Once every internal
// topic reads back compacted (each key once, no tombstone, gaps in the offsets), the worker is
// stopped and started again: it must list the one live connector with its updated config,
// running, and, given more lines, send only those, so that the data topic holds each line of
// the file exactly once, in order.
func TestConnectRestartCompacted(t *testing.T) {
	if os.Getenv("STRATA_COMPAT_BOOTSTRAP") != "" {
		t.Skip("needs a strata server it starts itself (compaction passes every 200 ms)")
	}
	root := repoRoot(t)
	lib := connectLib(t, root)
	b := startBroker(t, nil, "--compaction-interval", "200ms", "--sweep-interval", "0")
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()

	dir := t.TempDir()
	name := topicName("connect-restart")
	data, source, doomed := name+"-data", name+"-source", name+"-doomed"
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compacted := map[string]*string{"cleanup.policy": ptr("compact"), "segment.ms": ptr("200"),
		"segment.bytes": ptr("16384"), "min.cleanable.dirty.ratio": ptr("0.01"),
		"delete.retention.ms": ptr("1000"), "local.retention.ms": ptr("300")}
	internal := []string{name + "-configs", name + "-offsets", name + "-status"}
	for _, topic := range append([]string{data}, internal...) {
		configs := compacted
		if topic == data {
			configs = nil
		}
		if r, err := adm.CreateTopic(ctx, 1, 1, configs, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}

	in := filepath.Join(dir, "in.txt")
	next := 0 // the next line number to append
	appendLines := func(n int) {
		t.Helper()
		f, err := os.OpenFile(in, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			fmt.Fprintf(f, "line-%d\n", next)
			next++
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	endOffset := func(topic string) int64 {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatalf("end offset of %s: %v", topic, err)
		}
		end, _ := ends.Lookup(topic, 0)
		return end.Offset
	}
	// sent waits until the data topic holds the file's lines so far, then checks it holds each
	// exactly once, in order, and waits for the source's offset to be flushed (another record
	// of the same key in the offset topic).
	flushed := int64(0)
	sent := func(w *connectWorker) {
		t.Helper()
		defer w.waitFor("the source offset flushed", func() bool {
			end := endOffset(internal[1])
			if end > flushed {
				flushed = end
				return true
			}
			return false
		})
		var got []string
		w.waitFor(fmt.Sprintf("line-%d in %s", next-1, data), func() bool {
			got = nil
			for _, r := range readTopic(ctx, t, b.addr, data) {
				got = append(got, string(r.Value))
			}
			return slices.Contains(got, fmt.Sprintf("line-%d", next-1))
		})
		for i, v := range got {
			if v != fmt.Sprintf("line-%d", i) || len(got) != next {
				w.fail("%s holds %d records for %d lines; record %d is %q", data, len(got), next, i, v)
			}
		}
	}

	appendLines(300)
	w := startConnect(ctx, t, lib, b, dir, name)
	defer w.kill()
	sourceConfig := map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
		"tasks.max": "1", "file": in, "topic": data}
	w.putConnector(source, false, sourceConfig)
	sent(w)
	w.putConnector(doomed, false, map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
		"tasks.max": "1", "file": filepath.Join(dir, "none.txt"), "topic": data})
	w.waitFor(doomed+" running", func() bool {
		var st struct{ Connector struct{ State string } }
		return w.get("/connectors/"+doomed+"/status", &st) && st.Connector.State == "RUNNING"
	})
	w.do(http.MethodDelete, "/connectors/"+doomed, nil, nil, http.StatusNoContent)
	appendLines(300)
	sent(w)
	sourceConfig["batch.size"] = "500"
	w.putConnector(source, true, sourceConfig)
	appendLines(300)
	sent(w)
	w.waitFor(source+" running with its new config", func() bool {
		var cfg map[string]string
		return w.get("/connectors/"+source+"/config", &cfg) && cfg["batch.size"] == "500"
	})
	w.checkRunning(source)

	// Wait until each internal topic reads back compacted: every key once, no tombstone.
	removed := map[string]int64{}
	w.waitFor("compacted internal topics", func() bool {
		for _, topic := range internal {
			recs := readTopic(ctx, t, b.addr, topic)
			keys := map[string]bool{}
			for _, r := range recs {
				if keys[string(r.Key)] || r.Value == nil {
					return false
				}
				keys[string(r.Key)] = true
			}
			removed[topic] = endOffset(topic) - int64(len(recs))
		}
		return true
	})
	for _, topic := range internal[:2] { // the status topic may hold one record per key already
		if removed[topic] == 0 {
			w.fail("%s: nothing removed by compaction", topic)
		}
	}
	// Connect deletes a connector with tombstones of its config and target state (its task
	// configs stay, as with Kafka).
	for _, r := range readTopic(ctx, t, b.addr, internal[0]) {
		if k := string(r.Key); k == "connector-"+doomed || k == "target-state-"+doomed {
			w.fail("the deleted connector's record %q is still in %s", r.Key, internal[0])
		}
	}
	t.Logf("records removed by compaction: %v", removed)

	// Restart the worker on the compacted topics.
	w.stop()
	w = startConnect(ctx, t, lib, b, dir, name)
	defer w.kill()
	w.waitFor(source+" running again", func() bool {
		var names []string
		if !w.get("/connectors", &names) {
			return false
		}
		if len(names) > 1 || (len(names) == 1 && names[0] != source) {
			w.fail("connectors after the restart: %v, want only %s", names, source)
		}
		if len(names) == 0 {
			return false
		}
		var st struct {
			Connector struct{ State string }   `json:"connector"`
			Tasks     []struct{ State string } `json:"tasks"`
		}
		return w.get("/connectors/"+source+"/status", &st) && st.Connector.State == "RUNNING" && len(st.Tasks) == 1 && st.Tasks[0].State == "RUNNING"
	})
	var cfg map[string]string
	w.do(http.MethodGet, "/connectors/"+source+"/config", nil, &cfg, http.StatusOK)
	for k, v := range sourceConfig {
		if cfg[k] != v {
			w.fail("config of %s after the restart: %v, want %v", source, cfg, sourceConfig)
		}
	}
	// The source resumes at its committed position: new lines only, nothing sent again.
	appendLines(100)
	sent(w)
	w.stop()
	b.stop(t)
}

// readTopic reads partition 0 of topic from its start up to its end offset read first, or until
// a poll of a second brings nothing (a compacted topic may end in removed offsets).
func readTopic(ctx context.Context, t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("end offset of %s: %v", topic, err)
	}
	end, _ := ends.Lookup(topic, 0)
	var out []*kgo.Record
	for ctx.Err() == nil && (len(out) == 0 || out[len(out)-1].Offset < end.Offset-1) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		n := len(out)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) == n {
			break
		}
	}
	return out
}

func ptr(s string) *string { return &s }
