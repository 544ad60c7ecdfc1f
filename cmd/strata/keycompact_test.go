package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyCompactionEndToEnd runs a node on MinIO and kills it with SIGKILL in the middle of a key
// compaction pass, then checks what consumers read. A keyed changelog (updates and tombstones) is
// produced and tiered in many small segments with compaction off (and the hot copies dropped by
// local.retention.ms: the hot log is not compacted); a consumer group commits offset X. The node
// is restarted with passes every 200 ms, and killed once its metrics show records removed (groups
// swapped in) but no pass completed, while a producer keeps writing records of their own keys; it
// is restarted again and the topic read from the start until it is compacted. Every read holds
// each record at most once, in offset order, as produced (offsets too); the latest record of every
// key is there, each acknowledged record of the live producer too, and every tombstone until
// delete.retention.ms has run from the first moment a pass could have completed; the topic ends
// as one record per live key with its latest value, then without tombstones; the group resumes
// at X.
func TestKeyCompactionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "0", "--sweep-interval", "0"}
	c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const (
		topic           = "changelog"
		keys            = 1000
		updates         = 20
		deleteRetention = 20 * time.Second
	)
	c.createTopic(t, ctx, topic, 1, map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("300"),
		// Small segments make a pass of many rewritten groups, each swapped in on its own.
		"segment.bytes": strp("16384"), "min.cleanable.dirty.ratio": strp("0.01"), "min.compaction.lag.ms": strp("0"),
		"delete.retention.ms": strp(fmt.Sprint(deleteRetention.Milliseconds())),
		// Consumers read compacted records once their hot copies are gone: only tiered data is compacted.
		"local.retention.ms": strp("500")})
	cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(time.Minute))

	// keys × updates, then tombstones for every tenth key.
	type kv struct{ key, value string }
	var mu sync.Mutex
	written := map[int64]kv{}    // acknowledged records by offset
	unacked := map[string]bool{} // keys of live records whose produce failed: in the log at most once
	var batch []*kgo.Record
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
	pad := strings.Repeat("x", 80)
	for u := range updates {
		for k := range keys {
			batch = append(batch, &kgo.Record{Key: fmt.Appendf(nil, "key-%04d", k), Value: fmt.Appendf(nil, "v%02d-%s", u, pad)})
			if len(batch) == 100 {
				flush()
			}
		}
	}
	for k := 0; k < keys; k += 10 {
		batch = append(batch, &kgo.Record{Key: fmt.Appendf(nil, "key-%04d", k)})
	}
	flush()
	end := int64(len(written))

	// Before any cleaning, a consumer reads everything and its group commits X.
	const x, group = 12345, "resumer"
	if first := readFrom(t, ctx, c, topic, 0, "", end-1); len(first) != int(end) {
		t.Fatalf("read %d records before compaction, wrote %d", len(first), end)
	}
	adm := kadm.NewClient(cl)
	var commit kadm.Offsets
	commit.AddOffset(topic, 0, x, -1)
	if err := adm.CommitAllOffsets(ctx, group, commit); err != nil {
		t.Fatal(err)
	}
	waitTiered := func(last int64) {
		t.Helper()
		for {
			offs, err := latestTiered(ctx, cl, topic, 1)
			if err == nil && offs[0][0] >= last {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("not tiered up to %d: %v, %v\n%s", last, offs, err, c.logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitTiered(end - 1)

	// A producer of records with keys of their own, across the kill and the restarts.
	stopLive, liveDone := make(chan struct{}), make(chan struct{})
	var liveAcked atomic.Int64
	go func() {
		defer close(liveDone)
		for i := 0; ; i++ {
			select {
			case <-stopLive:
				return
			default:
			}
			r := &kgo.Record{Key: fmt.Appendf(nil, "live-%05d", i), Value: fmt.Appendf(nil, "l%05d", i)}
			err := cl.ProduceSync(ctx, r).FirstErr()
			mu.Lock()
			if err != nil {
				unacked[string(r.Key)] = true
			} else {
				written[r.Offset] = kv{string(r.Key), string(r.Value)}
				liveAcked.Add(1)
			}
			mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stopLive:
		default:
			close(stopLive)
		}
		<-liveDone
	}()

	// Restart with compaction on; kill the node once a pass has swapped groups in but not finished.
	c.kill(1)
	n.extraArgs = []string{"--compaction-interval", "200ms", "--sweep-interval", "0"}
	compactingSince := time.Now() // no pass completed before this
	c.start(1)
	cleanings := func(m map[string]float64) (sum float64) {
		for k, v := range m {
			if strings.HasPrefix(k, "strata_compaction_key_cleanings_total") {
				sum += v
			}
		}
		return sum
	}
	for {
		m := scrape(t, n.http)
		if done := cleanings(m); done > 0 {
			t.Fatalf("a pass completed (%v) before one was seen under way", done)
		}
		if removed := m["strata_compaction_key_removed_records_total"]; removed > 0 {
			c.kill(1)
			t.Logf("killed during a pass, %v records removed so far", removed)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no pass seen\n%s", c.logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.start(1)
	before := liveAcked.Load()
	for liveAcked.Load() < before+20 {
		if ctx.Err() != nil {
			t.Fatalf("the live producer got no acks after the restart\n%s", c.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stopLive)
	<-liveDone
	batch = append(batch, &kgo.Record{Key: []byte("sentinel"), Value: []byte("end")})
	flush()

	// What a compacted log holds: the latest record of each key, then without its tombstones.
	latest := map[string]int64{}
	for off, w := range written {
		if l, ok := latest[w.key]; !ok || off > l {
			latest[w.key] = off
		}
	}
	var compacted, final []int64
	for _, off := range latest {
		compacted = append(compacted, off)
		if written[off].value != "" { // not a tombstone
			final = append(final, off)
		}
	}
	slices.Sort(compacted)
	slices.Sort(final)
	tombstonesUntil := compactingSince.Add(deleteRetention)
	// check fails t unless got, read from offset from, holds each record at most once, in order and
	// as produced, every latest record of a key (tombstones until tombstonesUntil): it returns
	// which of the two compacted states got is exactly, if either.
	check := func(got []*kgo.Record, from int64, readEnded time.Time) (isCompacted, isFinal bool) {
		t.Helper()
		last := from - 1
		extra := map[string]bool{}
		var known []int64
		for _, r := range got {
			w, ok := written[r.Offset]
			switch {
			case r.Offset <= last:
				t.Fatalf("offset %d after %d", r.Offset, last)
			case ok && (string(r.Key) != w.key || string(r.Value) != w.value || (w.value == "") != (r.Value == nil)):
				t.Fatalf("record at offset %d: %q=%q, written %q=%q", r.Offset, r.Key, r.Value, w.key, w.value)
			case !ok && (!unacked[string(r.Key)] || extra[string(r.Key)]):
				t.Fatalf("record at offset %d (%q=%q) was never produced, or twice", r.Offset, r.Key, r.Value)
			}
			last = r.Offset
			extra[string(r.Key)] = !ok
			if ok {
				known = append(known, r.Offset)
			}
		}
		for _, off := range compacted {
			w := written[off]
			if off < from || (w.value == "" && !readEnded.Before(tombstonesUntil)) {
				continue
			}
			if _, found := slices.BinarySearch(known, off); !found {
				t.Fatalf("the latest record of %q (offset %d) is missing from a read from %d", w.key, off, from)
			}
		}
		trim := func(offs []int64) []int64 {
			i, _ := slices.BinarySearch(offs, from)
			return offs[i:]
		}
		return slices.Equal(known, trim(compacted)), slices.Equal(known, trim(final))
	}

	seenCompacted := false
	for {
		got := readFrom(t, ctx, c, topic, 0, "", -1)
		ended := time.Now()
		isCompacted, isFinal := check(got, 0, ended)
		if isCompacted && ended.Before(tombstonesUntil) {
			seenCompacted = true
		}
		if isFinal {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not compacted: %d records, want %d then %d\n%s", len(got), len(compacted), len(final), c.logs())
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !seenCompacted {
		t.Errorf("never read the compacted log with its tombstones within delete.retention.ms (%v)", deleteRetention)
	}
	if time.Now().Before(tombstonesUntil) {
		t.Fatalf("tombstones gone before delete.retention.ms ran out")
	}
	// The group that committed X resumes there.
	got := readFrom(t, ctx, c, topic, 0, group, -1)
	if len(got) == 0 || got[0].Offset < x {
		t.Fatalf("group %s resumed before %d: %d records", group, x, len(got))
	}
	if _, isFinal := check(got, x, time.Now()); !isFinal {
		t.Fatalf("group %s resumed at %d: %d records, not the compacted log from %d", group, got[0].Offset, len(got), x)
	}
	t.Logf("%d records produced (%d by the live producer, %d unacknowledged), %d left", len(written), liveAcked.Load(), len(unacked), len(final))
}

// readFrom consumes partition 0 of topic from offset from up to the sentinel record, or up to
// offset last when last is not negative; with a group, as a member of it from its committed
// offset instead.
func readFrom(t testing.TB, ctx context.Context, c *cluster, topic string, from int64, group string, last int64) []*kgo.Record {
	t.Helper()
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}})}
	if group != "" {
		opts = []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit()}
	}
	cons := c.client(t, opts...)
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
			done = done || string(r.Key) == "sentinel" || (last >= 0 && r.Offset >= last)
		})
		if done {
			return out
		}
	}
}
