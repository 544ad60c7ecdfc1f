package compaction

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

func TestClassifyParquet(t *testing.T) {
	id := metadata.TopicID{1}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const grace = time.Hour
	old := now.Add(-2 * grace)
	// The catalog: log start 100, a segment [100, 200) and a Parquet object [200, 300).
	reg1 := tier.ObjectKey(prefix, id, 0, 100, 3)
	reg2 := tier.ParquetObjectKey(prefix, id, 0, 200, 300)
	catalog := func(epoch int32) catalogView {
		return viewCatalog(metadata.PartitionCatalog{TopicID: id, Epoch: epoch, LogStartOffset: 100, Segments: []metadata.SegmentRef{
			{Key: reg1, BaseOffset: 100, NextOffset: 200, Size: 1, Epoch: 3},
			{Key: reg2, BaseOffset: 200, NextOffset: 300, Size: 1, Epoch: 4, Format: metadata.FormatParquet},
		}})
	}
	w := &Worker{cfg: Config{Prefix: prefix}}
	pq := func(base, next int64, modified time.Time) sweepObject {
		o, ok := w.parseListed(objstore.Attrs{Key: tier.ParquetObjectKey(prefix, id, 0, base, next), Size: 10, Modified: modified})
		if !ok || !o.parquet || o.next != next {
			t.Fatalf("Parquet key [%d, %d) parsed as %+v, %v", base, next, o, ok)
		}
		return o
	}
	const lease = 5
	tests := []struct {
		name         string
		obj          sweepObject
		catalogEpoch int32
		want         verdict
	}{
		{"registered", pq(200, 300, old), lease, keepReferenced},
		{"registered, catalog behind the lease", pq(200, 300, old), 4, keepReferenced},
		{"young", pq(100, 200, now.Add(-grace+time.Second)), lease, keepYoung},
		{"unknown age", pq(100, 200, time.Time{}), lease, keepYoung},
		// The catalog's epoch is the lease's: only this node swaps, never while it sweeps.
		{"unswapped conversion of a registered segment", pq(100, 200, old), lease, orphanSuperseded},
		{"replaced by a later rewrite", pq(150, 250, old), lease, orphanSuperseded},
		{"below the log start", pq(0, 100, old), lease, orphanSuperseded},
		{"ends at the tiered end", pq(250, 300, old), lease, orphanSuperseded},
		{"straddles the tiered end", pq(250, 350, old), lease, keepPending},
		{"above the tiered end", pq(300, 400, old), lease, keepPending},
		// The catalog's epoch is older than the lease's: an older leader, not yet fenced, may be
		// between its PUT of this very key and its swap.
		{"unswapped conversion, catalog behind the lease", pq(100, 200, old), 4, keepPending},
		{"below the log start, catalog behind the lease", pq(0, 100, old), 4, keepPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.obj, catalog(tt.catalogEpoch), lease, now, grace); got != tt.want {
				t.Fatalf("classify(%s) under catalog epoch %d = %v, want %v", tt.obj.name, tt.catalogEpoch, got, tt.want)
			}
		})
	}
}

func TestParseParquetKey(t *testing.T) {
	w := &Worker{cfg: Config{Prefix: prefix + "/"}}
	id := metadata.TopicID{7}
	dir := prefix + "/topics/" + id.String() + "/3/"
	for _, tt := range []struct {
		key string
		ok  bool
	}{
		{tier.ParquetObjectKey(prefix, id, 3, 42, 50), true},
		{tier.ParquetObjectKey(prefix, id, 3, 0, 1), true},
		{tier.ParquetObjectKey("other", id, 3, 42, 50), false},
		{tier.ParquetObjectKey(prefix+"/topics/"+id.String()+"/3", id, 3, 42, 50), false}, // nested under a partition
		{dir + "00000000000000000050-00000000000000000042.parquet", false},                // empty range
		{dir + "00000000000000000042-00000000000000000042.parquet", false},
		{dir + "0000000000000000042-00000000000000000050.parquet", false}, // not 20 digits
		{dir + "00000000000000000042-00000000000000000050.parquet.tmp", false},
		{dir + "00000000000000000042-00000000000000000050-1.parquet", false},
		{dir + "+0000000000000000042-00000000000000000050.parquet", false},
		{prefix + "/topics/nothex/3/00000000000000000042-00000000000000000050.parquet", false},
		{prefix + "/shared/3/00000000000000000042-00000000000000000050.parquet", false},
		{"00000000000000000042-00000000000000000050.parquet", false},
	} {
		k, ok := w.parseParquetKey(tt.key)
		if ok != tt.ok {
			t.Errorf("parseParquetKey(%q) ok = %v, want %v", tt.key, ok, tt.ok)
		}
		if ok && (k.TopicID != id || k.Partition != 3 || k.BaseOffset >= k.NextOffset) {
			t.Errorf("parseParquetKey(%q) = %+v", tt.key, k)
		}
	}
}

