package tier

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// fakeBatches is a log of batch headers for searchEpochEnd's probe.
type fakeBatches []batchSpan

func (f fakeBatches) probe(probes *int) func(int64) (batchSpan, error) {
	return func(o int64) (batchSpan, error) {
		*probes++
		for _, b := range f {
			if b.next > o {
				return b, nil
			}
		}
		return batchSpan{}, fmt.Errorf("%w: no batch at or after %d", ErrOffsetOutOfRange, o)
	}
}

// TestSearchEpochEnd checks the search over batch headers against Apache Kafka's answers for the
// epoch history those batches make (a leader's epoch cache, truncated at the log start).
func TestSearchEpochEnd(t *testing.T) {
	plain := fakeBatches{{0, 5, 1}, {5, 10, 1}, {10, 12, 2}, {12, 20, 4}}
	gaps := fakeBatches{{0, 5, 1}, {8, 10, 2}, {15, 20, 3}} // key-compacted: offsets missing between batches
	var long fakeBatches                                    // 1000 one-record batches: epoch 1 up to 617, then 2
	for o := int64(0); o < 1000; o++ {
		e := int32(1)
		if o >= 617 {
			e = 2
		}
		long = append(long, batchSpan{o, o + 1, e})
	}
	for _, tc := range []struct {
		name      string
		log       fakeBatches
		lo, end   int64 // log start, log end
		requested int32
		wantEpoch int32
		wantEnd   int64
		maxProbes int
	}{
		{"below the earliest epoch", plain, 0, 20, 0, 0, 0, 6},
		{"first epoch ends where the second begins", plain, 0, 20, 1, 1, 10, 6},
		{"middle epoch", plain, 0, 20, 2, 2, 12, 6},
		{"epoch that wrote nothing: the one before it, up to the next", plain, 0, 20, 3, 2, 12, 6},
		{"newest epoch in the log: up to the log end", plain, 0, 20, 4, 4, 20, 6},
		{"log start inside the first batch", plain, 3, 20, 0, 0, 3, 6},
		{"log start past the first epoch", plain[2:], 10, 20, 1, 1, 10, 6},
		{"gap after the epoch: the next batch's base", gaps, 0, 20, 1, 1, 8, 6},
		{"gap before the next epoch", gaps, 0, 20, 2, 2, 15, 6},
		{"empty log", nil, 7, 7, 3, 3, 7, 0},
		{"long epoch: binary search", long, 0, 1000, 1, 1, 617, 14},
		{"long log, later epoch", long, 0, 1000, 2, 2, 1000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probes := 0
			epoch, end, err := searchEpochEnd(tc.lo, tc.end, tc.end, tc.requested, -1, tc.log.probe(&probes))
			if err != nil {
				t.Fatal(err)
			}
			if epoch != tc.wantEpoch || end != tc.wantEnd {
				t.Fatalf("epoch %d: got (%d, %d), want (%d, %d)", tc.requested, epoch, end, tc.wantEpoch, tc.wantEnd)
			}
			if probes > tc.maxProbes {
				t.Fatalf("%d probes, want at most %d", probes, tc.maxProbes)
			}
		})
	}
}

