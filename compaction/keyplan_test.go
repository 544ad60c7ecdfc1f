package compaction

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

func TestKeyPolicyFromConfigs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfgs    map[string]string
		want    KeyPolicy
		compact bool
		bad     bool
	}{
		{"defaults, delete", nil, DefaultKeyPolicy, false, false},
		{"compact", map[string]string{"cleanup.policy": "compact"}, DefaultKeyPolicy, true, false},
		{"compact,delete", map[string]string{"cleanup.policy": "delete, compact"}, DefaultKeyPolicy, true, false},
		{"all set", map[string]string{"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.25",
			"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "20", "delete.retention.ms": "0", "segment.bytes": "1024"},
			KeyPolicy{MinCleanableDirtyRatio: 0.25, MinCompactionLagMs: 10, MaxCompactionLagMs: 20, SegmentBytes: 1024}, true, false},
		{"ratio NaN", map[string]string{"min.cleanable.dirty.ratio": "NaN"}, DefaultKeyPolicy, false, true},
		{"ratio above 1", map[string]string{"min.cleanable.dirty.ratio": "1.5"}, DefaultKeyPolicy, false, true},
		{"max lag 0", map[string]string{"max.compaction.lag.ms": "0"}, DefaultKeyPolicy, false, true},
		{"negative retention", map[string]string{"delete.retention.ms": "-1"}, DefaultKeyPolicy, false, true},
		{"min above max", map[string]string{"min.compaction.lag.ms": "30", "max.compaction.lag.ms": "20"}, DefaultKeyPolicy, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, compact, err := KeyPolicyFromConfigs(tc.cfgs)
			if tc.bad != errors.Is(err, ErrConfig) || (err != nil && !tc.bad) {
				t.Fatalf("err %v, want bad %v", err, tc.bad)
			}
			if got != tc.want || compact != tc.compact {
				t.Fatalf("got %+v compact %v, want %+v %v", got, compact, tc.want, tc.compact)
			}
		})
	}
}

func seg(key string, base, next, size, minTS, maxTS int64) metadata.SegmentRef {
	return metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: next, Size: size, MinTimestamp: minTS, MaxTimestamp: maxTS}
}

func TestPlanClean(t *testing.T) {
	const now = 1_000_000
	segs := []metadata.SegmentRef{
		seg("a", 0, 100, 1000, 10, 100),
		seg("b", 100, 200, 1000, 100, 200),
		seg("c", 200, 300, 2000, 200, 300),
		seg("d", 300, 400, 1000, now-50, now-10), // young
	}
	kp := DefaultKeyPolicy
	for _, tc := range []struct {
		name   string
		st     cleanState
		kp     func(*KeyPolicy)
		now    int64
		reason string
		check  func(cleanPlan) bool
	}{
		{"never cleaned: all dirty", cleanState{}, nil, now, reasonRatio,
			func(p cleanPlan) bool {
				return len(p.Segs) == 4 && p.DirtyFrom == 0 && p.Ratio == 1 && p.LagMs == now-10
			}},
		{"min lag keeps the young segment out", cleanState{}, func(k *KeyPolicy) { k.MinCompactionLagMs = 100 }, now, reasonRatio,
			func(p cleanPlan) bool { return len(p.Segs) == 3 && p.End() == 300 && p.TotalBytes == 4000 }},
		{"clean up to 200: ratio 3000/5000", cleanState{CleanedTo: 200}, nil, now, reasonRatio,
			func(p cleanPlan) bool {
				return p.DirtyFrom == 200 && p.DirtyBytes == 3000 && p.Ratio == 0.6 && p.LagMs == now-200
			}},
		{"below the ratio", cleanState{CleanedTo: 300}, nil, now, "",
			func(p cleanPlan) bool { return p.Ratio == 0.2 && p.LagMs == 50 }},
		{"split segment counts in proportion", cleanState{CleanedTo: 250}, nil, now, "",
			func(p cleanPlan) bool { return p.DirtyBytes == 2000 && p.Ratio == 0.4 }},
		{"max lag forces it", cleanState{CleanedTo: 300}, func(k *KeyPolicy) { k.MaxCompactionLagMs = 40 }, now, reasonMaxLag, nil},
		{"all clean", cleanState{CleanedTo: 400}, nil, now, "",
			func(p cleanPlan) bool { return p.DirtyBytes == 0 && p.LagMs == 0 }},
		{"tombstones expired", cleanState{CleanedTo: 400, Horizons: []horizon{{200, 10}, {400, now - 5}}},
			func(k *KeyPolicy) { k.DeleteRetentionMs = 100 }, now, reasonTombstones,
			func(p cleanPlan) bool { return p.TombstonesBelow == 200 }},
		{"tombstones already gone", cleanState{CleanedTo: 400, TombstonesGone: 200, Horizons: []horizon{{400, now - 5}}},
			func(k *KeyPolicy) { k.DeleteRetentionMs = 100 }, now, "", nil},
		{"state past the catalog", cleanState{CleanedTo: 900}, nil, now, "",
			func(p cleanPlan) bool { return p.DirtyFrom == 400 }},
		{"log start past the state", cleanState{CleanedTo: 0}, nil, now, reasonRatio,
			func(p cleanPlan) bool { return p.DirtyFrom == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kp
			if tc.kp != nil {
				tc.kp(&k)
			}
			p := planClean(segs, tc.st, k, tc.now)
			if p.Reason != tc.reason || (tc.check != nil && !tc.check(p)) {
				t.Fatalf("plan %+v", p)
			}
		})
	}
	if p := planClean(nil, cleanState{}, kp, now); p.Reason != "" || p.End() != 0 {
		t.Fatalf("empty catalog: %+v", p)
	}
}