// FuzzSweepParseParquetKey: a Parquet key the sweeper accepts is exactly the canonical key of what
// it parsed, under the prefix; nothing panics.
func FuzzSweepParseParquetKey(f *testing.F) {
	id := metadata.TopicID{7}
	f.Add(tier.ParquetObjectKey(prefix, id, 3, 42, 50))
	f.Add(prefix + "/topics/" + id.String() + "/3/00000000000000000050-00000000000000000042.parquet")
	f.Add("/.parquet")
	f.Add("-.parquet")
	w := &Worker{cfg: Config{Prefix: prefix}}
	f.Fuzz(func(t *testing.T, key string) {
		k, ok := w.parseParquetKey(key)
		if ok && (tier.ParquetObjectKey(prefix, k.TopicID, k.Partition, k.BaseOffset, k.NextOffset) != key || k.BaseOffset >= k.NextOffset) {
			t.Fatalf("accepted %q as %+v", key, k)
		}
	})
}

// convertAll converts every segment of p to Parquet with a Worker that stops before its delayed
// deletes, so the replaced segments stay in the bucket, unreferenced.
func (e *env) convertAll(p *partition) (converted []string) {
	e.t.Helper()
	conv := e.worker(func(c *Config) {
		c.Policy = Policy{SmallBytes: 1}
		c.ConvertAfter = time.Millisecond
		c.SweepInterval = -1
	})
	defer conv.Close()
	time.Sleep(5 * time.Millisecond)
	n := len(e.catalog(p.tp).Segments)
	if res, err := conv.RunOnce(context.Background()); err != nil || res.Converted != n {
		e.t.Fatalf("conversion pass: %+v, %v; want %d converted", res, err, n)
	}
	return parquetKeys(e.keys(p.id))
}