// The catalog's segment epochs only hint where to start: an uploader's epoch may be later than its
// batches' (a re-taken log) and a merge's earlier (its first input's); the answers are the same
// as a search from the log start, with fewer probes where the hint holds.
func TestSeedFromCatalog(t *testing.T) {
	// Batches of 10 offsets: epoch 1 up to 40, 3 up to 70, 5 after.
	var log fakeBatches
	for o := int64(0); o < 100; o += 10 {
		e := int32(1)
		switch {
		case o >= 70:
			e = 5
		case o >= 40:
			e = 3
		}
		log = append(log, batchSpan{o, o + 10, e})
	}
	seg := func(base, next int64, epoch int32) metadata.SegmentRef {
		return metadata.SegmentRef{Key: fmt.Sprint(base), BaseOffset: base, NextOffset: next, Epoch: epoch}
	}
	for _, tc := range []struct {
		name           string
		segs           []metadata.SegmentRef
		requested      int32
		wantLo, wantHi int64
		wantSeed       int32
		maxProbes      int // seed and search together
	}{
		{"uploaded under the batches' epochs", []metadata.SegmentRef{seg(0, 40, 1), seg(40, 70, 3), seg(70, 100, 5)}, 3, 50, 70, 3, 4},
		{"re-taken log: uploaded under a later epoch", []metadata.SegmentRef{seg(0, 40, 3), seg(40, 70, 3), seg(70, 100, 5)}, 1, 0, 100, -1, 8},
		{"re-taken log, later epoch asked", []metadata.SegmentRef{seg(0, 40, 3), seg(40, 70, 3), seg(70, 100, 5)}, 3, 50, 70, 3, 4},
		{"next segment's first batch still at or below", []metadata.SegmentRef{seg(0, 20, 1), seg(20, 60, 3), seg(60, 100, 5)}, 3, 70, 100, 3, 6},
		{"merged segment: its first input's epoch", []metadata.SegmentRef{seg(0, 100, 1)}, 3, 10, 100, 1, 8},
		{"merged segment starting in a later epoch", []metadata.SegmentRef{seg(0, 40, 1), seg(40, 100, 1)}, 1, 0, 100, -1, 8},
		{"below every hint", []metadata.SegmentRef{seg(0, 40, 1), seg(40, 100, 3)}, 0, 0, 100, -1, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probes := 0
			lo, seed, hi, atHi, err := seedFromCatalog(tc.segs, 0, 100, 100, tc.requested, log.probe(&probes))
			if err != nil {
				t.Fatal(err)
			}
			if lo != tc.wantLo || hi != tc.wantHi || atHi != hi || seed != tc.wantSeed {
				t.Fatalf("search [%d, %d) answering %d at the top, seed %d; want [%d, %d), seed %d", lo, hi, atHi, seed, tc.wantLo, tc.wantHi, tc.wantSeed)
			}
			epoch, end, err := searchEpochEnd(lo, hi, atHi, tc.requested, seed, log.probe(&probes))
			if err != nil {
				t.Fatal(err)
			}
			wantEpoch, wantEnd, _ := searchEpochEnd(0, 100, 100, tc.requested, -1, log.probe(new(int)))
			if epoch != wantEpoch || end != wantEnd {
				t.Fatalf("from the hint (%d, %d), from the log start (%d, %d)", epoch, end, wantEpoch, wantEnd)
			}
			if probes > tc.maxProbes {
				t.Fatalf("%d probes, want at most %d", probes, tc.maxProbes)
			}
		})
	}
}

// A probe that fails fails the search.
func TestSearchEpochEndProbeError(t *testing.T) {
	probes := 0
	_, _, err := searchEpochEnd(0, 30, 30, 1, -1, fakeBatches{{0, 5, 1}}.probe(&probes))
	if err == nil {
		t.Fatal("no error from a probe past the batches")
	}
}

// produceEpoch appends n batches of 2 records stamped with a leader epoch, as the broker does.
func produceEpoch(t *testing.T, l *hotlog.Log, n int, epoch int32) {
	t.Helper()
	ts := time.Now().UnixMilli()
	for i := range n {
		b := segmenttest.Records(0, ts+int64(i), 2, 300)
		segment.SetPartitionLeaderEpoch(b, epoch)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.WaitDurable(context.Background(), l.EndOffset()); err != nil {
		t.Fatal(err)
	}
}

// newLeader releases node 1's lease and takes it again: the next epoch.
func (e *env) newLeader(tp metadata.TopicPartition) int32 {
	e.t.Helper()
	ctx := context.Background()
	l, err := e.store.GetLease(ctx, tp)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.ReleaseLease(ctx, l); err != nil {
		e.t.Fatal(err)
	}
	return e.lead(tp, 1)
}

// The end offsets of a partition's epochs, over a log whose first epochs are only in object
// storage (registered under later epochs than their batches', as a re-taken log is) and whose last
// ones are in the hot log; the same answers on a node without the hot log for the tiered part.
func TestPartitionLogEndOffsetForEpoch(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	tp, id, l := e.topic("epochs")
	e1 := e.lead(tp, 1)
	pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: r, Catalog: e.store, Tiered: u})
	if err != nil {
		t.Fatal(err)
	}
	pol := DefaultPolicy()
	pol.LocalRetentionBytes = 0
	// e1: offsets [0, 60). Not tiered under e1: the next epoch registers them.
	produceEpoch(t, l, 30, e1)
	e2 := e.newLeader(tp)
	e3 := e.newLeader(tp) // e2 wrote nothing
	// e3: [60, 100), then everything so far is tiered under e3 and leaves the hot log.
	produceEpoch(t, l, 20, e3)
	if err := u.Track(pl, e3, pol); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, 100)
	eventually(t, "hot copies deleted", func() bool { return l.StartOffset() == 100 })
	u.Untrack(tp)
	e4 := e.newLeader(tp)
	// e4: [100, 140) tiered under e4, and [140, 150) only in the hot log.
	produceEpoch(t, l, 20, e4)
	if err := u.Track(pl, e4, pol); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, 140)
	eventually(t, "hot copies deleted", func() bool { return l.StartOffset() == 140 })
	u.Untrack(tp)
	e5 := e.newLeader(tp)
	produceEpoch(t, l, 5, e5) // [140, 150)
	e6 := e.newLeader(tp)     // the current leader, nothing written yet

	ctx := context.Background()
	cases := []struct {
		requested, wantEpoch int32
		wantEnd              int64
	}{
		{e1 - 1, e1 - 1, 0},
		{e1, e1, 60},
		{e2, e1, 60},
		{e3, e3, 100},
		{e4, e4, 140},
		{e5, e5, 150},
		{e6, e6, 150},
		{e6 + 1, -1, -1},
		{-1, -1, -1},
	}
	for _, tc := range cases {
		for round := range 2 { // the second answer comes from the cache
			epoch, end, err := pl.EndOffsetForEpoch(ctx, tc.requested, e6)
			if err != nil {
				t.Fatal(err)
			}
			if epoch != tc.wantEpoch || end != tc.wantEnd {
				t.Fatalf("round %d: epoch %d: got (%d, %d), want (%d, %d)", round, tc.requested, epoch, end, tc.wantEpoch, tc.wantEnd)
			}
		}
	}

	// Another node reads the tiered part only: its log ends at the tiered end, 140.
	fl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Objects: e.reader(nil), Catalog: e.store})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases[:5] {
		epoch, end, err := fl.EndOffsetForEpoch(ctx, tc.requested, e4+1)
		if err != nil {
			t.Fatal(err)
		}
		wantEnd := min(tc.wantEnd, 140)
		if epoch != tc.wantEpoch || end != wantEnd {
			t.Fatalf("tiered only: epoch %d: got (%d, %d), want (%d, %d)", tc.requested, epoch, end, tc.wantEpoch, wantEnd)
		}
	}

	// The log start moves past e1's batches: e1 is below every epoch left.
	if _, err := pl.MoveLogStart(ctx, e6, 70); err != nil {
		t.Fatal(err)
	}
	if epoch, end, err := pl.EndOffsetForEpoch(ctx, e1, e6); err != nil || epoch != e1 || end != 70 {
		t.Fatalf("epoch %d after the log start moved to 70: (%d, %d, %v), want (%d, 70)", e1, epoch, end, err, e1)
	}
}

