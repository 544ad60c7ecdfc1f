package tier

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
)

// tierAll produces n batches, tiers every one of them and deletes the hot copies.
func tierAll(t *testing.T, e *env, u *Uploader, name string, n int) (metadata.TopicPartition, metadata.TopicID, [][]byte) {
	t.Helper()
	tp, id, l := e.topic(name)
	epoch := e.lead(tp, 1)
	pol := DefaultPolicy()
	pol.LocalRetentionBytes = 0
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, pol); err != nil {
		t.Fatal(err)
	}
	want := produce(t, l, n, 3, 200, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, l.EndOffset())
	eventually(t, "hot copies deleted", func() bool { return l.StartOffset() == l.EndOffset() })
	return tp, id, want
}

// Replay from offset 0 after the hot copies are gone returns every batch, byte-identical, in order,
// whatever the fetch size; a read inside a batch starts with that whole batch.
func TestReplayFromZeroAfterHotCopyGone(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "replay", 120)
	end := int64(len(want) * 3)
	cases := []struct {
		name     string
		maxBytes int
		cfg      func(*ReaderConfig)
	}{
		{"one batch per read", 1, nil},
		{"a few KiB", 5000, nil},
		{"across segments", 1 << 20, nil},
		{"small blocks, tiny cache", 3000, func(c *ReaderConfig) { c.BlockSize = 4 << 10; c.CacheBytes = 8 << 10 }},
		{"no read-ahead", 5000, func(c *ReaderConfig) { c.ReadAheadBlocks = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.reader(tc.cfg)
			sameBatches(t, readAll(t, r, tp, id, 0, end, tc.maxBytes), want)
			// Again, warm: the cache serves the same bytes.
			sameBatches(t, readAll(t, r, tp, id, 0, end, tc.maxBytes), want)
		})
	}
	r := e.reader(nil)
	got, err := r.Read(context.Background(), tp, id, 31, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bs := splitBatches(t, got); len(bs) != 1 || string(bs[0]) != string(want[10]) {
		t.Fatalf("read at 31 did not return the batch [30, 33)")
	}
	for _, off := range []int64{end, end + 10, -1} {
		if _, err := r.Read(context.Background(), tp, id, off, 100); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d) = %v, want out of range", off, err)
		}
	}
	if _, err := r.Read(context.Background(), tp, metadata.NewTopicID(), 0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read with another topic ID = %v, want out of range", err)
	}
	if testutil.ToFloat64(r.m.cacheHits) == 0 && testutil.ToFloat64(r.m.cacheMisses) == 0 {
		t.Fatal("cache metrics never moved")
	}
}

// Sequential readers get blocks fetched ahead: fewer foreground misses than blocks read.
func TestReadAheadServesSequentialReader(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "ahead", 200)
	r := e.reader(func(c *ReaderConfig) { c.BlockSize = 4 << 10; c.ReadAheadBlocks = 16 })
	sameBatches(t, readAll(t, r, tp, id, 0, int64(len(want)*3), 4<<10), want)
	if testutil.ToFloat64(r.m.readAhead) == 0 {
		t.Fatal("no block was read ahead")
	}
	if testutil.ToFloat64(r.m.cacheHits) == 0 {
		t.Fatal("read-ahead never produced a hit")
	}
}

// A flipped byte in an object (batch data, or footer) gives an error that wraps segment.ErrCorrupt
// and names the key; other partitions read fine; nothing panics.
func TestCorruptObjectNamesKey(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "corrupt", 40)
	okTP, okID, okWant := tierAll(t, e, u, "healthy", 40)
	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"batch", "footer"} {
		t.Run(where, func(t *testing.T) {
			seg := c.Segments[0]
			if where == "footer" {
				seg = c.Segments[1]
			}
			orig := objstoretest.Get(t, e.bucket, seg.Key)
			bad := append([]byte(nil), orig...)
			pos := 100 // inside the first batch's records
			if where == "footer" {
				pos = len(bad) - 3 // the magic
			}
			bad[pos] ^= 0x40
			ctx := context.Background()
			if err := e.bucket.Delete(ctx, seg.Key); err != nil {
				t.Fatal(err)
			}
			objstoretest.Put(t, e.bucket, seg.Key, bad)
			defer func() {
				_ = e.bucket.Delete(ctx, seg.Key)
				objstoretest.Put(t, e.bucket, seg.Key, orig)
			}()
			r := e.reader(nil)
			_, err := r.Read(ctx, tp, id, seg.BaseOffset, 1<<20)
			if !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), seg.Key) {
				t.Fatalf("Read = %v, want ErrCorrupt naming %s", err, seg.Key)
			}
			if testutil.ToFloat64(r.m.corrupt) == 0 {
				t.Fatal("corruption not counted")
			}
			sameBatches(t, readAll(t, r, okTP, okID, 0, int64(len(okWant)*3), 1<<20), okWant)
		})
	}
	r := e.reader(nil)
	sameBatches(t, readAll(t, r, tp, id, 0, int64(len(want)*3), 1<<20), want)
}