func TestCleanStateHorizons(t *testing.T) {
	var s cleanState
	s = s.cleaned("t", 100, 0, 1000, true)
	s = s.cleaned("t", 250, 0, 2000, true)
	s = s.cleaned("t", 250, 0, 3000, true) // nothing new cleaned: no horizon
	if s.CleanedTo != 250 || len(s.Horizons) != 2 || s.Horizons[1] != (horizon{250, 2000}) {
		t.Fatalf("state %+v", s)
	}
	for _, tc := range []struct{ now, want int64 }{{1000, 0}, {1499, 0}, {1500, 100}, {2500, 250}} {
		if got := s.tombstonesExpiredBelow(tc.now, 500); got != tc.want {
			t.Fatalf("at %d: expired below %d, want %d", tc.now, got, tc.want)
		}
	}
	s = s.cleaned("t", 300, 100, 4000, false) // no tombstones in [250, 300): no horizon
	if s.TombstonesGone != 100 || s.CleanedTo != 300 || len(s.Horizons) != 1 || s.Horizons[0].End != 250 {
		t.Fatalf("after removing tombstones below 100: %+v", s)
	}
	// The horizons stay bounded, and merging them only ever delays.
	for i := range 2 * maxHorizons {
		s = s.cleaned("t", 300+int64(i+1)*10, 0, 5000+int64(i), true)
	}
	if len(s.Horizons) != maxHorizons {
		t.Fatalf("%d horizons", len(s.Horizons))
	}
	if got := s.tombstonesExpiredBelow(5000+maxHorizons+1, 0); got > 300+int64(maxHorizons+2)*10 {
		t.Fatalf("merged horizons expire too early: %d", got)
	}
}

