package metatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

// leaderOf creates topic name with one partition and returns its partition 0 and a live lease on it.
func leaderOf(t *testing.T, s metadata.Store, name string) (metadata.TopicPartition, metadata.Lease) {
	t.Helper()
	createTopic(t, s, name, 1)
	tp := metadata.TopicPartition{Topic: name, Partition: 0}
	must(t, s.RegisterNode(ctxT(t), metadata.Node{ID: 1}, LongTTL), "RegisterNode")
	l, err := s.AcquireLease(ctxT(t), tp, 1)
	must(t, err, "AcquireLease")
	return tp, l
}

func wantSegments(t *testing.T, s metadata.Store, tp metadata.TopicPartition, want ...string) metadata.PartitionCatalog {
	t.Helper()
	c, err := s.GetCatalog(ctxT(t), tp)
	must(t, err, "GetCatalog")
	got := make([]string, len(c.Segments))
	for i, sg := range c.Segments {
		got[i] = sg.Key
	}
	if !slices.Equal(got, want) {
		t.Fatalf("catalog segments %v, want keys %v", segKeys(c.Segments), want)
	}
	return c
}

func testSegments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "segs")
	top, _ := s.GetTopic(ctx, "segs")

	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog of an untiered partition")
	if c.TopicID != top.ID || len(c.Segments) != 0 || c.LogStartOffset != 0 || c.TieredEnd() != 0 {
		t.Fatalf("fresh catalog = %+v", c)
	}
	_, err = s.GetCatalog(ctx, metadata.TopicPartition{Topic: "nope", Partition: 0})
	mustErrIs(t, err, metadata.ErrNotFound, "GetCatalog unknown topic")
	err = s.RegisterSegment(ctx, metadata.TopicPartition{Topic: "nope", Partition: 0}, 1, seg("x", 0, 1, 1))
	mustErrIs(t, err, metadata.ErrNotFound, "RegisterSegment unknown topic")

	s0, s1, s2 := seg("k/0", 0, 100, l.Epoch), seg("k/100", 100, 250, l.Epoch), seg("k/250", 250, 300, l.Epoch)
	for _, sg := range []metadata.SegmentRef{s0, s1, s2} {
		must(t, s.RegisterSegment(ctx, tp, l.Epoch, sg), "RegisterSegment "+sg.Key)
	}
	must(t, s.RegisterSegment(ctx, tp, l.Epoch, s1), "idempotent retry of an older segment")
	must(t, s.RegisterSegment(ctx, tp, l.Epoch, s2), "idempotent retry of the last segment")
	c = wantSegments(t, s, tp, "k/0", "k/100", "k/250")
	if c.TieredEnd() != 300 {
		t.Fatalf("TieredEnd = %d", c.TieredEnd())
	}
	// Every field survives the round trip.
	got := c.Segments[1]
	if got.Size != s1.Size || got.MinTimestamp != s1.MinTimestamp || got.MaxTimestamp != s1.MaxTimestamp ||
		got.Epoch != s1.Epoch || got.Records != s1.Records || !got.CreatedAt.Equal(s1.CreatedAt) {
		t.Fatalf("segment round trip: got %+v, want %+v", got, s1)
	}

	bad := []struct {
		name string
		seg  metadata.SegmentRef
	}{
		{"overlap", seg("k/200", 200, 400, l.Epoch)},
		{"gap", seg("k/400", 400, 500, l.Epoch)},
		{"same key other bounds", seg("k/100", 300, 400, l.Epoch)},
		{"empty range", seg("k/300e", 300, 300, l.Epoch)},
		{"no key", seg("", 300, 400, l.Epoch)},
	}
	for _, b := range bad {
		mustErrIs(t, s.RegisterSegment(ctx, tp, l.Epoch, b.seg), metadata.ErrConflict, "RegisterSegment "+b.name)
	}
	wantSegments(t, s, tp, "k/0", "k/100", "k/250")

	// A stale epoch is fenced; a newer epoch is accepted and raises the catalog's epoch.
	mustErrIs(t, s.RegisterSegment(ctx, tp, l.Epoch-1, seg("k/300", 300, 400, l.Epoch-1)), metadata.ErrFenced, "stale epoch")
	must(t, s.RegisterSegment(ctx, tp, l.Epoch+1, seg("k/300", 300, 400, l.Epoch+1)), "newer epoch")
	c = wantSegments(t, s, tp, "k/0", "k/100", "k/250", "k/300")
	if c.Epoch != l.Epoch+1 {
		t.Fatalf("catalog epoch %d, want %d", c.Epoch, l.Epoch+1)
	}
	mustErrIs(t, s.RegisterSegment(ctx, tp, l.Epoch, seg("k/400", 400, 500, l.Epoch)), metadata.ErrFenced, "epoch now stale")
	// The holder asking again gets a lease it can write under.
	l2, err := s.AcquireLease(ctx, tp, l.Node)
	must(t, err, "AcquireLease by holder after a newer epoch was used")
	if l2.Node != l.Node || l2.Epoch <= l.Epoch+1 {
		t.Fatalf("re-acquired lease %+v, want node %d with epoch above %d", l2, l.Node, l.Epoch+1)
	}
	must(t, s.RegisterSegment(ctx, tp, l2.Epoch, seg("k/400", 400, 500, l2.Epoch)), "RegisterSegment under the new lease")
	if got, err := s.GetLease(ctx, tp); err != nil || got.Epoch != l2.Epoch {
		t.Fatalf("GetLease = %+v, %v; want epoch %d", got, err, l2.Epoch)
	}

	// A partition of a multi-partition topic has its own catalog.
	createTopic(t, s, "segs.multi", 3)
	for p := int32(0); p < 3; p++ {
		tpp := metadata.TopicPartition{Topic: "segs.multi", Partition: p}
		must(t, s.RegisterSegment(ctx, tpp, 0, seg(fmt.Sprintf("m/%d", p), 0, int64(10+p), 0)), "RegisterSegment multi")
	}
	for p := int32(0); p < 3; p++ {
		c := wantSegments(t, s, metadata.TopicPartition{Topic: "segs.multi", Partition: p}, fmt.Sprintf("m/%d", p))
		if c.TieredEnd() != int64(10+p) {
			t.Fatalf("partition %d tiered end %d", p, c.TieredEnd())
		}
	}
}

