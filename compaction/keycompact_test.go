package compaction

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// kv is one record of a keyed stream: a nil key is a record without a key, a nil value a tombstone.
type kv struct {
	key, value []byte
}

// rec is one record read back.
type rec struct {
	offset     int64
	key, value string
	tombstone  bool
}

// keyClock is a settable time for key compaction tests.
type keyClock struct{ ms atomic.Int64 }

func newKeyClock() *keyClock {
	c := &keyClock{}
	c.ms.Store(time.Now().UnixMilli())
	return c
}
func (c *keyClock) now() time.Time          { return time.UnixMilli(c.ms.Load()) }
func (c *keyClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// compactedTopic creates a topic with configs (cleanup.policy=compact added) and takes its lease.
func (e *env) compactedTopic(name string, configs map[string]string) *partition {
	e.t.Helper()
	ctx := context.Background()
	cfgs := map[string]string{ConfigCleanupPolicy: "compact"}
	for k, v := range configs {
		cfgs[k] = v
	}
	top, err := e.store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1, Configs: cfgs})
	if err != nil {
		e.t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: name}
	l, err := e.store.AcquireLease(ctx, tp, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return &partition{tp: tp, id: top.ID, lease: l}
}

// addKeyed writes recs as segments of batchesPer batches of perBatch records (the last ones may be
// shorter), timestamps one millisecond apart from ts, PUTs and registers them as an uploader would,
// and returns the offset after them. edit, when given, may change each batch (its base offset and
// its bytes) before it is written, as a broker does (leader epochs).
func (e *env) addKeyed(p *partition, recs []kv, perBatch, batchesPer int, ts int64, codec int16, edit ...func(base int64, b []byte)) int64 {
	e.t.Helper()
	ctx := context.Background()
	for len(recs) > 0 {
		var buf bytes.Buffer
		base := p.end
		w := segment.NewWriter(&buf, base, 0)
		minTS := ts + base
		for range batchesPer {
			if len(recs) == 0 {
				break
			}
			n := min(perBatch, len(recs))
			b := segmenttest.Batch{BaseOffset: p.end, FirstTimestamp: ts + p.end, Codec: codec}
			for _, r := range recs[:n] {
				b.Keys = append(b.Keys, r.key)
				b.Values = append(b.Values, r.value)
			}
			recs = recs[n:]
			enc := b.Encode()
			for _, f := range edit {
				f(p.end, enc)
			}
			info, err := w.Append(enc)
			if err != nil {
				e.t.Fatal(err)
			}
			p.batches = append(p.batches, enc)
			p.end = info.NextOffset()
		}
		if _, err := w.Seal(); err != nil {
			e.t.Fatal(err)
		}
		key := tier.ObjectKey(prefix, p.id, 0, base, p.lease.Epoch)
		objstoretest.Put(e.t, e.bucket, key, buf.Bytes())
		ref := metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: p.end, Size: int64(buf.Len()),
			MinTimestamp: minTS, MaxTimestamp: ts + p.end - 1, Epoch: p.lease.Epoch, Records: p.end - base,
			CreatedAt: time.UnixMilli(ts + p.end)}
		if err := e.store.RegisterSegment(ctx, p.tp, p.lease.Epoch, ref); err != nil {
			e.t.Fatal(err)
		}
	}
	return p.end
}