// The catalog cache follows the watch: after retention moves the log start, old offsets are out
// of range and their objects go after the grace period.
func TestRetentionMovesLogStartAndDeletesAfterGrace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.reader(nil)
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"long grace", time.Hour}, {"short grace", 50 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			u := e.uploader(func(c *Config) { c.DeleteGrace = tc.grace; c.CheckInterval = 50 * time.Millisecond })
			tp, id, l := e.topic(strings.ReplaceAll(tc.name, " ", "-"))
			epoch := e.lead(tp, 1)
			pol := DefaultPolicy()
			pol.RetentionMs = 60_000 // one minute
			if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, pol); err != nil {
				t.Fatal(err)
			}
			produce(t, l, 40, 3, 200, -3600_000) // an hour old: expired
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			boundary := l.EndOffset()
			fresh := produce(t, l, 20, 3, 200, 0) // new: kept
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			waitTiered(t, u, tp, l.EndOffset())
			// Read the old data once so that the reader caches the catalog.
			if _, err := r.Read(ctx, tp, id, 0, 100); err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatal(err)
			}
			var c metadata.PartitionCatalog
			eventually(t, "log start moved", func() bool {
				c, _ = e.store.GetCatalog(ctx, tp)
				return c.LogStartOffset == boundary && l.StartOffset() == boundary
			})
			if c.Segments[0].BaseOffset != boundary || l.StartOffset() != boundary {
				t.Fatalf("catalog %+v, hot start %d; want both at %d", c.Segments[0], l.StartOffset(), boundary)
			}
			eventually(t, "reader sees the new start", func() bool {
				_, err := r.Read(ctx, tp, id, 0, 100)
				return errors.Is(err, ErrOffsetOutOfRange)
			})
			sameBatches(t, readAll(t, r, tp, id, boundary, l.EndOffset(), 1<<20), fresh)
			prefix := "cluster/topics/" + id.String() + "/"
			if tc.grace == time.Hour {
				// Retention schedules the dropped objects once the move has returned, which may be
				// just after the hot log's start moved.
				eventually(t, "the dropped objects' deletes pending", func() bool { return u.del.Pending() > 0 })
				if keys := listKeys(t, e, prefix); keys[0] >= c.Segments[0].Key {
					t.Fatalf("expired objects deleted before the grace period ended: %v", keys)
				}
				return
			}
			eventually(t, "expired objects deleted", func() bool {
				keys := listKeys(t, e, prefix)
				return len(keys) == len(c.Segments) && keys[0] == c.Segments[0].Key
			})
		})
	}
}

