package compaction

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// clock is a settable clock for the Worker.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// segmentBytes is a sealed segment of one batch of n records at base.
func segmentBytes(t testing.TB, base int64, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, base, 0)
	if _, err := w.Append(segmenttest.Records(base, time.Now().UnixMilli(), n, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// modified is the object's LastModified as the sweeper sees it: from a listing, which carries
// milliseconds (a HEAD's Last-Modified header has whole seconds).
func (e *env) modified(key string) time.Time {
	e.t.Helper()
	var m time.Time
	err := e.bucket.List(context.Background(), key, func(a objstore.Attrs) error {
		if a.Key == key {
			m = a.Modified
		}
		return nil
	})
	if err != nil || m.IsZero() {
		e.t.Fatalf("modified %s: %v, %v", key, m, err)
	}
	return m
}

func (e *env) sweep(w *Worker) SweepResult {
	e.t.Helper()
	res, err := w.Sweep(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func TestSweepPartition(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topic("sweep")
	old := p.lease
	e.addSegments(p, 4, 4, 4, 1000)

	// The old leader cuts the next segment and puts it, but a new leader (this node again, at a new
	// epoch) takes the partition before the registration: the upload is fenced for good.
	fenced := tier.ObjectKey(prefix, p.id, 0, p.end, old.Epoch)
	objstoretest.Put(t, e.bucket, fenced, segmentBytes(t, p.end, 10))
	if err := e.store.ReleaseLease(ctx, old); err != nil {
		t.Fatal(err)
	}
	l, err := e.store.AcquireLease(ctx, p.tp, 1)
	if err != nil || l.Epoch <= old.Epoch {
		t.Fatalf("new lease %+v, %v", l, err)
	}
	p.lease = l
	e.addSegments(p, 4, 4, 4, 1000)
	// Another fenced upload, far above the tiered end.
	fencedAbove := tier.ObjectKey(prefix, p.id, 0, p.end+1000, old.Epoch)
	objstoretest.Put(t, e.bucket, fencedAbove, segmentBytes(t, p.end+1000, 10))

	// A merge pass replaces the segments of each epoch with one merged object; the Worker that
	// made it stops before its delayed deletes, so the inputs stay in the bucket.
	merger := e.worker(func(c *Config) { c.Policy = sixPerMerge })
	mres, err := merger.RunOnce(ctx)
	if err != nil || mres.Merges != 2 || mres.Inputs != 8 {
		t.Fatalf("merge pass: %+v, %v", mres, err)
	}
	merger.Close()
	c := e.catalog(p.tp)
	var replaced []string
	for _, k := range e.keys(p.id) {
		if k != fenced && k != fencedAbove && !slices.ContainsFunc(c.Segments, func(s metadata.SegmentRef) bool { return s.Key == k }) {
			replaced = append(replaced, k)
		}
	}
	superseded := 1 // the unswapped merge below, and the new epoch's replaced inputs
	for _, k := range replaced {
		if pk, err := tier.ParseObjectKey(k); err == nil && pk.Epoch == l.Epoch {
			superseded++
		}
	}
	if len(replaced) != mres.Inputs || superseded != 5 || len(c.Segments) != 2 {
		t.Fatalf("replaced inputs %v: want %d, 4 of each epoch; catalog %v", replaced, mres.Inputs, catalogKeys(c.Segments))
	}
	// A merge of the last two segments whose swap had no answer: left in the bucket.
	n := len(c.Segments)
	unswapped := tier.MergedObjectKey(prefix, p.id, 0, c.Segments[n-2].BaseOffset, c.Segments[n-1].NextOffset, l.Epoch)
	objstoretest.Put(t, e.bucket, unswapped, segmentBytes(t, c.Segments[n-2].BaseOffset, 10))
	// An upload of the current epoch at the tiered end, waiting to register: never deleted.
	pending := tier.ObjectKey(prefix, p.id, 0, p.end, l.Epoch)
	objstoretest.Put(t, e.bucket, pending, segmentBytes(t, p.end, 10))
	// Files that are not segment objects.
	dir := prefix + "/topics/" + p.id.String() + "/0/"
	foreign := []string{dir + "notes.txt", dir + "00000000000000000000-1.seg.tmp"}
	for _, k := range foreign {
		objstoretest.Put(t, e.bucket, k, []byte("not a segment"))
	}
	// A partition another node leads, with an object that would be an orphan here.
	theirs := e.topic("theirs")
	if err := e.store.ReleaseLease(ctx, theirs.lease); err != nil {
		t.Fatal(err)
	}
	if theirs.lease, err = e.store.AcquireLease(ctx, theirs.tp, 2); err != nil {
		t.Fatal(err)
	}
	e.addSegments(theirs, 1, 1, 1, 100)
	theirOrphan := tier.MergedObjectKey(prefix, theirs.id, 0, 0, theirs.end, theirs.lease.Epoch)
	objstoretest.Put(t, e.bucket, theirOrphan, segmentBytes(t, 0, 1))

	// A fenced upload put after everything else: still inside the grace when the sweeps begin.
	oldest := e.modified(theirOrphan)
	var fresh string
	var freshAt time.Time
	for i := int64(0); ; i++ {
		fresh = tier.ObjectKey(prefix, p.id, 0, p.end+2000+i, old.Epoch)
		objstoretest.Put(t, e.bucket, fresh, segmentBytes(t, p.end+2000+i, 1))
		if freshAt = e.modified(fresh); freshAt.After(oldest) {
			break
		}
		if err := e.bucket.Delete(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	grace := freshAt.Sub(oldest)

	catBefore := e.catalog(p.tp)
	theirsBefore := e.keys(theirs.id)
	clk := &clock{now: freshAt}
	w := e.worker(func(c *Config) { c.Now = clk.Now; c.SweepGrace = grace; c.NoMerges = true; c.SweepInterval = -1 })

	orphans := append([]string{fenced, fencedAbove, unswapped}, replaced...)
	// First sighting: everything judged an orphan stays until a sweep at least a grace later.
	res := e.sweep(w)
	if want := (SweepResult{Partitions: 1, Objects: len(catBefore.Segments) + len(orphans) + 2, Foreign: 2,
		Orphans: len(orphans)}); res != want {
		t.Fatalf("first sweep %+v, want %+v", res, want)
	}
	for _, k := range append(orphans, fresh) {
		if !e.exists(k) {
			t.Fatalf("%s deleted on its first sighting", k)
		}
	}

	// A grace later: the orphans go; the fresh upload is now old enough and seen for the first time.
	clk.set(freshAt.Add(grace))
	res = e.sweep(w)
	var bytes int64
	for _, k := range orphans {
		if e.exists(k) {
			t.Fatalf("orphan %s kept", k)
		}
	}
	// Sizes come from the listing: re-derive them for the metric check from the first sweep's view.
	if res.Deleted != len(orphans) || res.Orphans != len(orphans)+1 || res.Foreign != 2 {
		t.Fatalf("second sweep %+v", res)
	}
	bytes = res.Bytes
	want := append(catalogKeys(catBefore.Segments), pending, fresh)
	want = append(want, foreign...)
	slices.Sort(want)
	if got := e.keys(p.id); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v\nwant %v", got, want)
	}
	if got := e.keys(theirs.id); !slices.Equal(got, theirsBefore) || !slices.Contains(got, theirOrphan) {
		t.Fatalf("another node's partition: %v, was %v", got, theirsBefore)
	}
	if got := e.catalog(p.tp); !reflect.DeepEqual(got, catBefore) {
		t.Fatalf("catalog changed:\n%+v\nwas %+v", got, catBefore)
	}
	e.checkCatalog(p.tp, p.end)
	e.readBack(p, p.batches, 0, p.end)

	if got := testutil.ToFloat64(w.m.sweepDeleted.WithLabelValues("superseded")); got != float64(superseded) {
		t.Fatalf("superseded deletes %v, want %d", got, superseded)
	}
	if got := testutil.ToFloat64(w.m.sweepDeleted.WithLabelValues("fenced")); got != float64(len(orphans)-superseded) {
		t.Fatalf("fenced deletes %v, want %d", got, len(orphans)-superseded)
	}
	if got := testutil.ToFloat64(w.m.sweepBytes); got != float64(bytes) || bytes <= 0 {
		t.Fatalf("swept bytes %v, result %d", got, bytes)
	}

	// Another grace later the fresh fenced upload goes too; the pending upload never does.
	clk.set(freshAt.Add(10 * grace))
	if res := e.sweep(w); res.Deleted != 1 || e.exists(fresh) {
		t.Fatalf("third sweep %+v; fresh upload exists: %v", res, e.exists(fresh))
	}
	clk.set(freshAt.Add(100 * grace))
	if res := e.sweep(w); res.Deleted != 0 || res.Orphans != 0 || !e.exists(pending) {
		t.Fatalf("fourth sweep %+v; pending upload exists: %v", res, e.exists(pending))
	}
	if got := testutil.ToFloat64(w.m.errors.WithLabelValues("sweep")); got != 0 {
		t.Fatalf("sweep errors %v", got)
	}
}

func TestSweepDeletedTopic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	doomed := e.topic("doomed")
	e.addSegments(doomed, 3, 1, 4, 100)
	objstoretest.Put(t, e.bucket, tier.ObjectKey(prefix, doomed.id, 0, doomed.end, doomed.lease.Epoch), segmentBytes(t, doomed.end, 1))
	alive := e.topic("alive")
	e.addSegments(alive, 3, 1, 4, 100)
	aliveKeys := e.keys(alive.id)
	if err := e.store.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	doomedKeys := e.keys(doomed.id)

	const grace = time.Hour
	start := time.Now().Add(2 * grace) // every object is older than the grace
	clk := &clock{now: start}
	w := e.worker(func(c *Config) { c.Now = clk.Now; c.SweepGrace = grace; c.NoMerges = true; c.SweepInterval = -1 })

	// A live node with a lower ID runs the pass, not this one.
	if err := e.store.RegisterNode(ctx, metadata.Node{ID: 0, KafkaAddr: "127.0.0.1:1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		clk.set(start.Add(time.Duration(i) * grace))
		if res := e.sweep(w); res.GoneTopics != 0 || res.Deleted != 0 {
			t.Fatalf("sweep with a lower node live: %+v", res)
		}
	}
	if err := e.store.DeregisterNode(ctx, 0); err != nil {
		t.Fatal(err)
	}

	// First time the topic is seen gone: nothing is deleted yet.
	clk.set(start.Add(10 * grace))
	res := e.sweep(w)
	if res.GoneTopics != 1 || res.Orphans != len(doomedKeys) || res.Deleted != 0 {
		t.Fatalf("first sighting %+v", res)
	}
	// Less than a grace later: still nothing.
	clk.set(start.Add(10*grace + grace/2))
	if res := e.sweep(w); res.GoneTopics != 1 || res.Deleted != 0 {
		t.Fatalf("inside the grace %+v", res)
	}
	clk.set(start.Add(11 * grace))
	res = e.sweep(w)
	if res.GoneTopics != 1 || res.Deleted != len(doomedKeys) {
		t.Fatalf("second sighting %+v (doomed objects %v)", res, doomedKeys)
	}
	if got := e.keys(doomed.id); len(got) != 0 {
		t.Fatalf("deleted topic's objects left: %v", got)
	}
	if got := e.keys(alive.id); !slices.Equal(got, aliveKeys) {
		t.Fatalf("live topic's objects %v, were %v", got, aliveKeys)
	}
	e.readBack(alive, alive.batches, 0, alive.end)
	if got := testutil.ToFloat64(w.m.sweepDeleted.WithLabelValues("topic_deleted")); got != float64(len(doomedKeys)) {
		t.Fatalf("topic_deleted %v", got)
	}
	// Nothing of it is remembered once its objects are gone.
	if res := e.sweep(w); res.GoneTopics != 0 || len(w.sweep.goneSince) != 0 {
		t.Fatalf("after: %+v, remembered %v", res, w.sweep.goneSince)
	}
}

// TestSweepRecreatedTopic checks that a topic deleted and created again under its name keeps its
// new objects while the old ID's go.
func TestSweepRecreatedTopic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.topic("again")
	e.addSegments(first, 2, 1, 4, 100)
	oldKeys := e.keys(first.id)
	if err := e.store.DeleteTopic(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	second := e.topic("again")
	e.addSegments(second, 2, 1, 4, 100)
	newKeys := e.keys(second.id)

	clk := &clock{now: time.Now().Add(2 * time.Hour)}
	w := e.worker(func(c *Config) { c.Now = clk.Now; c.NoMerges = true; c.SweepInterval = -1 })
	e.sweep(w)
	clk.set(clk.Now().Add(DefaultSweepGrace))
	res := e.sweep(w)
	if res.Deleted != len(oldKeys) || len(e.keys(first.id)) != 0 {
		t.Fatalf("sweep %+v; old keys left %v", res, e.keys(first.id))
	}
	if got := e.keys(second.id); !slices.Equal(got, newKeys) {
		t.Fatalf("new topic's objects %v, were %v", got, newKeys)
	}
	e.readBack(second, second.batches, 0, second.end)
}

// TestSweepLoop checks that the Worker sweeps on its own every SweepInterval, with merges off.
func TestSweepLoop(t *testing.T) {
	e := newEnv(t)
	p := e.topic("loop")
	e.addSegments(p, 2, 1, 4, 100)
	orphan := tier.MergedObjectKey(prefix, p.id, 0, 0, p.end, p.lease.Epoch)
	objstoretest.Put(t, e.bucket, orphan, segmentBytes(t, 0, 1))
	e.worker(func(c *Config) {
		c.NoMerges = true
		c.SweepInterval = 5 * time.Millisecond
		c.SweepGrace = time.Millisecond
		c.Now = func() time.Time { return time.Now().Add(time.Hour) }
	})
	eventually(t, "the loop sweeps the orphan", func() bool { return !e.exists(orphan) })
	e.checkCatalog(p.tp, p.end)
}

// TestSweepFaults: a failed listing, footer read or delete keeps the object and counts an error;
// the next sweep finishes the job.
func TestSweepFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topic("faults")
	e.addSegments(p, 4, 4, 4, 1000)
	inputs := catalogKeys(e.catalog(p.tp).Segments)
	merger := e.worker(func(c *Config) { c.Policy = sixPerMerge })
	if res, err := merger.RunOnce(ctx); err != nil || res.Merges != 1 {
		t.Fatalf("merge pass: %+v, %v", res, err)
	}
	merger.Close()

	fb := objstoretest.NewFaultBucket(e.bucket)
	clk := &clock{now: time.Now().Add(2 * time.Hour)}
	w := e.worker(func(c *Config) {
		c.Bucket = fb
		c.Now = clk.Now
		c.NoMerges = true
		c.SweepInterval = -1
		c.Registerer = nil // its own counters
	})
	errs := func() float64 { return testutil.ToFloat64(w.m.errors.WithLabelValues("sweep")) }
	boom := errors.New("injected")

	// The listing fails: the partition is skipped, the sweep goes on.
	fb.FailNext(1, boom, objstoretest.OpList)
	if res := e.sweep(w); res.Orphans != 0 || errs() != 1 {
		t.Fatalf("failed listing: %+v, errors %v", res, errs())
	}
	// A footer read fails: that input is kept without a verdict, the others are seen.
	fb.FailNext(1, boom, objstoretest.OpGetRange)
	if res := e.sweep(w); res.Orphans != len(inputs)-1 {
		t.Fatalf("failed footer read: %+v", res)
	}
	readAll := fb.Calls(objstoretest.OpGetRange)
	// A grace later, one delete fails; the object stays and is counted. Only the footer not read
	// yet is read (objects are immutable: a known end is remembered).
	clk.set(clk.Now().Add(DefaultSweepGrace))
	fb.FailNext(1, boom, objstoretest.OpDelete)
	res := e.sweep(w)
	if res.Deleted != len(inputs)-2 || errs() != 2 {
		t.Fatalf("failed delete: %+v, errors %v", res, errs())
	}
	if readOne := fb.Calls(objstoretest.OpGetRange) - readAll; readOne <= 0 || readOne*(len(inputs)-1) > readAll {
		t.Fatalf("ranged GETs: %d for one footer, %d for %d footers and a failure", readOne, readAll, len(inputs)-1)
	}
	// The next sweeps delete the rest: the one whose delete failed at once (it was judged an
	// orphan a grace ago), the one whose footer read failed a grace after its first verdict.
	if res := e.sweep(w); res.Deleted != 1 {
		t.Fatalf("retry: %+v", res)
	}
	clk.set(clk.Now().Add(DefaultSweepGrace))
	if res := e.sweep(w); res.Deleted != 1 {
		t.Fatalf("last: %+v", res)
	}
	for _, k := range inputs {
		if e.exists(k) {
			t.Fatalf("input %s left", k)
		}
	}
	e.checkCatalog(p.tp, p.end)
	e.readBack(p, p.batches, 0, p.end)
}