func testListSegments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "listed")
	for _, sg := range []metadata.SegmentRef{seg("a", 0, 100, l.Epoch), seg("b", 100, 250, l.Epoch), seg("c", 250, 300, l.Epoch)} {
		must(t, s.RegisterSegment(ctx, tp, l.Epoch, sg), "RegisterSegment")
	}
	cases := []struct {
		from, to int64
		want     []string
	}{
		{0, 1, []string{"a"}},
		{0, 300, []string{"a", "b", "c"}},
		{99, 101, []string{"a", "b"}},
		{100, 250, []string{"b"}},
		{249, 251, []string{"b", "c"}},
		{299, 1000, []string{"c"}},
		{300, 400, nil},
		{150, 150, nil},
		{-10, 0, nil},
		{-10, 1, []string{"a"}},
	}
	for _, tc := range cases {
		got, err := s.ListSegments(ctx, tp, tc.from, tc.to)
		must(t, err, "ListSegments")
		keys := make([]string, 0, len(got))
		for _, sg := range got {
			keys = append(keys, sg.Key)
		}
		if !slices.Equal(keys, tc.want) && !(len(keys) == 0 && len(tc.want) == 0) {
			t.Errorf("ListSegments [%d, %d) = %v, want %v", tc.from, tc.to, keys, tc.want)
		}
	}
	_, err := s.ListSegments(ctx, metadata.TopicPartition{Topic: "nope"}, 0, 10)
	mustErrIs(t, err, metadata.ErrNotFound, "ListSegments unknown topic")
}

func testReplaceSegments(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "replaced")
	e := l.Epoch
	for _, sg := range []metadata.SegmentRef{seg("a", 0, 100, e), seg("b", 100, 250, e), seg("c", 250, 300, e)} {
		must(t, s.RegisterSegment(ctx, tp, e, sg), "RegisterSegment")
	}
	merged := seg("ab", 0, 250, e)
	mustErrIs(t, s.ReplaceSegments(ctx, tp, e, []string{"a", "gone"}, []metadata.SegmentRef{merged}), metadata.ErrConflict, "missing old key")
	mustErrIs(t, s.ReplaceSegments(ctx, tp, e, []string{"a"}, []metadata.SegmentRef{merged}), metadata.ErrConflict, "replacement overlaps a kept segment")
	wantSegments(t, s, tp, "a", "b", "c")

	must(t, s.ReplaceSegments(ctx, tp, e, []string{"a", "b"}, []metadata.SegmentRef{merged}), "ReplaceSegments")
	wantSegments(t, s, tp, "ab", "c")
	must(t, s.ReplaceSegments(ctx, tp, e, []string{"a", "b"}, []metadata.SegmentRef{merged}), "retried ReplaceSegments")
	wantSegments(t, s, tp, "ab", "c")

	// Split one segment into two, then drop one without replacement.
	must(t, s.ReplaceSegments(ctx, tp, e, []string{"ab"}, []metadata.SegmentRef{seg("ab2", 120, 250, e), seg("ab1", 0, 120, e)}), "split")
	c := wantSegments(t, s, tp, "ab1", "ab2", "c")
	if c.TieredEnd() != 300 {
		t.Fatalf("TieredEnd = %d", c.TieredEnd())
	}
	must(t, s.RegisterSegment(ctx, tp, e, seg("d", 300, 400, e)), "RegisterSegment after replace")
	wantSegments(t, s, tp, "ab1", "ab2", "c", "d")
}

