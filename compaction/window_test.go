package compaction

import (
	"context"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// planWindow takes the oldest shared objects up to the limit (at least one), by the span their
// planned ranges cover; cut splits merges where their inputs leave it, keeping segment objects.
func TestPlanWindowAndCut(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = tier.SharedObjectKey("c", 1, t0.Add(time.Duration(i)*time.Second))
	}
	sh := func(i int) string { return keys[i] }
	seg := tier.ObjectKey("c", metadata.TopicID{1}, 0, 0, 1)
	r := func(key string, base, pos, size int64) metadata.SegmentRef {
		return metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: base + 1, Position: pos, Size: size}
	}
	// Partition A: ranges in objects 0, 1, 2, then a segment object, then object 3.
	a := []Merge{{Inputs: []metadata.SegmentRef{r(sh(0), 0, 100, 50), r(sh(1), 1, 0, 50), r(sh(2), 2, 0, 50), r(seg, 3, 0, 50), r(sh(3), 4, 0, 50)}}}
	// Partition B: ranges in objects 1 and 2 at other positions.
	b := []Merge{{Inputs: []metadata.SegmentRef{r(sh(1), 0, 50, 30), r(sh(2), 1, 60, 40)}}}

	win := planWindow(context.Background(), [][]Merge{b, a}, 200, nil, t0)
	want := map[string]span{ // + object 2's 100 > 200
		sh(0): {from: 100, to: 150, written: t0.UnixNano(), uses: 1},
		sh(1): {from: 0, to: 80, written: t0.Add(time.Second).UnixNano(), uses: 2}, // A's range and B's
	}
	if len(win.spans) != len(want) || win.spans[sh(0)] != want[sh(0)] || win.spans[sh(1)] != want[sh(1)] {
		t.Fatalf("window %v, want %v", win.spans, want)
	}
	if win.deferred != 3 { // A's ranges of objects 2 and 3, B's of object 2
		t.Fatalf("deferred %d, want 3", win.deferred)
	}
	got := win.cut(a)
	if len(got) != 2 || len(got[0].Inputs) != 2 || got[0].BaseOffset != 0 || got[0].NextOffset != 2 || got[0].Bytes != 100 ||
		len(got[1].Inputs) != 1 || got[1].Inputs[0].Key != seg {
		t.Fatalf("cut of A: %+v", got)
	}
	if got := win.cut(b); len(got) != 1 || len(got[0].Inputs) != 1 || got[0].Inputs[0].Key != sh(1) {
		t.Fatalf("cut of B: %+v", got)
	}

	// A tiny limit still takes the oldest object; an object marked bad recently is left out (and
	// not counted as deferred), one marked long ago is tried again, and marks no plan names go.
	bad := map[string]time.Time{sh(0): t0, sh(9): t0}
	win = planWindow(context.Background(), [][]Merge{a}, 1, bad, t0.Add(time.Minute))
	if len(win.spans) != 1 || win.spans[sh(1)] == (span{}) || win.deferred != 2 {
		t.Fatalf("window %v deferred %d; want object 1 alone, 2 deferred", win.spans, win.deferred)
	}
	if _, ok := bad[sh(9)]; ok || len(bad) != 1 {
		t.Fatalf("bad marks %v; want only object 0's", bad)
	}
	win = planWindow(context.Background(), [][]Merge{a}, 1, bad, t0.Add(badSharedRetry+time.Second))
	if _, ok := win.spans[sh(0)]; !ok {
		t.Fatalf("window %v: object 0 not tried again after badSharedRetry", win.spans)
	}
	// Oldest flush first, whichever node wrote it (node 9's key sorts after node 1's).
	other := tier.SharedObjectKey("c", 9, t0.Add(-time.Second))
	c := []Merge{{Inputs: []metadata.SegmentRef{r(other, 0, 0, 10), r(sh(0), 1, 0, 10)}}}
	if win := planWindow(context.Background(), [][]Merge{a, c}, 1, nil, t0); len(win.spans) != 1 || win.spans[other] == (span{}) {
		t.Fatalf("window %v; want node 9's older object alone", win.spans)
	}
	if planWindow(context.Background(), [][]Merge{{{Inputs: []metadata.SegmentRef{r(seg, 0, 0, 10)}}}}, 1, nil, t0) != nil {
		t.Fatal("a window without shared objects")
	}
}
