package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyCompactionEndToEnd runs a node on MinIO with compaction passes every 200 ms, produces a
// keyed changelog (updates and tombstones) with franz-go, lets it tier (and its hot copies go, by
// local.retention.ms: the hot log is not compacted), reads part of it, kills
// the node with SIGKILL while passes run and restarts it, and reads the topic from the start until
// it is compacted: one record per live key with its latest value, tombstones gone after
// delete.retention.ms, offsets as produced, never a record twice or out of order; a consumer that
// stopped at X resumes at X.
func TestKeyCompactionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "200ms", "--sweep-interval", "0"}
	c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "changelog"
	c.createTopic(t, ctx, topic, 1, map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("300"),
		"min.cleanable.dirty.ratio": strp("0.01"), "min.compaction.lag.ms": strp("4000"), "delete.retention.ms": strp("2000"),
		// Consumers read compacted records once their hot copies are gone: only tiered data is compacted.
		"local.retention.ms": strp("500")})
	cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))

	// 100 keys × 20 updates, then tombstones for every tenth key, then a sentinel that ends the log.
	type kv struct{ key, value string }
	written := map[int64]kv{}
	var batch []*kgo.Record
	began := time.Now()
	flush := func() {
		t.Helper()
		res := cl.ProduceSync(ctx, batch...)
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			written[r.Record.Offset] = kv{string(r.Record.Key), string(r.Record.Value)}
		}
		batch = batch[:0]
	}
	for u := range 20 {
		for k := range 100 {
			batch = append(batch, &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", k), Value: fmt.Appendf(nil, "v%02d", u)})
		}
		flush()
	}
	for k := 0; k < 100; k += 10 {
		batch = append(batch, &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", k)})
	}
	batch = append(batch, &kgo.Record{Key: []byte("sentinel"), Value: []byte("end")})
	flush()
	end := int64(len(written))

	// Before any cleaning (min.compaction.lag.ms holds it off), a consumer reads up to X.
	const x = 1234
	first := readFrom(t, ctx, c, topic, 0)
	if len(first) != int(end) {
		t.Fatalf("read %d records before compaction, wrote %d", len(first), end)
	}

	// What a compacted log holds: the latest record of each key, tombstones gone.
	latest := map[string]int64{}
	for off := int64(0); off < end; off++ {
		latest[written[off].key] = off
	}
	var want []int64
	for off := int64(0); off < end; off++ {
		if w := written[off]; latest[w.key] == off && w.value != "" {
			want = append(want, off)
		}
	}
	check := func(got []*kgo.Record, from int64) (compacted bool) {
		t.Helper()
		last := from - 1
		for _, r := range got {
			w, ok := written[r.Offset]
			if r.Offset <= last || !ok || string(r.Key) != w.key || string(r.Value) != w.value {
				t.Fatalf("record at offset %d (after %d): %q=%q, written %q=%q", r.Offset, last, r.Key, r.Value, w.key, w.value)
			}
			last = r.Offset
		}
		i := 0
		for _, off := range want {
			if off >= from {
				if i >= len(got) || got[i].Offset != off {
					return false
				}
				i++
			}
		}
		return i == len(got)
	}
	check(first, 0)

	// Everything is tiered (segment.ms rolls the hot log) before the records are old enough to clean.
	for {
		offs, err := latestTiered(ctx, cl, topic, 1)
		if err == nil && offs[0][0] == end-1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not tiered: %v, %v\n%s", offs, err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Passes start once the first records are 4 s old, every 200 ms: kill the node then (whether the
	// signal lands inside a pass is luck; compaction's own tests cut a pass at its swap), restart it.
	time.Sleep(time.Until(began.Add(4100 * time.Millisecond)))
	c.kill(1)
	c.start(1)

	deadline := time.Now().Add(90 * time.Second)
	for {
		got := readFrom(t, ctx, c, topic, 0)
		if check(got, 0) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted: %d records, want %d\n%s", len(got), len(want), c.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The consumer that stopped at X resumes there.
	if got := readFrom(t, ctx, c, topic, x); !check(got, x) {
		t.Fatalf("resumed at %d: %d records", x, len(got))
	}
}

// readFrom consumes partition 0 of topic from offset from up to the sentinel record.
func readFrom(t testing.TB, ctx context.Context, c *cluster, topic string, from int64) []*kgo.Record {
	t.Helper()
	cons := c.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	defer cons.Close()
	var out []*kgo.Record
	for {
		if ctx.Err() != nil {
			t.Fatalf("consume %s from %d: %d records, no sentinel\n%s", topic, from, len(out), c.logs())
		}
		fs := cons.PollFetches(ctx)
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			done = done || string(r.Key) == "sentinel"
		})
		if done {
			return out
		}
	}
}