// testReplaceSegmentsRace runs two compactions of the same segments at once: exactly one wins, and
// the catalog shows one of the two results whole.
func testReplaceSegmentsRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "raced")
	e := l.Epoch
	for i := int64(0); i < 4; i++ {
		must(t, s.RegisterSegment(ctx, tp, e, seg(fmt.Sprintf("s%d", i), i*10, i*10+10, e)), "RegisterSegment")
	}
	old := []string{"s0", "s1", "s2"}
	const racers = 4
	var wg sync.WaitGroup
	results := make([]error, racers)
	for r := 0; r < racers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[r] = s.ReplaceSegments(ctx, tp, e, old, []metadata.SegmentRef{seg(fmt.Sprintf("m%d", r), 0, 30, e)})
		}()
	}
	wg.Wait()
	winner := -1
	for r, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("racers %d and %d both replaced the same segments", winner, r)
			}
			winner = r
		case errors.Is(err, metadata.ErrConflict):
		default:
			t.Fatalf("racer %d: %v", r, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer won")
	}
	wantSegments(t, s, tp, fmt.Sprintf("m%d", winner), "s3")
}

// testRegisterSegmentRace has several writers under the same epoch each try to append the next
// segment; the catalog must stay contiguous with no lost or doubled segment.
func testRegisterSegmentRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "appends")
	const writers, tries = 4, 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	fail := make(chan error, writers*tries)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				c, err := s.GetCatalog(ctx, tp)
				if err != nil {
					fail <- err
					return
				}
				end := c.TieredEnd()
				err = s.RegisterSegment(ctx, tp, l.Epoch, seg(fmt.Sprintf("w%d-%d", w, i), end, end+5, l.Epoch))
				switch {
				case err == nil:
					mu.Lock()
					won++
					mu.Unlock()
				case errors.Is(err, metadata.ErrConflict):
				default:
					fail <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatalf("racing RegisterSegment: %v", err)
	}
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog")
	if len(c.Segments) != won || won == 0 {
		t.Fatalf("%d registrations succeeded, catalog holds %d", won, len(c.Segments))
	}
	for i, sg := range c.Segments {
		if sg.BaseOffset != int64(i*5) || sg.NextOffset != int64(i*5+5) {
			t.Fatalf("catalog not contiguous at %d: %v", i, segKeys(c.Segments))
		}
	}
}

func testSetLogStartOffset(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "trimmed")
	e := l.Epoch
	for _, sg := range []metadata.SegmentRef{seg("a", 0, 100, e), seg("b", 100, 250, e), seg("c", 250, 300, e)} {
		must(t, s.RegisterSegment(ctx, tp, e, sg), "RegisterSegment")
	}
	dropped, err := s.SetLogStartOffset(ctx, tp, e, 100)
	must(t, err, "SetLogStartOffset 100")
	if len(dropped) != 1 || dropped[0].Key != "a" {
		t.Fatalf("dropped %v, want [a]", segKeys(dropped))
	}
	dropped, err = s.SetLogStartOffset(ctx, tp, e, 260)
	must(t, err, "SetLogStartOffset 260")
	if len(dropped) != 1 || dropped[0].Key != "b" {
		t.Fatalf("dropped %v, want [b]", segKeys(dropped))
	}
	c := wantSegments(t, s, tp, "c")
	if c.LogStartOffset != 260 {
		t.Fatalf("LogStartOffset = %d", c.LogStartOffset)
	}
	dropped, err = s.SetLogStartOffset(ctx, tp, e, 50)
	must(t, err, "SetLogStartOffset backwards")
	if len(dropped) != 0 {
		t.Fatalf("moving back dropped %v", segKeys(dropped))
	}
	if c := wantSegments(t, s, tp, "c"); c.LogStartOffset != 260 {
		t.Fatalf("LogStartOffset moved back to %d", c.LogStartOffset)
	}
	_, err = s.SetLogStartOffset(ctx, tp, e-1, 290)
	mustErrIs(t, err, metadata.ErrFenced, "SetLogStartOffset stale epoch")

	// Past the tiered end (DeleteRecords into the hot tier): all segments go, and the next segment
	// must hold the new log start.
	dropped, err = s.SetLogStartOffset(ctx, tp, e, 350)
	must(t, err, "SetLogStartOffset past tiered end")
	if len(dropped) != 1 || dropped[0].Key != "c" {
		t.Fatalf("dropped %v, want [c]", segKeys(dropped))
	}
	wantSegments(t, s, tp)
	mustErrIs(t, s.RegisterSegment(ctx, tp, e, seg("x", 300, 340, e)), metadata.ErrConflict, "segment wholly below log start")
	must(t, s.RegisterSegment(ctx, tp, e, seg("d", 300, 400, e)), "segment holding log start")
	wantSegments(t, s, tp, "d")
}

func testWatchCatalogs(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp, l := leaderOf(t, s, "watched.topic")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchCatalogs(wctx)
	must(t, err, "WatchCatalogs")

	must(t, s.RegisterSegment(ctx, tp, l.Epoch, seg("w0", 0, 10, l.Epoch)), "RegisterSegment")
	waitFor(t, ch, tp)
	_, err = s.SetLogStartOffset(ctx, tp, l.Epoch, 10)
	must(t, err, "SetLogStartOffset")
	waitFor(t, ch, tp)

	cancel()
	waitClosed(t, ch, "catalog watch after ctx ended")
}

func waitFor[K comparable](t *testing.T, ch <-chan K, want K) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatal("watch channel closed early")
			}
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no change reported for %v", want)
		}
	}
}