// readRecords reads the partition from offset from to its tiered end through a fresh tier.Reader
// and returns its records, checking that offsets only grow.
func (e *env) readRecords(p *partition, from int64) []rec {
	e.t.Helper()
	r, err := tier.NewReader(tier.ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	out, err := readAll(r, p, from, e.catalog(p.tp).TieredEnd())
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func readAll(r *tier.Reader, p *partition, from, end int64) ([]rec, error) {
	var out []rec
	var ret segment.Retainer
	last := int64(-1)
	for off := from; off < end; {
		b, err := r.Read(context.Background(), p.tp, p.id, off, 16<<10)
		if err != nil {
			return nil, fmt.Errorf("read at %d: %w", off, err)
		}
		s := segment.NewSplitter(b)
		n := 0
		for s.Next() {
			err := ret.Each(s.Batch(), s.Info(), func(sr segment.StoredRecord) error {
				if sr.Offset < off {
					return nil // before the fetch offset, as a consumer skips it
				}
				if sr.Offset <= last {
					return fmt.Errorf("offset %d after %d", sr.Offset, last)
				}
				last = sr.Offset
				out = append(out, rec{offset: sr.Offset, key: string(sr.Key), value: string(sr.Value), tombstone: sr.Value == nil})
				return nil
			})
			if err != nil {
				return nil, err
			}
			off = s.Info().NextOffset()
			n++
		}
		if s.Err() != nil || n == 0 {
			return nil, fmt.Errorf("read at %d: %d batches, %v", off, n, s.Err())
		}
	}
	return out, nil
}

// stream builds keys × updates records: round u gives every key its value u; tombstone[k] adds a
// tombstone for key k after the last round; every tenth record of round 0 is followed by one
// without a key.
func stream(keys, updates int, tombstone func(k int) bool) []kv {
	var out []kv
	for u := range updates {
		for k := range keys {
			out = append(out, kv{[]byte(fmt.Sprintf("key-%05d", k)), []byte(fmt.Sprintf("value-%05d-%03d", k, u))})
			if u == 0 && k%10 == 0 {
				out = append(out, kv{nil, []byte("no key")})
			}
		}
	}
	for k := range keys {
		if tombstone(k) {
			out = append(out, kv{[]byte(fmt.Sprintf("key-%05d", k)), nil})
		}
	}
	return out
}

// compacted is what Kafka's cleaner leaves of recs written from offset base (tombstones kept or
// not): the latest record of every key, in offset order, without keyless records.
func compacted(recs []kv, base int64, keepTombstones bool) []rec {
	latest := map[string]int64{}
	for i, r := range recs {
		if r.key != nil {
			latest[string(r.key)] = base + int64(i)
		}
	}
	var out []rec
	for i, r := range recs {
		off := base + int64(i)
		if r.key == nil || latest[string(r.key)] != off || (r.value == nil && !keepTombstones) {
			continue
		}
		out = append(out, rec{offset: off, key: string(r.key), value: string(r.value), tombstone: r.value == nil})
	}
	return out
}

func checkRecs(t testing.TB, what string, got, want []rec) {
	t.Helper()
	if !slices.Equal(got, want) {
		n := min(len(got), len(want))
		for i := range n {
			if got[i] != want[i] {
				t.Fatalf("%s: record %d is %+v, want %+v (%d records, want %d)", what, i, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
}

// checkContiguous asserts the catalog still covers [0, end) with consecutive segments.
func (e *env) checkContiguous(p *partition, end int64) {
	e.t.Helper()
	c := e.catalog(p.tp)
	next := int64(0)
	for _, s := range c.Segments {
		if s.BaseOffset != next {
			e.t.Fatalf("segment %s covers [%d, %d), want it to start at %d", s.Key, s.BaseOffset, s.NextOffset, next)
		}
		next = s.NextOffset
	}
	if next != end {
		e.t.Fatalf("catalog ends at %d, want %d", next, end)
	}
}

func (e *env) keyWorker(clk *keyClock, mod func(*Config)) *Worker {
	return e.worker(func(c *Config) {
		c.Now = clk.now
		if mod != nil {
			mod(c)
		}
	})
}

// TestKeyCompaction writes a keyed stream with updates, tombstones and keyless records, compacts it
// to the latest value of every key (tombstones kept), then, once delete.retention.ms has passed,
// compacts the tombstones away; a consumer's position taken before the first pass stays valid.
func TestKeyCompaction(t *testing.T) {
	for _, codec := range []int16{0, 4} {
		t.Run("codec"+strconv.Itoa(int(codec)), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			clk := newKeyClock()
			p := e.compactedTopic("keyed", map[string]string{ConfigDeleteRetentionMs: "3600000"})
			recs := stream(300, 5, func(k int) bool { return k%7 == 0 })
			end := e.addKeyed(p, recs, 50, 4, clk.now().Add(-time.Hour).UnixMilli(), codec)
			before := e.catalog(p.tp)
			var inBytes int64
			for _, s := range before.Segments {
				inBytes += s.Size
			}

			// A consumer reads up to X before the pass.
			const x = 700
			first := e.readRecords(p, 0)
			if len(first) != len(recs) {
				t.Fatalf("read %d records before compaction, wrote %d", len(first), len(recs))
			}

			w := e.keyWorker(clk, nil)
			res, err := w.RunOnce(ctx)
			if err != nil || res.Cleaned != 1 || res.Removed == 0 {
				t.Fatalf("first pass: %+v, %v", res, err)
			}
			e.checkContiguous(p, end)
			checkRecs(t, "after the first pass", e.readRecords(p, 0), compacted(recs, 0, true))
			// The consumer resumes at X and reads exactly the compacted records from there.
			var fromX []rec
			for _, r := range compacted(recs, 0, true) {
				if r.offset >= x {
					fromX = append(fromX, r)
				}
			}
			checkRecs(t, "resumed at X", e.readRecords(p, x), fromX)

			var outBytes int64
			for _, s := range e.catalog(p.tp).Segments {
				outBytes += s.Size
			}
			if got := testutil.ToFloat64(w.m.keyBytes); got != float64(inBytes-outBytes) || outBytes >= inBytes/2 {
				t.Fatalf("removed bytes metric %v, catalog %d → %d bytes", got, inBytes, outBytes)
			}
			if got := testutil.ToFloat64(w.m.keyRecords); got != float64(res.Removed) || res.Removed != int64(len(recs)-len(compacted(recs, 0, true))) {
				t.Fatalf("removed records: metric %v, result %d", got, res.Removed)
			}
			if got := testutil.ToFloat64(w.m.keyDirtyRatio.WithLabelValues("keyed", "0")); got != 1 {
				t.Fatalf("dirty ratio before the pass %v, want 1", got)
			}

			// Nothing dirty, tombstones not old enough: the next pass does nothing and says the
			// partition is clean.
			if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 0 {
				t.Fatalf("second pass: %+v, %v", res, err)
			}
			if got := testutil.ToFloat64(w.m.keyDirtyRatio.WithLabelValues("keyed", "0")); got != 0 {
				t.Fatalf("dirty ratio after cleaning %v", got)
			}

			// delete.retention.ms after the first cleaning, the tombstones go.
			clk.advance(time.Hour + time.Second)
			res, err = w.RunOnce(ctx)
			if err != nil || res.Cleaned != 1 {
				t.Fatalf("tombstone pass: %+v, %v", res, err)
			}
			e.checkContiguous(p, end)
			checkRecs(t, "after delete.retention.ms", e.readRecords(p, 0), compacted(recs, 0, false))
			if got := testutil.ToFloat64(w.m.keyTombstones); got != 43 { // keys 0, 7, ..., 294
				t.Fatalf("tombstones removed %v, want 43", got)
			}
			if got := testutil.ToFloat64(w.m.keyCleanings.WithLabelValues(reasonTombstones)); got != 1 {
				t.Fatalf("tombstone cleanings %v", got)
			}
			// Offsets are kept: the next offset to produce is where it was, and every object is a
			// valid segment.
			for _, s := range e.catalog(p.tp).Segments {
				body := objstoretest.Get(t, e.bucket, s.Key)
				r, err := segment.OpenReader(bytesReader(body), int64(len(body)))
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Verify(); err != nil {
					t.Fatalf("%s: %v", s.Key, err)
				}
			}
		})
	}
}

// TestKeyCompactionNewData compacts, appends more updates, and compacts again: only the latest
// values survive across the old clean part and the new dirty one; the dirty ratio decides.
func TestKeyCompactionNewData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newKeyClock()
	p := e.compactedTopic("more", map[string]string{ConfigMinCleanableDirtyRatio: "0.3"})
	ts := clk.now().Add(-time.Hour).UnixMilli()
	recs := stream(100, 4, func(int) bool { return false })
	e.addKeyed(p, recs, 40, 2, ts, 0)
	w := e.keyWorker(clk, nil)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 1 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	// A few updates: the dirty ratio stays below 0.3, nothing happens.
	var more []kv
	for k := range 10 {
		more = append(more, kv{[]byte(fmt.Sprintf("key-%05d", k)), []byte("newer")})
	}
	e.addKeyed(p, more, 40, 2, ts, 0)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 0 {
		t.Fatalf("pass below the ratio: %+v, %v", res, err)
	}
	// Many: it cleans.
	more = nil
	for k := range 100 {
		more = append(more, kv{[]byte(fmt.Sprintf("key-%05d", k)), []byte(fmt.Sprintf("newest-%d", k))})
	}
	end := e.addKeyed(p, more, 40, 2, ts, 0)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 1 {
		t.Fatalf("pass above the ratio: %+v, %v", res, err)
	}
	e.checkContiguous(p, end)
	var all []kv
	all = append(all, recs...)
	for k := range 10 {
		all = append(all, kv{[]byte(fmt.Sprintf("key-%05d", k)), []byte("newer")})
	}
	all = append(all, more...)
	checkRecs(t, "after the second cleaning", e.readRecords(p, 0), compacted(all, 0, true))
	// No tombstone was ever written: delete.retention.ms passing calls for no pass.
	clk.advance(25 * time.Hour)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 0 {
		t.Fatalf("pass a day later: %+v, %v", res, err)
	}
}

// TestKeyCompactionMinLag leaves segments with records younger than min.compaction.lag.ms alone,
// and max.compaction.lag.ms forces a cleaning below the dirty ratio.
func TestKeyCompactionLags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newKeyClock()
	p := e.compactedTopic("lags", map[string]string{ConfigMinCompactionLagMs: "600000",
		ConfigMinCleanableDirtyRatio: "1", ConfigMaxCompactionLagMs: "1200000"})
	recs := stream(50, 3, func(int) bool { return false })
	end := e.addKeyed(p, recs, 25, 2, clk.now().Add(-time.Minute).UnixMilli(), 0)
	w := e.keyWorker(clk, nil)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 0 {
		t.Fatalf("pass inside min.compaction.lag.ms: %+v, %v", res, err)
	}
	clk.advance(15 * time.Minute) // past the min lag, not the max; ratio 1 is reached only by a wholly dirty log
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 1 {
		t.Fatalf("pass after min.compaction.lag.ms: %+v, %v", res, err)
	}
	more := stream(50, 1, func(int) bool { return false })[:50]
	e.addKeyed(p, more, 25, 2, clk.now().Add(-time.Minute).UnixMilli(), 0)
	clk.advance(11 * time.Minute)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 0 {
		t.Fatalf("dirty, below the ratio and the max lag: %+v, %v", res, err)
	}
	clk.advance(10 * time.Minute) // the dirty records are now 21 minutes old: past max.compaction.lag.ms
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 1 {
		t.Fatalf("past max.compaction.lag.ms: %+v, %v", res, err)
	}
	if got := testutil.ToFloat64(w.m.keyCleanings.WithLabelValues(reasonMaxLag)); got != 1 {
		t.Fatalf("max lag cleanings %v", got)
	}
	all := append(append([]kv(nil), recs...), more...)
	checkRecs(t, "after both cleanings", e.readRecords(p, 0), compacted(all, 0, true))
	_ = end
}

// TestKeyCompactionInterrupted stops a pass between the PUT of a rewritten object and its swap
// (the swap refused to run, or run with its answer lost), then runs again: nothing is lost, nothing
// duplicated, and the object left by the first attempt is replaced or kept, never orphaned in the
// catalog.
func TestKeyCompactionInterrupted(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		swapped bool
	}{{"before the swap", false}, {"swap done, answer lost", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			ctx := context.Background()
			clk := newKeyClock()
			p := e.compactedTopic("cut-"+slug(tc.name), nil)
			recs := stream(200, 4, func(k int) bool { return k%5 == 0 })
			end := e.addKeyed(p, recs, 40, 3, clk.now().Add(-time.Hour).UnixMilli(), 0)
			want := compacted(recs, 0, true)

			pass, cancel := context.WithCancel(ctx)
			var calls atomic.Int32
			w := e.keyWorker(clk, func(c *Config) {
				c.Store = &swapStore{Store: e.store, replace: func(_ context.Context, real func() error) error {
					calls.Add(1)
					cancel() // the node dies here
					if tc.swapped {
						if err := real(); err != nil {
							return err
						}
					}
					return context.Canceled
				}}
			})
			if _, err := w.RunOnce(pass); err == nil {
				t.Fatal("interrupted pass: no error")
			}
			if calls.Load() != 1 {
				t.Fatalf("%d swaps tried", calls.Load())
			}
			w.Close()
			// Whatever the catalog holds now reads as a valid log: the original or the
			// rewritten first group, and the rest as it was.
			got := e.readRecords(p, 0)
			if !tc.swapped {
				if len(got) != len(recs) {
					t.Fatalf("after the cut, %d records, want %d", len(got), len(recs))
				}
			}
			e.checkContiguous(p, end)

			// A new worker (a restarted node) finishes the job.
			w2 := e.keyWorker(clk, nil)
			res, err := w2.RunOnce(ctx)
			if err != nil || res.Cleaned != 1 {
				t.Fatalf("pass after the cut: %+v, %v", res, err)
			}
			e.checkContiguous(p, end)
			checkRecs(t, "after the second pass", e.readRecords(p, 0), want)
			// Every rewritten object in the bucket is in the catalog but those whose inputs' delete
			// is pending (none were replaced twice here) — no object named twice.
			c := e.catalog(p.tp)
			seen := map[string]bool{}
			for _, s := range c.Segments {
				if seen[s.Key] || !e.exists(s.Key) {
					t.Fatalf("catalog segment %s twice or missing", s.Key)
				}
				seen[s.Key] = true
			}
		})
	}
}

// TestKeyCompactionBounded gives the key map room for 57 keys and a dirty range of 400: each pass
// cleans the prefix whose keys fit, and the passes together leave exactly the latest values.
func TestKeyCompactionBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newKeyClock()
	p := e.compactedTopic("bounded", map[string]string{ConfigMinCleanableDirtyRatio: "0.01"})
	recs := stream(400, 3, func(k int) bool { return k%9 == 0 })
	end := e.addKeyed(p, recs, 20, 2, clk.now().Add(-time.Hour).UnixMilli(), 0)
	w := e.keyWorker(clk, func(c *Config) { c.KeyMapBytes = 64 * keySlotBytes })
	if w.keys.m != nil {
		t.Fatal("key map allocated before a cleaning")
	}
	passes := 0
	var prevCleaned int64
	for ; passes < 100; passes++ {
		res, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Cleaned == 0 {
			break
		}
		st, err := w.loadState(ctx, p.id, p.tp)
		if err != nil {
			t.Fatal(err)
		}
		if st.CleanedTo <= prevCleaned || st.CleanedTo > end {
			t.Fatalf("pass %d cleaned to %d after %d", passes, st.CleanedTo, prevCleaned)
		}
		if st.CleanedTo-prevCleaned > 57+57/10+1 { // 57 keys and the keyless records among them
			t.Fatalf("pass %d cleaned [%d, %d): more records than the map holds keys", passes, prevCleaned, st.CleanedTo)
		}
		prevCleaned = st.CleanedTo
		e.checkContiguous(p, end)
	}
	if w.keys.m.capacity() != 57 || int64(passes) < end/60 || prevCleaned != end {
		t.Fatalf("%d passes, map of %d keys, cleaned to %d of %d", passes, w.keys.m.capacity(), prevCleaned, end)
	}
	checkRecs(t, "after the bounded passes", e.readRecords(p, 0), compacted(recs, 0, true))
}

