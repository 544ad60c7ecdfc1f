package compaction

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
)

// Segments of 4 batches of 4 records of 1000 bytes are ~16.4 KB: six fit in 100 KiB.
var sixPerMerge = Policy{SmallBytes: 64 << 10, TargetBytes: 100 << 10, MinInputs: 4}

func catalogKeys(segs []metadata.SegmentRef) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Key
	}
	return out
}

func TestMergePass(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topic("small")
	e.addSegments(p, 20, 4, 4, 1000)
	before := e.checkCatalog(p.tp, p.end)

	w := e.worker(func(c *Config) { c.Policy = sixPerMerge })
	res, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Partitions: 1, Merges: 3, Inputs: 18, Passes: 1}) {
		t.Fatalf("pass: %+v", res)
	}
	segs := e.checkCatalog(p.tp, p.end)
	merged := mergedKeys(segs)
	if len(segs) != 5 || len(merged) != 3 {
		t.Fatalf("catalog after the pass: %v", catalogKeys(segs))
	}
	// The last two segments were too few to merge and are the uploader's objects still.
	if !slices.Equal(catalogKeys(segs[3:]), catalogKeys(before[18:])) {
		t.Fatalf("tail %v, want %v", catalogKeys(segs[3:]), catalogKeys(before[18:]))
	}
	var written float64
	for i, s := range segs[:3] {
		k, err := tier.ParseObjectKey(s.Key)
		if err != nil || !k.Merged() || k.BaseOffset != s.BaseOffset || k.NextOffset != s.NextOffset || k.Epoch != p.lease.Epoch {
			t.Fatalf("merged key %q parsed as %+v, %v", s.Key, k, err)
		}
		in := before[i*6 : i*6+6]
		if s.BaseOffset != in[0].BaseOffset || s.NextOffset != in[5].NextOffset || s.Epoch != p.lease.Epoch ||
			s.MinTimestamp != in[0].MinTimestamp || s.MaxTimestamp != in[5].MaxTimestamp-1 {
			t.Fatalf("merged segment %+v from inputs %+v … %+v", s, in[0], in[5])
		}
		// A fresh index, a valid footer, every batch CRC-checked.
		body := objstoretest.Get(t, e.bucket, s.Key)
		r, err := segment.OpenReader(bytesReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(); err != nil {
			t.Fatalf("merged object %s: %v", s.Key, err)
		}
		if ix := r.Index(); ix.Batches != 24 || len(ix.Entries) < 2 {
			t.Fatalf("merged index: %d batches, %d entries", ix.Batches, len(ix.Entries))
		}
		written += float64(s.Size)
	}
	e.readBack(p, p.batches, 0, p.end)

	// The inputs stay for the grace period (an hour here) so that reads in flight finish.
	for _, s := range before {
		if !e.exists(s.Key) {
			t.Fatalf("input %s deleted inside its grace period", s.Key)
		}
	}
	if n := w.PendingDeletes(); n != 18 {
		t.Fatalf("pending deletes %d, want 18", n)
	}
	if testutil.ToFloat64(w.m.merges) != 3 || testutil.ToFloat64(w.m.inputs) != 18 || testutil.ToFloat64(w.m.writtenBytes) != written {
		t.Fatalf("metrics: merges %v, inputs %v, bytes %v (want %v)", testutil.ToFloat64(w.m.merges), testutil.ToFloat64(w.m.inputs),
			testutil.ToFloat64(w.m.writtenBytes), written)
	}

	// Nothing left to do: the merged objects are not small, the tail is too short.
	if res, err := w.RunOnce(ctx); err != nil || res != (Result{Partitions: 1, Passes: 1}) {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("RunOnce after Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMergeDeletesInputsAfterGrace(t *testing.T) {
	e := newEnv(t)
	p := e.topic("grace")
	e.addSegments(p, 8, 4, 4, 1000)
	before := e.catalog(p.tp).Segments
	w := e.worker(func(c *Config) {
		c.Policy = Policy{SmallBytes: 64 << 10, TargetBytes: 1 << 20, MinInputs: 4}
		c.DeleteGrace = time.Millisecond
	})
	if res, err := w.RunOnce(context.Background()); err != nil || res.Merges != 1 || res.Inputs != 8 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	segs := e.checkCatalog(p.tp, p.end)
	eventually(t, "inputs deleted after the grace period", func() bool {
		for _, s := range before {
			if e.exists(s.Key) {
				return false
			}
		}
		return true
	})
	if got := e.keys(p.id); !slices.Equal(got, catalogKeys(segs)) {
		t.Fatalf("bucket holds %v, catalog %v", got, catalogKeys(segs))
	}
	e.readBack(p, p.batches, 0, p.end)
}

// leaseStore takes the partition's lease over from inside the worker's lease check.
type leaseStore struct {
	metadata.Store
	takeover func(ctx context.Context) // run once, on the first GetLease
	after    bool                      // run it after reading the lease (the check passes, the swap is fenced)
}

func (s *leaseStore) GetLease(ctx context.Context, tp metadata.TopicPartition) (metadata.Lease, error) {
	f := s.takeover
	s.takeover = nil
	if f != nil && !s.after {
		f(ctx)
	}
	l, err := s.Store.GetLease(ctx, tp)
	if f != nil && s.after {
		f(ctx)
	}
	return l, err
}

func TestMergeLeaseLost(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		after  bool
		reason string
	}{
		{"lease moved before the check", false, "lease"},
		{"new leader fenced the swap", true, "fenced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			p := e.topic("lease-" + tc.reason)
			e.addSegments(p, 8, 4, 4, 1000)
			beforeCat := catalogKeys(e.catalog(p.tp).Segments)
			beforeObj := e.keys(p.id)
			st := &leaseStore{Store: e.store, after: tc.after, takeover: func(ctx context.Context) {
				if err := e.store.ReleaseLease(ctx, p.lease); err != nil {
					t.Error(err)
				}
				l2, err := e.store.AcquireLease(ctx, p.tp, 2)
				if err != nil || l2.Epoch <= p.lease.Epoch {
					t.Errorf("takeover: %+v, %v", l2, err)
				}
				// The new leader writes under its epoch (as its first registration would).
				if _, err := e.store.SetLogStartOffset(ctx, p.tp, l2.Epoch, 0); err != nil {
					t.Error(err)
				}
			}}
			w := e.worker(func(c *Config) {
				c.Store = st
				c.Policy = Policy{SmallBytes: 64 << 10, TargetBytes: 1 << 20, MinInputs: 4}
			})
			res, err := w.RunOnce(context.Background())
			if err != nil || res.Merges != 0 || res.Skipped != 1 {
				t.Fatalf("pass: %+v, %v", res, err)
			}
			if got := catalogKeys(e.catalog(p.tp).Segments); !slices.Equal(got, beforeCat) {
				t.Fatalf("catalog changed: %v, was %v", got, beforeCat)
			}
			if got := e.keys(p.id); !slices.Equal(got, beforeObj) {
				t.Fatalf("bucket holds %v, was %v (an orphan merged object?)", got, beforeObj)
			}
			if n := testutil.ToFloat64(w.m.aborted.WithLabelValues(tc.reason)); n != 1 {
				t.Fatalf("aborted{reason=%q} = %v", tc.reason, n)
			}
			e.readBack(p, p.batches, 0, p.end)
		})
	}
}

func TestMergeCorruptInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"batch byte flipped", func(b []byte) []byte { b[200] ^= 0xff; return b }},
		{"footer magic", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }},
		{"index disagrees with the catalog", func(b []byte) []byte { return b[:0] }}, // replaced below
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			p := e.topic(fmt.Sprintf("corrupt-%d", i))
			// Stop leading it at the end, so later rows' passes leave it alone.
			t.Cleanup(func() { e.store.ReleaseLease(context.Background(), p.lease) })
			e.addSegments(p, 8, 4, 4, 1000)
			before := e.catalog(p.tp).Segments
			bad := before[5]
			body := objstoretest.Get(t, e.bucket, bad.Key)
			if tc.name == "index disagrees with the catalog" {
				// A valid segment, but of other offsets than the catalog names.
				body = objstoretest.Get(t, e.bucket, before[6].Key)
			} else {
				body = tc.corrupt(body)
			}
			if err := e.bucket.Delete(ctx, bad.Key); err != nil {
				t.Fatal(err)
			}
			objstoretest.Put(t, e.bucket, bad.Key, body)

			w := e.worker(func(c *Config) { c.Policy = Policy{SmallBytes: 64 << 10, TargetBytes: 70 << 10, MinInputs: 4} })
			res, err := w.RunOnce(ctx)
			if err != nil || res.Merges != 1 || res.Skipped != 1 {
				t.Fatalf("pass: %+v, %v", res, err)
			}
			if n := testutil.ToFloat64(w.m.errors.WithLabelValues("corrupt")); n < 1 {
				t.Fatalf("corrupt inputs counted %v", n)
			}
			segs := e.checkCatalog(p.tp, p.end, bad.Key)
			if len(segs) != 5 || len(mergedKeys(segs)) != 1 || !slices.Equal(catalogKeys(segs[1:]), catalogKeys(before[4:])) {
				t.Fatalf("catalog %v", catalogKeys(segs))
			}
			if !e.exists(bad.Key) {
				t.Fatal("the corrupt input was deleted")
			}
			for _, k := range e.keys(p.id) {
				if isMergedKey(k) && k != segs[0].Key {
					t.Fatalf("orphan merged object %s", k)
				}
			}
			e.readBackBy(p, p.batches[:16], 0, before[3].NextOffset, 1) // one batch per read: stop before the bad one
		})
	}
}

