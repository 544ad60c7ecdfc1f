package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
)

// sharedParts creates a topic of n partitions led by node 1, one hot log each, and tracks them all
// in object durability on u.
func sharedParts(t *testing.T, e *env, u *Uploader, name string, n int) (metadata.TopicID, []*hotlog.Log) {
	t.Helper()
	ctx := context.Background()
	top, err := e.store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: int32(n)})
	if err != nil {
		t.Fatal(err)
	}
	pol := DefaultPolicy()
	pol.Durability = DurabilityObject
	logs := make([]*hotlog.Log, n)
	for i := range n {
		tp := metadata.TopicPartition{Topic: name, Partition: int32(i)}
		l, err := e.dir.Log(fmt.Sprintf("%s-%d", top.ID, i))
		if err != nil {
			t.Fatal(err)
		}
		logs[i] = l
		if err := u.Track(plogOf(t, e.store, tp, top.ID, l), e.lead(tp, 1), pol); err != nil {
			t.Fatal(err)
		}
	}
	return top.ID, logs
}

// countedBucket is e's MinIO bucket behind the objstore metrics, and the PUT counter.
func countedBucket(t *testing.T, e *env) (objstore.Bucket, func() float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	b, err := objstore.WithMetrics(e.bucket, reg)
	if err != nil {
		t.Fatal(err)
	}
	return b, func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "strata_objstore_operations_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" && l.GetValue() == "put" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
}