// TestKeyCompactionConcurrentReads reads the partition again and again while passes rewrite it:
// every read sees offsets only grow, and each record it sees is one that was written at that offset.
func TestKeyCompactionConcurrentReads(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newKeyClock()
	p := e.compactedTopic("busy", map[string]string{ConfigMinCleanableDirtyRatio: "0.01"})
	recs := stream(300, 4, func(k int) bool { return k%4 == 0 })
	end := e.addKeyed(p, recs, 30, 2, clk.now().Add(-time.Hour).UnixMilli(), 0)
	r, err := tier.NewReader(tier.ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int32
	var readErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := readAll(r, p, 0, end)
			if err == nil {
				for _, g := range got {
					w := recs[g.offset]
					if g.key != string(w.key) || g.value != string(w.value) {
						err = fmt.Errorf("offset %d reads %+v, was written as %q=%q", g.offset, g, w.key, w.value)
						break
					}
				}
			}
			if err != nil {
				readErr.Store(err)
				return
			}
			reads.Add(1)
		}
	}()
	w := e.keyWorker(clk, func(c *Config) { c.KeyMapBytes = 150 * keySlotBytes }) // several passes
	for range 20 {
		if res, err := w.RunOnce(ctx); err != nil {
			t.Fatal(err)
		} else if res.Cleaned == 0 {
			break
		}
	}
	for reads.Load() < 3 && readErr.Load() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if err := readErr.Load(); err != nil {
		t.Fatal(err)
	}
	checkRecs(t, "after the passes", e.readRecords(p, 0), compacted(recs, 0, true))
}