func TestConfigValidate(t *testing.T) {
	b, err := objstore.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := &leaseStore{}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Bucket: b, Store: st}, true},
		{"no bucket", Config{Store: st}, false},
		{"no store", Config{Bucket: b}, false},
		{"negative node", Config{Bucket: b, Store: st, NodeID: -1}, false},
		{"negative interval", Config{Bucket: b, Store: st, Interval: -time.Second}, false},
		{"negative grace", Config{Bucket: b, Store: st, DeleteGrace: -time.Second}, false},
		{"bad prefix", Config{Bucket: b, Store: st, Prefix: "/x//y"}, false},
		{"bad policy", Config{Bucket: b, Store: st, Policy: Policy{MinInputs: 1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

// TestBuildCancelled: a merge whose ctx ends while its inputs are being fetched returns the ctx's
// error and leaves no fetch goroutine behind (the race detector and the test's end would see it).
func TestBuildCancelled(t *testing.T) {
	e := newEnv(t)
	p := e.topic("cancel")
	e.addSegments(p, 12, 1, 1, 100)
	segs := e.catalog(p.tp).Segments
	m := Merge{Inputs: segs, BaseOffset: segs[0].BaseOffset, NextOffset: segs[len(segs)-1].NextOffset}
	fb := objstoretest.NewFaultBucket(e.bucket)
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	fb.AfterCall(func(op string, err error) {
		if op == objstoretest.OpGet && calls.Add(1) == 2 {
			cancel()
		}
	})
	_, _, err := build(ctx, fb, nil, m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("build after cancel: %v", err)
	}
	cancel()
	// The same merge with a live ctx succeeds.
	body, ref, err := build(context.Background(), e.bucket, nil, m)
	if err != nil || ref.Size != int64(len(body)) || ref.Records != 12 {
		t.Fatalf("build: %+v, %v", ref, err)
	}
}

// Passes that read catalogs through a tier.CatalogCache merge as they do from the store, and a
// second pass sees the first one's swaps (the watch drops the cached catalogs they changed).
func TestMergePassThroughCatalogCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topic("cached")
	e.addSegments(p, 20, 4, 4, 1000)
	cache := tier.NewCatalogCache(e.store, time.Hour)
	defer cache.Close()
	if _, err := cache.GetCatalog(ctx, p.tp); err != nil { // cached once the watch runs
		t.Fatal(err)
	}
	w := e.worker(func(c *Config) { c.Policy = sixPerMerge; c.PassCatalogs = cache })
	res, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Partitions: 1, Merges: 3, Inputs: 18, Passes: 1}) {
		t.Fatalf("first pass: %+v", res)
	}
	segs := e.checkCatalog(p.tp, p.end)
	if len(segs) != 5 {
		t.Fatalf("catalog after the first pass: %v", catalogKeys(segs))
	}
	// The merged objects are large now; a pass on a stale cached catalog would try the old
	// inputs again and lose its swaps. It must find nothing to do.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := cache.GetCatalog(ctx, p.tp)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Segments) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache still holds the catalog before the swaps: %v", catalogKeys(c.Segments))
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err = w.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Result{Partitions: 1, Passes: 1}) {
		t.Fatalf("second pass: %+v", res)
	}
}