func TestGroupRewrite(t *testing.T) {
	segs := []metadata.SegmentRef{seg("a", 0, 10, 40, 0, 0), seg("b", 10, 20, 40, 0, 0), seg("c", 20, 30, 100, 0, 0),
		seg("d", 30, 40, 10, 0, 0), seg("e", 40, 50, 10, 0, 0)}
	var got [][]string
	for _, g := range groupRewrite(segs, 100) {
		got = append(got, catalogKeys(g))
	}
	if want := [][]string{{"a", "b"}, {"c"}, {"d", "e"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	id := metadata.NewTopicID()
	g := []metadata.SegmentRef{{Key: tier.ObjectKey("", id, 0, 0, 1)}, {Key: tier.RewrittenObjectKey("", id, 0, 5, 9, 1, 4)},
		{Key: tier.MergedObjectKey("", id, 0, 9, 12, 1)}, {Key: "foreign"}}
	if gen := rewriteGeneration(g); gen != 5 {
		t.Fatalf("generation %d, want 5", gen)
	}
}

func TestKeyMapSizing(t *testing.T) {
	segs := []metadata.SegmentRef{{BaseOffset: 0, NextOffset: 100, Records: 40}, {BaseOffset: 100, NextOffset: 200, Records: 100},
		{BaseOffset: 200, NextOffset: 300}, {BaseOffset: 300, NextOffset: 1000, Records: 5}}
	for _, tc := range []struct {
		name      string
		dirtyFrom int64
		want      int64
	}{
		{"all dirty", 0, 40 + 100 + 100 + 5},
		{"first two clean", 200, 100 + 5},
		{"split segment counts at most its offsets", 150, 50 + 100 + 5},
		{"split segment counts at most its records", 310, 5},
		{"clean", 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (cleanPlan{Segs: segs, DirtyFrom: tc.dirtyFrom}).DirtyRecords(); got != tc.want {
				t.Fatalf("DirtyRecords %d, want %d", got, tc.want)
			}
		})
	}
	for _, keys := range []int64{0, 1, 9, 10, 89, 90, 1000, 1_000_000} {
		m := newKeyMap(keyMapBytes(keys, DefaultKeyMapBytes))
		if int64(m.capacity()) < keys || m.bytes() > max(16, 2*keys)*keySlotBytes {
			t.Fatalf("%d keys: a map of %d bytes for %d", keys, m.bytes(), m.capacity())
		}
	}
	if b := keyMapBytes(100_000_000, DefaultKeyMapBytes); b != DefaultKeyMapBytes {
		t.Fatalf("100 M keys: %d bytes, want the limit", b)
	}
}

func TestKeyMap(t *testing.T) {
	m := newKeyMap(100 * keySlotBytes)
	if m.capacity() != 90 {
		t.Fatalf("capacity %d", m.capacity())
	}
	for i := range 90 {
		if !m.put([]byte(fmt.Sprint("k", i)), int64(i)) {
			t.Fatalf("put %d refused", i)
		}
	}
	if m.put([]byte("one more"), 1) || m.free() != 0 {
		t.Fatal("a full map took a new key")
	}
	if !m.put([]byte("k3"), 1000) { // an update needs no room
		t.Fatal("update refused")
	}
	for i := range 90 {
		want := int64(i)
		if i == 3 {
			want = 1000
		}
		if off, ok := m.get([]byte(fmt.Sprint("k", i))); !ok || off != want {
			t.Fatalf("k%d: %d, %v", i, off, ok)
		}
	}
	if _, ok := m.get([]byte("absent")); ok {
		t.Fatal("absent key found")
	}
	if _, ok := m.get(nil); ok {
		t.Fatal("empty key found")
	}
	m.reset()
	if _, ok := m.get([]byte("k1")); ok || m.free() != 90 {
		t.Fatal("reset kept entries")
	}
	if !m.put([]byte{}, 7) { // an empty key is a key
		t.Fatal("empty key refused")
	}
	if off, ok := m.get([]byte{}); !ok || off != 7 {
		t.Fatal("empty key lost")
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := cleanState{TopicID: metadata.NewTopicID().String(), CleanedTo: 500, TombstonesGone: 100,
		Horizons: []horizon{{200, 1}, {500, 2}}}
	b, err := encodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(b)
	if err != nil || !slices.Equal(got.Horizons, s.Horizons) || got.CleanedTo != 500 || got.TopicID != s.TopicID {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	bad := cleanState{CleanedTo: 100, Horizons: []horizon{{200, 1}}}
	if b, _ := encodeState(bad); b != nil {
		if _, err := decodeState(b); err == nil {
			t.Fatal("horizon past CleanedTo accepted")
		}
	}
	b[len(b)-1] ^= 1
	if _, err := decodeState(b); err == nil {
		t.Fatal("flipped byte accepted")
	}
}

// FuzzDecodeState: a state object is read from the bucket, so bad bytes give an error, never a panic,
// and what decodes re-encodes to a state that decodes the same.
func FuzzDecodeState(f *testing.F) {
	b, _ := encodeState(cleanState{TopicID: "x", CleanedTo: 10, Horizons: []horizon{{10, 5}}})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeState(b)
		if err != nil {
			return
		}
		again, err := encodeState(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeState(again)
		if err != nil || s2.CleanedTo != s.CleanedTo || !slices.Equal(s2.Horizons, s.Horizons) {
			t.Fatalf("round trip: %+v, %v", s2, err)
		}
		_ = s.tombstonesExpiredBelow(time.Now().UnixMilli(), math.MaxInt64)
	})
}
