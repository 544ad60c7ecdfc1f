package compaction

import (
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
)

func TestClassify(t *testing.T) {
	id := metadata.TopicID{1}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const grace = time.Hour
	old := now.Add(-2 * grace)

	// The catalog: log start 100, segments [100, 200) and [200, 300) under epochs 3 and 4; the
	// catalog's epoch is 4 and the sweeper's lease is at epoch 5 (it has not written yet).
	reg1 := tier.ObjectKey(prefix, id, 0, 100, 3)
	reg2 := tier.MergedObjectKey(prefix, id, 0, 200, 300, 4)
	cat := viewCatalog(metadata.PartitionCatalog{TopicID: id, Epoch: 4, LogStartOffset: 100, Segments: []metadata.SegmentRef{
		{Key: reg1, BaseOffset: 100, NextOffset: 200, Size: 1, Epoch: 3},
		{Key: reg2, BaseOffset: 200, NextOffset: 300, Size: 1, Epoch: 4},
	}})
	const lease = 5

	upload := func(base int64, epoch int32) sweepObject {
		k, _ := tier.ParseObjectKey(tier.ObjectKey(prefix, id, 0, base, epoch))
		return newSweepObject(k, objstore.Attrs{Key: k.String(), Size: 10, Modified: old})
	}
	merged := func(base, next int64, epoch int32) sweepObject {
		k, _ := tier.ParseObjectKey(tier.MergedObjectKey(prefix, id, 0, base, next, epoch))
		return newSweepObject(k, objstore.Attrs{Key: k.String(), Size: 10, Modified: old})
	}
	with := func(o sweepObject, f func(*sweepObject)) sweepObject { f(&o); return o }
	ranged := func(o sweepObject, next int64) sweepObject { o.next = next; return o }

	tests := []struct {
		name string
		obj  sweepObject
		want verdict
	}{
		// Never deleted.
		{"registered upload", upload(100, 3), keepReferenced},
		{"registered merge", merged(200, 300, 4), keepReferenced},
		{"registered even when young", with(upload(100, 3), func(o *sweepObject) { o.modified = now }), keepReferenced},
		{"fresh fenced upload", with(upload(300, 2), func(o *sweepObject) { o.modified = now.Add(-grace + time.Second) }), keepYoung},
		{"fresh superseded merge", with(merged(100, 300, 4), func(o *sweepObject) { o.modified = now }), keepYoung},
		{"unknown age", with(upload(0, 1), func(o *sweepObject) { o.modified = time.Time{} }), keepYoung},
		{"clock behind the object", with(upload(0, 1), func(o *sweepObject) { o.modified = now.Add(time.Minute) }), keepYoung},
		{"current epoch at the tiered end (pending)", upload(300, 4), keepPending},
		{"current epoch above the tiered end", upload(350, 4), keepPending},
		{"lease epoch at the tiered end (pending)", upload(300, 5), keepPending},
		{"current-epoch merge above the tiered end", merged(300, 400, 4), keepPending},
		{"current-epoch merge straddling the tiered end", merged(250, 350, 4), keepPending},
		{"current-epoch upload straddling the tiered end", ranged(upload(250, 4), 350), keepPending},
		{"newer epoch than the lease", upload(300, 6), keepNewer},
		{"newer epoch, below the tiered end", merged(100, 200, 6), keepNewer},

		// Orphans.
		{"fenced upload at the tiered end", upload(300, 3), orphanFenced},
		{"fenced upload above the tiered end", upload(400, 1), orphanFenced},
		{"fenced upload straddling the tiered end", upload(250, 3), orphanFenced},
		{"fenced upload below the log start", upload(0, 0), orphanFenced},
		{"fenced merge", merged(100, 300, 3), orphanFenced},
		{"superseded merge (swap outcome unknown)", merged(100, 300, 4), orphanSuperseded},
		{"superseded merge ending at the tiered end", merged(250, 300, 4), orphanSuperseded},
		{"replaced upload, range unknown", upload(200, 4), needRange},
		{"replaced upload, range read", ranged(upload(200, 4), 250), orphanSuperseded},
		{"expired upload, range read", ranged(upload(0, 4), 100), orphanSuperseded},
		{"old at exactly the grace", with(merged(100, 300, 4), func(o *sweepObject) { o.modified = now.Add(-grace) }), orphanSuperseded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.obj, cat, lease, now, grace); got != tt.want {
				t.Fatalf("classify(%s, next %d) = %v, want %v", tt.obj.name, tt.obj.next, got, tt.want)
			}
		})
	}

	// An empty catalog whose log start moved (retention dropped everything): the tiered end is the
	// log start.
	empty := viewCatalog(metadata.PartitionCatalog{TopicID: id, Epoch: 4, LogStartOffset: 500})
	for _, tt := range []struct {
		name string
		obj  sweepObject
		want verdict
	}{
		{"expired", ranged(upload(400, 4), 500), orphanSuperseded},
		{"holds the log start", ranged(upload(400, 4), 501), keepPending},
		{"at the log start", upload(500, 4), keepPending},
		{"fenced", upload(500, 3), orphanFenced},
	} {
		t.Run("empty catalog/"+tt.name, func(t *testing.T) {
			if got := classify(tt.obj, empty, lease, now, grace); got != tt.want {
				t.Fatalf("classify(%s, next %d) = %v, want %v", tt.obj.name, tt.obj.next, got, tt.want)
			}
		})
	}
}