// Many object-durability partitions produced to together are flushed as one object per flush, each
// partition's data a range of it; every acked record reads back, from a fresh reader too, after
// the hot logs are gone.
func TestSharedFlushOnePutPerFlush(t *testing.T) {
	const parts, rounds = 32, 3
	e := newEnv(t)
	bucket, puts := countedBucket(t, e)
	u := e.uploader(func(c *Config) { c.Bucket, c.NodeID = bucket, 7 })
	id, logs := sharedParts(t, e, u, "many", parts)

	want := make([][][]byte, parts)
	for round := range rounds {
		before := puts()
		var wg sync.WaitGroup
		for i, l := range logs {
			want[i] = append(want[i], produce(t, l, 3, 2, 50, int64(round))...)
			wg.Add(1)
			go func() { // the producer's ack: WaitTiered
				defer wg.Done()
				waitTiered(t, u, metadata.TopicPartition{Topic: "many", Partition: int32(i)}, l.EndOffset())
			}()
		}
		wg.Wait()
		// One flush holds all 32 partitions; a partition whose goroutine was slow to hand its
		// data in goes into a later one (on a loaded machine, under -race, a few), never one PUT
		// per partition.
		if n := puts() - before; n < 1 || n > 4 {
			t.Fatalf("round %d: %v PUTs for %d partitions, want 1 (4 at most)", round, n, parts)
		}
	}
	objects := testutil.ToFloat64(u.m.sharedObjects)
	if objects != puts() {
		t.Fatalf("%v shared objects, %v PUTs: every PUT is a flush's object", objects, puts())
	}
	if n := testutil.CollectAndCount(e.reg, "strata_tier_shared_object_ranges"); n != 1 {
		t.Fatalf("ranges histogram: %d series", n)
	}

	// Every catalog names ranges of shared objects of node 7; the objects hold several partitions.
	ctx := context.Background()
	perObject := map[string]int{}
	for i := range parts {
		c, err := e.store.GetCatalog(ctx, metadata.TopicPartition{Topic: "many", Partition: int32(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.Segments {
			k, err := ParseObjectKey(s.Key)
			if err != nil || !k.Shared || k.Node != 7 || k.Prefix != "cluster" {
				t.Fatalf("partition %d: segment %+v is not a range of a shared object of node 7 (%v)", i, s, err)
			}
			perObject[s.Key]++
		}
	}
	if len(perObject) != int(objects) {
		t.Fatalf("catalogs name %d shared objects, %v were written", len(perObject), objects)
	}
	most := 0
	for _, n := range perObject {
		most = max(most, n)
	}
	if most < parts/2 {
		t.Fatalf("no object holds more than %d of %d partitions' ranges", most, parts)
	}

	// The flushes took each partition's batches from its active segment (hotlog Take) instead of
	// sealing a segment file per partition per flush.
	for i, l := range logs {
		segs := l.Segments()
		if act := segs[len(segs)-1]; len(segs) != 1 || act.BaseOffset != 0 || act.TakenNext != l.EndOffset() {
			t.Fatalf("partition %d: hot segments %+v after the flushes; want the first one still active, taken up to %d", i, segs, l.EndOffset())
		}
	}

	// Cold: the hot logs are gone and a fresh reader has nothing cached.
	for i := range logs {
		if err := e.dir.Remove(fmt.Sprintf("%s-%d", id, i)); err != nil {
			t.Fatal(err)
		}
	}
	r := e.reader(func(c *ReaderConfig) { c.BlockSize = 4 << 10 })
	for i := range parts {
		tp := metadata.TopicPartition{Topic: "many", Partition: int32(i)}
		all := want[i]
		// A big read takes several ranges at once; small ones (a few partitions: MinIO on a busy
		// machine is slow) cross from range to range.
		sameBatches(t, readAll(t, r, tp, id, 0, int64(len(all)*2), 1<<20), all)
		if i%8 == 3 {
			sameBatches(t, readAll(t, r, tp, id, 0, int64(len(all)*2), 1), all)
		}
	}
}

// failingCatalog refuses RegisterSegment while fail is set, as a node that crashed between a
// flush's PUT and the registrations never made them.
type failingCatalog struct {
	metadata.Catalog
	fail    atomic.Bool
	refused atomic.Int64
}

func (f *failingCatalog) RegisterSegment(ctx context.Context, tp metadata.TopicPartition, epoch int32, seg metadata.SegmentRef) error {
	if f.fail.Load() {
		f.refused.Add(1)
		return errors.New("injected: registration lost")
	}
	return f.Catalog.RegisterSegment(ctx, tp, epoch, seg)
}

// A flush whose registrations fail acks nothing; the data goes again into a later flush once
// registration works, every acked record is readable, and the first object is left named by no
// catalog (for the sweeper).
func TestSharedRegistrationFailureLosesNothing(t *testing.T) {
	const parts = 8
	e := newEnv(t)
	fc := &failingCatalog{Catalog: e.store}
	fc.fail.Store(true)
	u := e.uploader(func(c *Config) { c.Store = fc })
	id, logs := sharedParts(t, e, u, "crash", parts)
	want := make([][][]byte, parts)
	for i, l := range logs {
		want[i] = produce(t, l, 2, 1, 20, 0)
	}
	eventually(t, "every partition's registration refused", func() bool { return fc.refused.Load() >= parts })
	for i := range parts {
		if end := u.TieredEnd(metadata.TopicPartition{Topic: "crash", Partition: int32(i)}); end != 0 {
			t.Fatalf("partition %d tiered to %d with every registration refused", i, end)
		}
	}
	var orphans []string
	err := e.bucket.List(context.Background(), SharedDir("cluster"), func(a objstore.Attrs) error {
		orphans = append(orphans, a.Key)
		return nil
	})
	if err != nil || len(orphans) == 0 {
		t.Fatalf("no shared object was written before the registrations failed: %v", err)
	}

	fc.fail.Store(false)
	for i, l := range logs {
		waitTiered(t, u, metadata.TopicPartition{Topic: "crash", Partition: int32(i)}, l.EndOffset())
	}
	r := e.reader(nil)
	named := map[string]bool{}
	for i := range parts {
		tp := metadata.TopicPartition{Topic: "crash", Partition: int32(i)}
		sameBatches(t, readAll(t, r, tp, id, 0, int64(len(want[i])), 1<<20), want[i])
		c, err := e.store.GetCatalog(context.Background(), tp)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range c.Segments {
			named[s.Key] = true
		}
	}
	if named[orphans[0]] {
		t.Fatalf("the object whose registrations failed, %s, is named by a catalog", orphans[0])
	}
	objstoretest.Get(t, e.bucket, orphans[0]) // still there, for the sweeper
}

// Dropping one partition's range (retention, DeleteRecords) never deletes the shared object.
func TestSharedRangeDropKeepsObject(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(func(c *Config) { c.DeleteGrace = time.Millisecond })
	_, logs := sharedParts(t, e, u, "drop", 2)
	for i, l := range logs {
		produce(t, l, 2, 1, 20, 0)
		waitTiered(t, u, metadata.TopicPartition{Topic: "drop", Partition: int32(i)}, l.EndOffset())
	}
	ctx := context.Background()
	tp0 := metadata.TopicPartition{Topic: "drop", Partition: 0}
	c, err := e.store.GetCatalog(ctx, tp0)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := e.store.SetLogStartOffset(ctx, tp0, c.Epoch, c.TieredEnd())
	if err != nil || len(dropped) == 0 {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
	u.ScheduleDelete(dropped)
	time.Sleep(100 * time.Millisecond) // past the grace: a whole object would be gone by now
	for _, s := range dropped {
		objstoretest.Get(t, e.bucket, s.Key)
	}
	if n := u.del.Pending(); n != 0 {
		t.Fatalf("%d deletes pending for ranges of shared objects", n)
	}
}

// A damaged range fails its own partition's reads with segment.ErrCorrupt naming the object, whole
// reads (checked on arrival) and small ones alike; the other ranges of the same object read intact.
func TestSharedRangeCorruption(t *testing.T) {
	const parts = 3
	e := newEnv(t)
	u := e.uploader(nil)
	id, logs := sharedParts(t, e, u, "bad", parts)
	want := make([][][]byte, parts)
	for i, l := range logs {
		want[i] = produce(t, l, 2, 2, 60, 0)
	}
	for i, l := range logs {
		waitTiered(t, u, metadata.TopicPartition{Topic: "bad", Partition: int32(i)}, l.EndOffset())
	}
	ctx := context.Background()
	refs := make([]metadata.SegmentRef, parts)
	for i := range parts {
		c, err := e.store.GetCatalog(ctx, metadata.TopicPartition{Topic: "bad", Partition: int32(i)})
		if err != nil || len(c.Segments) != 1 {
			t.Fatalf("partition %d: %+v %v", i, c.Segments, err)
		}
		refs[i] = c.Segments[0]
	}
	bad := refs[1]
	obj := objstoretest.Get(t, e.bucket, bad.Key)
	obj[bad.Position+100] ^= 0x40 // inside the range's first batch
	if err := e.bucket.Delete(ctx, bad.Key); err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, e.bucket, bad.Key, obj)

	for _, maxBytes := range []int{1, 1 << 20} {
		r := e.reader(nil)
		_, err := r.Read(ctx, metadata.TopicPartition{Topic: "bad", Partition: 1}, id, 0, maxBytes)
		if !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), bad.Key) {
			t.Fatalf("read of the damaged range (max %d): %v", maxBytes, err)
		}
		for _, i := range []int{0, 2} {
			if refs[i].Key != bad.Key {
				continue // flushed into another object
			}
			tp := metadata.TopicPartition{Topic: "bad", Partition: int32(i)}
			sameBatches(t, readAll(t, r, tp, id, 0, logs[i].EndOffset(), maxBytes), want[i])
		}
	}
}

// A flush image's catalog fields are what describeSegment reads back from the image, whether it
// comes from a sealed segment, the active one, or both.
func TestSharedImageDescribesItself(t *testing.T) {
	e := newEnv(t)
	l, err := e.dir.Log("image")
	if err != nil {
		t.Fatal(err)
	}
	produce(t, l, 3, 2, 50, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	produce(t, l, 4, 3, 50, -5000) // older timestamps: the smallest is in the active segment
	for _, from := range []int64{0, 2, 6} {
		image, ref, err := sharedImage(l, from, l.EndOffset(), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		r, err := segment.OpenReader(bytes.NewReader(image), int64(len(image)))
		if err != nil {
			t.Fatalf("from %d: the image does not open: %v", from, err)
		}
		want, err := describeSegment(r)
		if err != nil {
			t.Fatal(err)
		}
		if ref != want || ref.BaseOffset != from || ref.NextOffset != l.EndOffset() {
			t.Fatalf("from %d: sharedImage says %+v, the image reads back as %+v", from, ref, want)
		}
	}
}

// heldBucket holds the first shared object's PUT until release is closed, and then fails it when
// fail is set; every other PUT goes straight through.
type heldBucket struct {
	objstore.Bucket
	n       atomic.Int64
	held    chan string // the held PUT's key
	release chan struct{}
	fail    bool
}

func (b *heldBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...objstore.PutOption) error {
	if strings.HasPrefix(key, SharedDir("cluster")) && b.n.Add(1) == 1 {
		b.held <- key
		<-b.release
		if b.fail {
			return errors.New("injected: put failed")
		}
	}
	return b.Bucket.Put(ctx, key, r, size, opts...)
}

// shipBehindHeldPut produces to a one-partition object topic whose first flush PUT is held, then
// produces again. It returns the held key and the key of the second flush's object, written while
// the first range still waits, and what was produced.
func shipBehindHeldPut(t *testing.T, e *env, u *Uploader, b *heldBucket) (id metadata.TopicID, l *hotlog.Log, first, second string, split int64, want [][]byte) {
	t.Helper()
	id, logs := sharedParts(t, e, u, "held", 1)
	l = logs[0]
	want = produce(t, l, 2, 2, 40, 0)
	split = l.EndOffset()
	first = <-b.held
	want = append(want, produce(t, l, 3, 2, 40, 1)...)
	// The partition does not wait for its first range: its new batches go into the next flush.
	eventually(t, "a second flush object while the first PUT is held", func() bool {
		var keys []string
		if err := e.bucket.List(context.Background(), SharedDir("cluster"), func(a objstore.Attrs) error {
			keys = append(keys, a.Key)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(keys) == 1 {
			second = keys[0]
		}
		return second != ""
	})
	return id, l, first, second, split, want
}

// A partition hands in its next image while its previous range is still being PUT, and registers
// the two ranges in offset order however their PUTs end: the second object lands first, yet
// nothing is tiered until the first range registers.
func TestSharedShipsWhileRegistering(t *testing.T) {
	e := newEnv(t)
	b := &heldBucket{Bucket: e.bucket, held: make(chan string, 1), release: make(chan struct{})}
	u := e.uploader(func(c *Config) { c.Bucket = b })
	id, l, first, second, split, want := shipBehindHeldPut(t, e, u, b)
	tp := metadata.TopicPartition{Topic: "held", Partition: 0}
	time.Sleep(200 * time.Millisecond) // time enough to register the second range out of order
	if end := u.TieredEnd(tp); end > 0 {
		t.Fatalf("tiered to %d while the first range's PUT is held", end)
	}
	close(b.release)
	waitTiered(t, u, tp, l.EndOffset())

	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Segments) != 2 || c.Segments[0].Key != first || c.Segments[1].Key != second ||
		c.Segments[0].BaseOffset != 0 || c.Segments[0].NextOffset != split || c.Segments[1].BaseOffset != split {
		t.Fatalf("catalog %+v; want the held object's range [0, %d) then %s's from there", c.Segments, split, second)
	}
	if err := e.dir.Remove(fmt.Sprintf("%s-0", id)); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, readAll(t, e.reader(nil), tp, id, 0, int64(len(want)), 1<<20), want)
}

// When the first range's PUT fails, the range shipped behind it is voided (it was cut to follow
// the first): both go again from the catalog's end, and no catalog names either failed object.
func TestSharedFailedRangeVoidsLater(t *testing.T) {
	e := newEnv(t)
	b := &heldBucket{Bucket: e.bucket, held: make(chan string, 1), release: make(chan struct{}), fail: true}
	u := e.uploader(func(c *Config) { c.Bucket = b })
	id, l, first, second, _, want := shipBehindHeldPut(t, e, u, b)
	tp := metadata.TopicPartition{Topic: "held", Partition: 0}
	close(b.release)
	waitTiered(t, u, tp, l.EndOffset())

	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Segments {
		if s.Key == first || s.Key == second {
			t.Fatalf("catalog %+v names %s, whose range was shipped behind a failed one (or the failed one)", c.Segments, s.Key)
		}
	}
	if c.Segments[0].BaseOffset != 0 || c.TieredEnd() != l.EndOffset() {
		t.Fatalf("catalog %+v does not cover [0, %d)", c.Segments, l.EndOffset())
	}
	objstoretest.Get(t, e.bucket, second) // unnamed, left for the sweeper
	if err := e.dir.Remove(fmt.Sprintf("%s-0", id)); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, readAll(t, e.reader(nil), tp, id, 0, int64(len(want)), 1<<20), want)
}