func listKeys(t *testing.T, e *env, prefix string) []string {
	var keys []string
	if err := e.bucket.List(context.Background(), prefix, func(a objstore.Attrs) error {
		keys = append(keys, a.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// Object durability: the active segment rolls every flush interval, so WaitTiered returns for an
// offset in it without any other roll; a deadline ends the wait when the store is down.
func TestObjectDurabilityWaitTiered(t *testing.T) {
	e := newEnv(t)
	fb := objstoretest.NewFaultBucket(e.bucket)
	u := e.uploader(func(c *Config) { c.Bucket = fb; c.PollInterval = time.Hour })
	tp, id, l := e.topic("object")
	epoch := e.lead(tp, 1)
	pol := DefaultPolicy()
	pol.Durability = DurabilityObject
	pol.FlushInterval = 20 * time.Millisecond
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, pol); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		want := produce(t, l, 1, 2, 100, int64(i))
		waitTiered(t, u, tp, l.EndOffset())
		got, err := e.reader(nil).Read(context.Background(), tp, id, l.EndOffset()-2, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		sameBatches(t, splitBatches(t, got), want)
	}
	fb.FailNext(1<<30, errors.New("injected outage"), objstoretest.OpPut)
	produce(t, l, 1, 2, 100, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := u.WaitTiered(ctx, tp, l.EndOffset()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTiered during an outage = %v, want deadline exceeded", err)
	}
	fb.FailNext(0, nil, objstoretest.OpPut)
	waitTiered(t, u, tp, l.EndOffset())
}

// A sequential reader's read-ahead fetches each next object that fits one GET (and its footer's
// block) with a single GET, and reads across the blocks of one GET are answered from the cache
// uncopied: byte-identical, shared, capacity capped so that appending copies.
func TestReadAheadWholeObjectsAndViewsAcrossBlocks(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "whole", 200)
	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 4 << 10
	for _, s := range c.Segments {
		if blocks := (s.Size + bs - 1) / bs; blocks > 3 {
			t.Fatalf("object %s has %d blocks; the test wants objects of one 8 KiB GET plus a footer block", s.Key, blocks)
		}
	}
	if len(c.Segments) < 5 {
		t.Fatalf("%d objects; the test wants several", len(c.Segments))
	}
	fb := objstoretest.NewFaultBucket(e.bucket)
	r := e.reader(func(c *ReaderConfig) {
		c.Bucket, c.BlockSize, c.ReadAheadGetBytes, c.ReadAheadBlocks = fb, bs, 2*bs, 16
	})
	end := int64(len(want) * 3)
	var got [][]byte
	var buf []byte
	spanning := 0
	for off := int64(0); off < end; {
		out, shared, err := r.ReadAppend(context.Background(), buf, tp, id, off, bs+bs/2)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if shared {
			if cap(out) != len(out) {
				t.Fatalf("a shared answer has room to append into the cache: len %d cap %d", len(out), cap(out))
			}
			if len(out) > bs {
				spanning++
			}
		} else {
			buf = out
		}
		bs := splitBatches(t, out)
		if len(bs) == 0 {
			t.Fatalf("read at %d returned nothing", off)
		}
		for _, x := range bs {
			info, _ := segment.ParseBatch(x)
			off = info.NextOffset()
			got = append(got, append([]byte(nil), x...))
		}
	}
	sameBatches(t, got, want)
	if spanning == 0 {
		t.Error("no answer longer than a block came uncopied from the cache")
	}
	// The first object: its footer, its first block, the rest of it; every later one: one GET.
	if gets := fb.Calls(objstoretest.OpGetRange); gets > len(c.Segments)+2 {
		t.Errorf("%d GETs for %d objects, want at most %d", gets, len(c.Segments), len(c.Segments)+2)
	}
}

// An object read ahead whole is checked on arrival: a sound one is marked verified and its index
// cached before the reader gets there; a corrupt one is not, and reading it still gives an error
// that wraps segment.ErrCorrupt and names the key.
func TestWholeObjectCheckedOnArrival(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, _ := tierAll(t, e, u, "verify", 200)
	ctx := context.Background()
	c, err := e.store.GetCatalog(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	segs := c.Segments
	if len(segs) < 4 {
		t.Fatalf("%d objects; the test wants at least 4", len(segs))
	}
	bad := segs[2]
	orig := objstoretest.Get(t, e.bucket, bad.Key)
	flipped := append([]byte(nil), orig...)
	flipped[100] ^= 0x40 // inside the first batch's records
	if err := e.bucket.Delete(ctx, bad.Key); err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, e.bucket, bad.Key, flipped)

	const bs = 4 << 10
	r := e.reader(func(c *ReaderConfig) { c.BlockSize, c.ReadAheadGetBytes, c.ReadAheadBlocks = bs, 2*bs, 16 })
	loadedRun := func(key string) *runBuf {
		r.blocks.mu.Lock()
		defer r.blocks.mu.Unlock()
		if b := r.blocks.blocks[blockKey{objRange{key: key}, 0}]; b != nil && b.elem != nil {
			return b.run
		}
		return nil
	}
	// A read of the first object starts read-ahead of the next ones.
	if _, err := r.Read(ctx, tp, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the next object checked whole", func() bool {
		ru := loadedRun(segs[1].Key)
		return ru != nil && ru.verified(0, 1) && r.indexes.get(rangeOf(segs[1])) != nil
	})
	eventually(t, "the corrupt object fetched", func() bool { return loadedRun(bad.Key) != nil })
	if loadedRun(bad.Key).checked.Load() {
		t.Fatal("a corrupt object was marked verified")
	}
	_, err = r.Read(ctx, tp, id, bad.BaseOffset, 1<<20)
	if !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), bad.Key) {
		t.Fatalf("Read of the corrupt object = %v, want ErrCorrupt naming %s", err, bad.Key)
	}
	// The sound object before it reads fine, from the checked bytes (one batch: a larger read
	// would go on into the corrupt object).
	if _, err := r.Read(ctx, tp, id, segs[1].BaseOffset, 1); err != nil {
		t.Fatal(err)
	}
}