// putUnswapped leaves a conversion of segment entry s in the bucket without swapping it in, as a
// converter killed between its PUT and its swap does, and returns its key.
func (e *env) putUnswapped(p *partition, s metadata.SegmentRef) string {
	e.t.Helper()
	rc, err := e.bucket.Get(context.Background(), s.Key)
	if err != nil {
		e.t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	body, _, err := ConvertSegment(p.tp.Partition, s, data, columnar.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	key := tier.ParquetObjectKey(prefix, p.id, p.tp.Partition, s.BaseOffset, s.NextOffset)
	objstoretest.Put(e.t, e.bucket, key, body)
	return key
}

// TestSweepParquet: Parquet objects of a led partition are swept as segment objects are: the
// referenced ones never; an unswapped conversion only once the catalog's epoch fences every
// older leader, on two sightings a grace apart, and on two sightings of the same object (one
// written again under its key in between is seen anew).
func TestSweepParquet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topicWith("pq", map[string]string{ColdFormatConfig: "parquet"})
	e.addSegments(p, 3, 2, 4, 100)
	segs := catalogKeys(e.catalog(p.tp).Segments)
	converted := e.convertAll(p)
	if len(converted) != 3 {
		t.Fatalf("converted %v", converted)
	}
	// One more segment, converted but not swapped in: the catalog names the segment.
	e.addSegments(p, 1, 2, 4, 100)
	c := e.catalog(p.tp)
	last := c.Segments[len(c.Segments)-1]
	unswapped := e.putUnswapped(p, last)

	// A new leadership of this node: the catalog's epoch stays the old one until it writes.
	old := p.lease
	if err := e.store.ReleaseLease(ctx, old); err != nil {
		t.Fatal(err)
	}
	l, err := e.store.AcquireLease(ctx, p.tp, 1)
	if err != nil || l.Epoch <= old.Epoch {
		t.Fatalf("new lease %+v, %v", l, err)
	}
	p.lease = l

	const grace = time.Hour
	start := time.Now().Add(2 * grace) // every object is older than the grace
	clk := &clock{now: start}
	w := e.worker(func(c *Config) { c.Now = clk.Now; c.SweepGrace = grace; c.NoMerges = true; c.SweepInterval = -1 })

	// Catalog behind the lease: the replaced segments go after two sightings, the unswapped
	// conversion stays (an older leader could still swap it in).
	if res := e.sweep(w); res.Orphans != len(segs) || res.Deleted != 0 || res.Foreign != 0 {
		t.Fatalf("first sweep %+v", res)
	}
	clk.set(start.Add(grace))
	if res := e.sweep(w); res.Deleted != len(segs) {
		t.Fatalf("second sweep %+v", res)
	}
	clk.set(start.Add(3 * grace))
	if res := e.sweep(w); res.Deleted != 0 || res.Orphans != 0 || !e.exists(unswapped) {
		t.Fatalf("sweep with the catalog behind the lease %+v; unswapped conversion exists: %v", res, e.exists(unswapped))
	}
	want := append(slices.Clone(converted), last.Key, unswapped)
	slices.Sort(want)
	if got := e.keys(p.id); !slices.Equal(got, want) {
		t.Fatalf("bucket holds %v\nwant %v", got, want)
	}

	// The leader writes: the catalog's epoch is the lease's, and the conversion is an orphan.
	e.addSegments(p, 1, 1, 4, 100)
	clk.set(start.Add(4 * grace))
	if res := e.sweep(w); res.Orphans != 1 || res.Deleted != 0 {
		t.Fatalf("first sighting of the unswapped conversion %+v", res)
	}
	// Written again under its key (a conversion retried): the next sighting is a first one.
	before := e.modified(unswapped)
	for e.modified(unswapped).Equal(before) {
		time.Sleep(2 * time.Millisecond)
		e.putUnswapped(p, last)
	}
	clk.set(start.Add(5 * grace))
	if res := e.sweep(w); res.Orphans != 1 || res.Deleted != 0 || !e.exists(unswapped) {
		t.Fatalf("sweep after the rewrite %+v", res)
	}
	clk.set(start.Add(6 * grace))
	if res := e.sweep(w); res.Deleted != 1 || e.exists(unswapped) {
		t.Fatalf("second sighting of the rewritten conversion %+v", res)
	}
	for _, k := range converted {
		if !e.exists(k) {
			t.Fatalf("referenced Parquet object %s deleted", k)
		}
	}
	e.checkCatalog(p.tp, p.end)
	e.readBack(p, p.batches, 0, p.end)
}

// TestSweepDeletedParquetTopic: a deleted topic's Parquet objects go with its segment objects.
func TestSweepDeletedParquetTopic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	doomed := e.topicWith("doomed", map[string]string{ColdFormatConfig: "parquet"})
	e.addSegments(doomed, 2, 1, 4, 100)
	if pk := e.convertAll(doomed); len(pk) != 2 {
		t.Fatalf("converted %v", pk)
	}
	e.addSegments(doomed, 1, 1, 4, 100)
	c := e.catalog(doomed.tp)
	e.putUnswapped(doomed, c.Segments[len(c.Segments)-1])
	if err := e.store.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	keys := e.keys(doomed.id)
	if n := len(parquetKeys(keys)); n != 3 {
		t.Fatalf("Parquet objects of the doomed topic: %d in %v", n, keys)
	}
	const grace = time.Hour
	start := time.Now().Add(2 * grace)
	clk := &clock{now: start}
	w := e.worker(func(c *Config) { c.Now = clk.Now; c.SweepGrace = grace; c.NoMerges = true; c.SweepInterval = -1 })
	if res := e.sweep(w); res.GoneTopics != 1 || res.Objects != len(keys) || res.Deleted != 0 {
		t.Fatalf("first sighting %+v (keys %v)", res, keys)
	}
	clk.set(start.Add(grace))
	if res := e.sweep(w); res.Deleted != len(keys) {
		t.Fatalf("second sighting %+v", res)
	}
	if left := e.keys(doomed.id); len(left) != 0 {
		t.Fatalf("left: %s", strings.Join(left, ", "))
	}
}