// countGets counts the object reads a Reader makes.
type countGets struct {
	objstore.Bucket
	n atomic.Int64
}

func (c *countGets) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.n.Add(1)
	return c.Bucket.Get(ctx, key)
}

func (c *countGets) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	c.n.Add(1)
	return c.Bucket.GetRange(ctx, key, off, n)
}

// A lookup below the hot log reads a few batch headers, not the objects: with a cold cache it
// makes a handful of GETs whether or not the catalog's epochs help, and starts no read-ahead.
func TestEndOffsetForEpochReadsFewObjects(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retaken  bool // epoch 1's batches registered under epoch 2 (no useful hint)
		maxGets  int64
		wantGets int64 // exact, when the test's objects fit one block each
	}{
		{"hints hold", false, 2, 2},
		{"no hints", true, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			u := e.uploader(nil)
			tp, id, l := e.topic("cost")
			e1 := e.lead(tp, 1)
			pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: e.reader(nil), Catalog: e.store, Tiered: u})
			if err != nil {
				t.Fatal(err)
			}
			pol := DefaultPolicy()
			pol.LocalRetentionBytes = 0
			produceEpoch(t, l, 300, e1) // [0, 600)
			if !tc.retaken {
				if err := u.Track(pl, e1, pol); err != nil {
					t.Fatal(err)
				}
				if err := l.Roll(); err != nil {
					t.Fatal(err)
				}
				waitTiered(t, u, tp, 600)
				u.Untrack(tp)
			}
			e2 := e.newLeader(tp)
			produceEpoch(t, l, 300, e2) // [600, 1200)
			if err := u.Track(pl, e2, pol); err != nil {
				t.Fatal(err)
			}
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			waitTiered(t, u, tp, 1200)
			eventually(t, "hot copies deleted", func() bool { return l.StartOffset() == 1200 })
			u.Untrack(tp)
			e3 := e.newLeader(tp)
			produceEpoch(t, l, 5, e3)

			gets := &countGets{Bucket: e.bucket}
			reg := prometheus.NewRegistry()
			cold := e.reader(func(c *ReaderConfig) { c.Bucket, c.Registerer = gets, reg })
			fresh, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: cold, Catalog: e.store})
			if err != nil {
				t.Fatal(err)
			}
			epoch, end, err := fresh.EndOffsetForEpoch(context.Background(), e1, e3)
			if err != nil || epoch != e1 || end != 600 {
				t.Fatalf("epoch %d: (%d, %d, %v), want (%d, 600)", e1, epoch, end, err, e1)
			}
			n := gets.n.Load()
			t.Logf("%d GETs", n)
			if n > tc.maxGets || (tc.wantGets > 0 && n != tc.wantGets) {
				t.Fatalf("%d GETs, want at most %d", n, tc.maxGets)
			}
			if ra := testutil.ToFloat64(cold.m.readAhead); ra != 0 {
				t.Fatalf("%v read-ahead fetches started by a lookup", ra)
			}
		})
	}
}