// A GET of part of an object whose index is cached has its whole batches checked on arrival,
// from the first index entry in it on. (Here: the first block, which a read without read-ahead
// fetches after the footer and index.)
func TestPartialRunCheckedOnArrival(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "partial", 60)
	ctx := context.Background()
	c, err := e.store.GetCatalog(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 4 << 10
	key := c.Segments[0].Key
	if c.Segments[0].Size <= bs {
		t.Fatalf("the first object (%d bytes) fits one block", c.Segments[0].Size)
	}
	r := e.reader(func(c *ReaderConfig) { c.BlockSize, c.ReadAheadBlocks = bs, -1 })
	if _, err := r.Read(ctx, tp, id, 0, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first block checked", func() bool {
		r.blocks.mu.Lock()
		defer r.blocks.mu.Unlock()
		b := r.blocks.blocks[blockKey{objRange{key: key}, 0}]
		return b != nil && b.elem != nil && b.run.checked.Load()
	})
	r.blocks.mu.Lock()
	ru := r.blocks.blocks[blockKey{objRange{key: key}, 0}].run
	r.blocks.mu.Unlock()
	if ru.start != 0 || ru.checkedFrom != 0 || ru.checkedTo > int64(len(ru.buf)) || ru.checkedTo <= ru.checkedFrom {
		t.Fatalf("checked [%d, %d) of a GET of [%d, %d)", ru.checkedFrom, ru.checkedTo, ru.start, ru.start+int64(len(ru.buf)))
	}
	if !ru.verified(0, ru.checkedTo) || ru.verified(0, ru.checkedTo+1) {
		t.Fatal("verified does not answer for exactly the checked range")
	}
	sameBatches(t, readAll(t, r, tp, id, 0, int64(len(want)*3), 3000), want)
}

// concurrentGets counts the ranged GETs under way (from the call until the body is closed).
type concurrentGets struct {
	objstore.Bucket
	now, max atomic.Int64
}

func (c *concurrentGets) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	v := c.now.Add(1)
	for m := c.max.Load(); v > m && !c.max.CompareAndSwap(m, v); m = c.max.Load() {
	}
	rc, err := c.Bucket.GetRange(ctx, key, off, n)
	if err != nil {
		c.now.Add(-1)
		return nil, err
	}
	return &closeHook{ReadCloser: rc, done: func() { c.now.Add(-1) }}, nil
}

type closeHook struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (h *closeHook) Close() error {
	h.once.Do(h.done)
	return h.ReadCloser.Close()
}

// ReadAheadGets bounds the read-ahead GETs under way; a sequential replay still reads every batch.
func TestReadAheadGetsBound(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "bound", 200)
	cg := &concurrentGets{Bucket: e.bucket}
	r := e.reader(func(c *ReaderConfig) {
		c.Bucket, c.BlockSize, c.ReadAheadGetBytes, c.ReadAheadBlocks, c.ReadAheadGets = cg, 4<<10, 4<<10, 16, 1
	})
	sameBatches(t, readAll(t, r, tp, id, 0, int64(len(want)*3), 3000), want)
	// One read-ahead GET, plus those a reader waits for: an object's footer and first blocks.
	if m := cg.max.Load(); m > 3 {
		t.Errorf("%d GETs under way at once with ReadAheadGets 1", m)
	}
	if testutil.ToFloat64(r.m.readAhead) == 0 {
		t.Error("nothing was read ahead")
	}
}