// TestKeyCompactionOtherTopics leaves topics without compact alone and keeps merging them.
func TestKeyCompactionOtherTopics(t *testing.T) {
	e := newEnv(t)
	p := e.topic("plain")
	e.addSegments(p, 8, 4, 4, 1000)
	w := e.worker(func(c *Config) { c.Policy = sixPerMerge })
	res, err := w.RunOnce(context.Background())
	if err != nil || res.Cleaned != 0 || res.Merges != 1 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	if e.exists(stateKey(prefix, p.id, 0)) {
		t.Fatal("state written for a topic that is not compacted")
	}
	e.readBack(p, p.batches, 0, p.end)
}

// TestKeyCompactionKeepsEpochStarts: the first batch of each leader epoch stays, empty if its
// records all went, so that OffsetForLeaderEpoch, which reads epochs from the batches, still finds
// where each epoch began.
func TestKeyCompactionKeepsEpochStarts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clk := newKeyClock()
	p := e.compactedTopic("epochs", nil)
	recs := stream(20, 10, func(int) bool { return false })       // 20 keys, 10 rounds: the early batches all go
	epochOf := func(base int64) int32 { return int32(base / 45) } // a new epoch every 45 offsets (a batch of 20 straddles)
	starts := map[int32]int64{}
	end := e.addKeyed(p, recs, 20, 3, clk.now().Add(-time.Hour).UnixMilli(), 0, func(base int64, b []byte) {
		ep := epochOf(base)
		segment.SetPartitionLeaderEpoch(b, ep)
		if _, ok := starts[ep]; !ok {
			starts[ep] = base
		}
	})
	w := e.keyWorker(clk, nil)
	if res, err := w.RunOnce(ctx); err != nil || res.Cleaned != 1 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	checkRecs(t, "after the pass", e.readRecords(p, 0), compacted(recs, 0, true))
	got := map[int32]int64{}
	empty := 0
	for _, s := range e.catalog(p.tp).Segments {
		body := objstoretest.Get(t, e.bucket, s.Key)
		r, err := segment.OpenReader(bytesReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		sp := segment.NewSplitter(body[:r.Index().DataSize])
		for sp.Next() {
			info := sp.Info()
			if _, ok := got[info.PartitionLeaderEpoch]; !ok {
				got[info.PartitionLeaderEpoch] = info.BaseOffset
			}
			if info.NumRecords == 0 {
				empty++
			}
		}
		if sp.Err() != nil {
			t.Fatal(sp.Err())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(starts) || empty == 0 {
		t.Fatalf("epoch starts %v, want %v (%d empty batches)", got, starts, empty)
	}
	_ = end
}
