package compaction

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// sharedTopic creates a topic of n partitions led by node 1 and tiers them in object durability
// through one Uploader, so that every flush writes one shared object holding all of them.
func sharedTopic(t *testing.T, e *env, name string, n int) ([]*partition, []*hotlog.Log, *tier.Uploader) {
	t.Helper()
	ctx := context.Background()
	top, err := e.store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: int32(n)})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{Logger: objstoretest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	u, err := tier.NewUploader(tier.Config{Bucket: e.bucket, Store: e.store, Prefix: prefix, NodeID: 1,
		RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		CheckInterval: time.Hour, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	pol := tier.DefaultPolicy()
	pol.Durability = tier.DurabilityObject
	pol.FlushInterval = 20 * time.Millisecond
	var parts []*partition
	var logs []*hotlog.Log
	for i := range n {
		tp := metadata.TopicPartition{Topic: name, Partition: int32(i)}
		l, err := e.store.AcquireLease(ctx, tp, 1)
		if err != nil {
			t.Fatal(err)
		}
		hl, err := dir.Log(fmt.Sprintf("%s-%d", top.ID, i))
		if err != nil {
			t.Fatal(err)
		}
		pl, err := tier.NewPartitionLog(tier.PartitionLogConfig{Partition: tp, TopicID: top.ID, Hot: hl, Catalog: e.store})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Track(pl, l.Epoch, pol); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &partition{tp: tp, id: top.ID, lease: l})
		logs = append(logs, hl)
	}
	return parts, logs, u
}

// sharedKeys lists the shared objects in the bucket.
func (e *env) sharedKeys() []string {
	e.t.Helper()
	var out []string
	if err := e.bucket.List(context.Background(), tier.SharedDir(prefix), func(a objstore.Attrs) error {
		out = append(out, a.Key)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// Shared objects through their life: retention drops one partition's ranges and the objects stay
// (others name them); the merger rewrites the other partitions' ranges into per-partition objects
// with ranged GETs; then no catalog names them and two sweeps a grace apart delete them, but not
// while they are young. Every record reads back the same before and after.
func TestSharedObjectsMergedAndSwept(t *testing.T) {
	const n, rounds = 3, 5
	e := newEnv(t)
	ctx := context.Background()
	parts, logs, u := sharedTopic(t, e, "mp", n)
	sharedRounds(t, parts, logs, u, rounds)
	shared := e.sharedKeys()
	if len(shared) < 2 {
		t.Fatalf("%d shared objects for %d rounds", len(shared), rounds)
	}
	for _, p := range parts {
		segs := e.checkCatalog(p.tp, p.end)
		for _, s := range segs {
			if !tier.IsSharedKey(s.Key) {
				t.Fatalf("%s: segment %s is not a range of a shared object", p.tp, s.Key)
			}
		}
		e.readBack(p, p.batches, 0, p.end)
	}

	// Retention drops every range of the last partition: the objects stay, the others name them.
	last := parts[n-1]
	dropped, err := e.store.SetLogStartOffset(ctx, last.tp, last.lease.Epoch, last.end)
	if err != nil || len(dropped) == 0 {
		t.Fatalf("retention dropped %d ranges: %v", len(dropped), err)
	}
	u.ScheduleDelete(dropped)
	clk := &clock{now: time.Now().Add(2 * tier.SharedRegisterWindow)}
	w := e.worker(func(c *Config) {
		c.Now, c.SweepGrace, c.SweepInterval = clk.Now, time.Minute, -1
		c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 8 << 20, MinInputs: 2}
	})
	named := map[string]bool{} // by the partitions retention left alone
	for _, p := range parts[:n-1] {
		for _, s := range e.catalog(p.tp).Segments {
			named[s.Key] = true
		}
	}
	for range 2 {
		if _, err := w.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		clk.set(clk.Now().Add(2 * tier.SharedRegisterWindow))
	}
	var kept []string
	for _, k := range shared {
		switch {
		case named[k] && !e.exists(k):
			t.Fatalf("shared object %s deleted while other partitions name ranges of it", k)
		case !named[k] && e.exists(k):
			t.Fatalf("shared object %s, named only by the dropped ranges, not swept", k)
		case named[k]:
			kept = append(kept, k)
		}
	}
	shared = kept

	// The merger rewrites the others' ranges into per-partition objects.
	res, err := w.RunOnce(ctx)
	if err != nil || res.Merges != n-1 {
		t.Fatalf("merges %+v %v, want %d", res, err, n-1)
	}
	for _, p := range parts[:n-1] {
		segs := e.checkCatalog(p.tp, p.end)
		if len(segs) != 1 || len(mergedKeys(segs)) != 1 {
			t.Fatalf("%s after the merge: %+v", p.tp, segs)
		}
		e.readBack(p, p.batches, 0, p.end)
	}

	// No catalog names the shared objects now. Young ones stay; two sweeps a grace apart delete
	// the old ones.
	young := &clock{now: time.Now()}
	wy := e.worker(func(c *Config) { c.Now, c.SweepGrace, c.SweepInterval, c.NoMerges = young.Now, time.Minute, -1, true })
	for range 2 {
		if res, err := wy.Sweep(ctx); err != nil || res.Deleted != 0 {
			t.Fatalf("sweep of young shared objects: %+v %v", res, err)
		}
	}
	sres, err := w.Sweep(ctx)
	if err != nil || sres.Deleted != 0 || sres.Orphans != len(shared) {
		t.Fatalf("first sweep after the merge: %+v %v, want %d orphans seen, none deleted yet", sres, err, len(shared))
	}
	clk.set(clk.Now().Add(2 * tier.SharedRegisterWindow))
	if sres, err = w.Sweep(ctx); err != nil || sres.Deleted != len(shared) {
		t.Fatalf("second sweep: %+v %v, want %d deleted", sres, err, len(shared))
	}
	if left := e.sharedKeys(); len(left) != 0 {
		t.Fatalf("shared objects left: %v", left)
	}
	for _, p := range parts[:n-1] {
		e.readBack(p, p.batches, 0, p.end)
	}
}

// sharedRounds produces rounds flushes' worth to every partition of parts (two batches each per
// round) and waits until each round is tiered, so that each round is (about) one shared object.
func sharedRounds(t *testing.T, parts []*partition, logs []*hotlog.Log, u *tier.Uploader, rounds int) {
	t.Helper()
	ts := time.Now().UnixMilli()
	for r := range rounds {
		for i, l := range logs {
			for j := range 2 {
				b := segmenttest.Records(0, ts+int64(r*10+j), 2, 100)
				info, err := l.Append(b)
				if err != nil {
					t.Fatal(err)
				}
				parts[i].batches = append(parts[i].batches, b)
				parts[i].end = info.LastOffset + 1
			}
		}
		for i, p := range parts {
			wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := u.WaitTiered(wctx, p.tp, logs[i].EndOffset())
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// gets counts the GETs (whole and ranged) made through a bucket wrapped by objstore.WithMetrics
// on reg.
func gets(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "strata_objstore_operations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && (l.GetValue() == "get" || l.GetValue() == "get_range") {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

// One merge pass reads each shared object once for all the partitions with ranges in it, not
// once per partition.
func TestSharedMergeReadsEachObjectOnce(t *testing.T) {
	const n, rounds = 6, 4
	e := newEnv(t)
	parts, logs, u := sharedTopic(t, e, "once", n)
	sharedRounds(t, parts, logs, u, rounds)
	shared := e.sharedKeys()
	reg := prometheus.NewRegistry()
	counted, err := objstore.WithMetrics(e.bucket, reg)
	if err != nil {
		t.Fatal(err)
	}
	w := e.worker(func(c *Config) {
		c.Bucket = counted
		c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 8 << 20, MinInputs: 2}
	})
	res, err := w.RunOnce(context.Background())
	if err != nil || res.Merges != n || res.Deferred != 0 {
		t.Fatalf("pass %+v %v, want %d merges and nothing deferred", res, err, n)
	}
	if got := gets(t, reg); got != float64(len(shared)) {
		t.Fatalf("%v GETs to merge %d partitions' ranges of %d shared objects; want one per object", got, n, len(shared))
	}
	for _, p := range parts {
		segs := e.checkCatalog(p.tp, p.end)
		if len(segs) != 1 || len(mergedKeys(segs)) != 1 {
			t.Fatalf("%s after the merge: %+v", p.tp, segs)
		}
		e.readBack(p, p.batches, 0, p.end)
	}
}

// A window smaller than the shared objects takes one object per pass, oldest first; the passes
// together merge every range, and records read back the same.
func TestSharedWindowMovesOn(t *testing.T) {
	const n, rounds = 3, 4
	e := newEnv(t)
	parts, logs, u := sharedTopic(t, e, "win", n)
	sharedRounds(t, parts, logs, u, rounds)
	shared := e.sharedKeys()
	w := e.worker(func(c *Config) {
		c.SharedWindowBytes = 1 // one object per window
		c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 8 << 20, MinInputs: 2}
	})
	for pass := range len(shared) {
		res, err := w.RunOnce(context.Background())
		if err != nil || res.Merges == 0 {
			t.Fatalf("pass %d: %+v %v", pass, res, err)
		}
		// The oldest object is the one this pass took: no catalog names it now.
		if e.named(parts)[shared[pass]] {
			t.Fatalf("pass %d: %s, the oldest shared object, is still named", pass, shared[pass])
		}
		if last := pass == len(shared)-1; (res.Deferred == 0) != last {
			t.Fatalf("pass %d of %d: %d inputs deferred", pass, len(shared), res.Deferred)
		}
	}
	for _, p := range parts {
		for _, s := range e.checkCatalog(p.tp, p.end) {
			if tier.IsSharedKey(s.Key) {
				t.Fatalf("%s: range of %s left after every window", p.tp, s.Key)
			}
		}
		e.readBack(p, p.batches, 0, p.end)
	}
}

// A corrupt shared object fails the merges of its window's ranges once; later windows leave it
// out and merge every other range, and its own ranges stay in the catalogs.
func TestSharedWindowSkipsCorruptObject(t *testing.T) {
	const n, rounds = 3, 3
	e := newEnv(t)
	parts, logs, u := sharedTopic(t, e, "bad", n)
	sharedRounds(t, parts, logs, u, rounds)
	shared := e.sharedKeys()
	bad := shared[0]
	obj := objstoretest.Get(t, e.bucket, bad)
	for i := range obj {
		obj[i] ^= 0x5a
	}
	if err := e.bucket.Delete(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, e.bucket, bad, obj)
	w := e.worker(func(c *Config) {
		c.SharedWindowBytes = 1
		c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 8 << 20, MinInputs: 2}
	})
	res, err := w.RunOnce(context.Background())
	if err != nil || res.Merges != 0 || res.Skipped != n {
		t.Fatalf("first pass (the corrupt object's window): %+v %v, want %d skipped", res, err, n)
	}
	for pass := 1; pass < len(shared); pass++ {
		if res, err = w.RunOnce(context.Background()); err != nil || res.Merges == 0 {
			t.Fatalf("pass %d: %+v %v", pass, res, err)
		}
	}
	for key := range e.named(parts) {
		if tier.IsSharedKey(key) && key != bad {
			t.Fatalf("a range of %s left; only the corrupt %s's should be", key, bad)
		}
	}
}

// named returns the object keys the catalogs of parts name.
func (e *env) named(parts []*partition) map[string]bool {
	e.t.Helper()
	out := map[string]bool{}
	for _, p := range parts {
		for _, s := range e.catalog(p.tp).Segments {
			out[s.Key] = true
		}
	}
	return out
}