func TestParseSweepKey(t *testing.T) {
	w := &Worker{cfg: Config{Prefix: prefix + "/"}}
	id := metadata.TopicID{7}
	tests := []struct {
		key string
		ok  bool
	}{
		{tier.ObjectKey(prefix, id, 3, 42, 1), true},
		{tier.MergedObjectKey(prefix, id, 3, 42, 50, 1), true},
		{tier.ObjectKey("other", id, 3, 42, 1), false},
		{tier.ObjectKey(prefix+"/topics/"+id.String()+"/3", id, 3, 42, 1), false},     // nested under a partition
		{prefix + "/topics/" + id.String() + "/3/00000000000000000042-01.seg", false}, // not canonical
		{prefix + "/topics/" + id.String() + "/3/00000000000000000042-1.seg.tmp", false},
		{prefix + "/topics/" + id.String() + "/3/README", false},
		{prefix + "/topics/nothex/3/00000000000000000042-1.seg", false},
	}
	for _, tt := range tests {
		if _, ok := w.parseKey(tt.key); ok != tt.ok {
			t.Errorf("parseKey(%q) ok = %v, want %v", tt.key, ok, tt.ok)
		}
	}
}

func TestSweepConfig(t *testing.T) {
	b, err := objstore.Open(t.Context(), "file://"+t.TempDir())
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
		{"sweeps off", Config{Bucket: b, Store: st, SweepInterval: -1}, true},
		{"sweeps only", Config{Bucket: b, Store: st, NoMerges: true, SweepInterval: time.Minute}, true},
		{"negative sweep grace", Config{Bucket: b, Store: st, SweepGrace: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
	c := Config{Bucket: b, Store: st}
	c.applyDefaults()
	if c.SweepInterval != DefaultSweepInterval || c.SweepGrace != DefaultSweepGrace {
		t.Fatalf("defaults: interval %v, grace %v", c.SweepInterval, c.SweepGrace)
	}
}

// FuzzSweepParseKey: listed keys come from outside (anything under the prefix); the filter never
// panics, and a key it accepts is exactly the canonical key of what it parsed, under the prefix.
func FuzzSweepParseKey(f *testing.F) {
	id := metadata.TopicID{7}
	f.Add(tier.ObjectKey(prefix, id, 3, 42, 1))
	f.Add(tier.MergedObjectKey(prefix, id, 3, 42, 50, 1))
	f.Add(prefix + "/topics/" + id.String() + "/3/00000000000000000042-01.seg")
	f.Add(prefix + "/topics/x/3/README")
	w := &Worker{cfg: Config{Prefix: prefix}}
	f.Fuzz(func(t *testing.T, key string) {
		k, ok := w.parseKey(key)
		if ok && (k.String() != key || k.Prefix != prefix) {
			t.Fatalf("accepted %q as %+v", key, k)
		}
	})
}
