package metadata

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func sg(key string, base, next int64) SegmentRef {
	return SegmentRef{Key: key, BaseOffset: base, NextOffset: next, Size: next - base}
}

// rg is a segment held at byte position pos of a shared object.
func rg(key string, pos, base, next int64) SegmentRef {
	s := sg(key, base, next)
	s.Position = pos
	return s
}

func cat(epoch int32, lso int64, segs ...SegmentRef) PartitionCatalog {
	return PartitionCatalog{Epoch: epoch, LogStartOffset: lso, Segments: segs}
}

func keysOf(segs []SegmentRef) []string {
	var keys []string
	for _, s := range segs {
		keys = append(keys, s.Key)
	}
	return keys
}

// checkErr fails unless err matches want (nil: no error).
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || (want == nil && err != nil) {
		t.Fatalf("err=%v, want %v", err, want)
	}
}

func TestRegisterSegmentRules(t *testing.T) {
	cases := []struct {
		name    string
		c       PartitionCatalog
		epoch   int32
		seg     SegmentRef
		changed bool
		err     error
		epochTo int32
	}{
		{"first at zero", cat(1, 0), 1, sg("a", 0, 10), true, nil, 1},
		{"first must hold log start", cat(1, 5), 1, sg("a", 0, 10), true, nil, 1},
		{"first past log start is a gap", cat(1, 5), 1, sg("a", 6, 10), false, ErrConflict, 1},
		{"first below log start", cat(1, 10), 1, sg("a", 0, 10), false, ErrConflict, 1},
		{"first ends just past log start", cat(1, 9), 1, sg("a", 0, 10), true, nil, 1},
		{"append", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 10, 20), true, nil, 1},
		{"gap", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 11, 20), false, ErrConflict, 1},
		{"overlap", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 9, 20), false, ErrConflict, 1},
		{"below the tiered end", cat(1, 0, sg("a", 0, 10), sg("b", 10, 20)), 1, sg("c", 0, 5), false, ErrConflict, 1},
		{"retry", cat(1, 0, sg("a", 0, 10)), 1, sg("a", 0, 10), false, nil, 1},
		{"retry of an earlier segment", cat(1, 0, sg("a", 0, 10), sg("b", 10, 20)), 1, sg("a", 0, 10), false, nil, 1},
		{"retry ignores timestamps", cat(1, 0, sg("a", 0, 10)), 1, SegmentRef{Key: "a", BaseOffset: 0, NextOffset: 10, Size: 10, MaxTimestamp: 99}, false, nil, 1},
		{"retry after fencing", cat(3, 0, sg("a", 0, 10)), 1, sg("a", 0, 10), false, nil, 3},
		{"key reused", cat(1, 0, sg("a", 0, 10)), 1, sg("a", 10, 20), false, ErrConflict, 1},
		{"key reused with another size", cat(1, 0, sg("a", 0, 10)), 1, SegmentRef{Key: "a", BaseOffset: 0, NextOffset: 10, Size: 11}, false, ErrConflict, 1},
		{"stale epoch", cat(2, 0), 1, sg("a", 0, 10), false, ErrFenced, 2},
		{"newer epoch raises", cat(2, 0), 4, sg("a", 0, 10), true, nil, 4},
		{"newer epoch raises even on conflict", cat(2, 0), 4, sg("a", 3, 10), true, ErrConflict, 4},
		{"empty segment", cat(1, 0), 1, sg("a", 0, 0), false, ErrConflict, 1},
		{"negative base", cat(1, 0), 1, sg("a", -1, 10), false, ErrConflict, 1},
		{"no key", cat(1, 0), 1, sg("", 0, 1), false, ErrConflict, 1},
		{"range of a shared object", cat(1, 0, sg("a", 0, 10)), 1, rg("s", 40, 10, 20), true, nil, 1},
		{"retry of a range", cat(1, 0, rg("s", 40, 0, 10)), 1, rg("s", 40, 0, 10), false, nil, 1},
		{"same range at another position", cat(1, 0, rg("s", 40, 0, 10)), 1, rg("s", 0, 0, 10), false, ErrConflict, 1},
		{"range after a range of another object", cat(1, 0, rg("s", 40, 0, 10)), 1, rg("t", 40, 10, 20), true, nil, 1},
		{"negative position", cat(1, 0), 1, rg("s", -1, 0, 10), false, ErrConflict, 1},
		{"negative size", cat(1, 0), 1, SegmentRef{Key: "a", BaseOffset: 0, NextOffset: 10, Size: -1}, false, ErrConflict, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c.Clone()
			changed, err := c.RegisterSegment(tc.epoch, tc.seg)
			if changed != tc.changed {
				t.Fatalf("changed=%v, want %v (err %v)", changed, tc.changed, err)
			}
			checkErr(t, err, tc.err)
			if c.Epoch != tc.epochTo {
				t.Fatalf("epoch %d, want %d", c.Epoch, tc.epochTo)
			}
			want := len(tc.c.Segments)
			if changed && err == nil {
				want++
			}
			if len(c.Segments) != want {
				t.Fatalf("segments %v, want %d of them", keysOf(c.Segments), want)
			}
			if len(tc.c.Segments) > 0 && &tc.c.Segments[0] == &c.Segments[0] {
				t.Fatal("Clone shares the segment array")
			}
		})
	}
}

func TestReplaceSegmentsRules(t *testing.T) {
	base := cat(2, 0, sg("a", 0, 10), sg("b", 10, 20), sg("c", 20, 30))
	cases := []struct {
		name    string
		epoch   int32
		old     []string
		repl    []SegmentRef
		changed bool
		keys    []string
		epochTo int32
		err     error
	}{
		{"merge", 2, []string{"a", "b"}, []SegmentRef{sg("ab", 0, 20)}, true, []string{"ab", "c"}, 2, nil},
		{"merge all", 2, []string{"a", "b", "c"}, []SegmentRef{sg("abc", 0, 30)}, true, []string{"abc"}, 2, nil},
		{"split", 2, []string{"b"}, []SegmentRef{sg("b2", 15, 20), sg("b1", 10, 15)}, true, []string{"a", "b1", "b2", "c"}, 2, nil},
		{"drop middle leaves a hole", 2, []string{"b"}, nil, true, []string{"a", "c"}, 2, nil},
		{"newer epoch raises", 5, []string{"a", "b"}, []SegmentRef{sg("ab", 0, 20)}, true, []string{"ab", "c"}, 5, nil},
		{"stale epoch", 1, []string{"a", "b"}, []SegmentRef{sg("ab", 0, 20)}, false, []string{"a", "b", "c"}, 2, ErrFenced},
		{"retry", 2, []string{"x", "y"}, []SegmentRef{sg("a", 0, 10)}, false, []string{"a", "b", "c"}, 2, nil},
		{"retry after fencing", 1, []string{"x"}, []SegmentRef{sg("b", 10, 20)}, false, []string{"a", "b", "c"}, 2, nil},
		{"nothing to do is no retry", 2, nil, nil, true, []string{"a", "b", "c"}, 2, nil},
		{"missing old", 2, []string{"z"}, []SegmentRef{sg("z2", 0, 1)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"missing old under a newer epoch", 5, []string{"z"}, []SegmentRef{sg("z2", 0, 1)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"overlap kept", 2, []string{"a"}, []SegmentRef{sg("a2", 0, 11)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"overlap among replacements", 2, []string{"a", "b"}, []SegmentRef{sg("x", 0, 12), sg("y", 11, 20)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"duplicate key", 2, []string{"a"}, []SegmentRef{sg("c", 0, 10)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"invalid replacement", 2, []string{"a"}, []SegmentRef{sg("a2", 10, 10)}, false, []string{"a", "b", "c"}, 2, ErrConflict},
		{"same key new bounds", 2, []string{"a"}, []SegmentRef{sg("a", 0, 9)}, true, []string{"a", "b", "c"}, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base.Clone()
			changed, err := c.ReplaceSegments(tc.epoch, tc.old, tc.repl)
			if changed != tc.changed {
				t.Fatalf("changed=%v, want %v (err %v)", changed, tc.changed, err)
			}
			checkErr(t, err, tc.err)
			if got := keysOf(c.Segments); !slices.Equal(got, tc.keys) {
				t.Fatalf("keys %v, want %v", got, tc.keys)
			}
			if c.Epoch != tc.epochTo {
				t.Fatalf("epoch %d, want %d", c.Epoch, tc.epochTo)
			}
			if !slices.Equal(keysOf(base.Segments), []string{"a", "b", "c"}) {
				t.Fatalf("the cloned-from catalog changed: %v", keysOf(base.Segments))
			}
		})
	}
}

func TestSetLogStartOffsetRules(t *testing.T) {
	base := cat(2, 5, sg("a", 0, 10), sg("b", 10, 20), sg("c", 20, 30))
	cases := []struct {
		name    string
		epoch   int32
		offset  int64
		dropped []string
		changed bool
		keys    []string
		lso     int64
		epochTo int32
		err     error
	}{
		{"inside the first", 2, 7, nil, true, []string{"a", "b", "c"}, 7, 2, nil},
		{"at a boundary", 2, 10, []string{"a"}, true, []string{"b", "c"}, 10, 2, nil},
		{"inside the second", 2, 15, []string{"a"}, true, []string{"b", "c"}, 15, 2, nil},
		{"past everything", 2, 40, []string{"a", "b", "c"}, true, nil, 40, 2, nil},
		{"backwards is a no-op", 2, 3, nil, false, []string{"a", "b", "c"}, 5, 2, nil},
		{"same is a no-op", 2, 5, nil, false, []string{"a", "b", "c"}, 5, 2, nil},
		{"backwards under a newer epoch raises it", 3, 3, nil, true, []string{"a", "b", "c"}, 5, 3, nil},
		{"stale epoch", 1, 15, nil, false, []string{"a", "b", "c"}, 5, 2, ErrFenced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base.Clone()
			dropped, changed, err := c.SetLogStartOffset(tc.epoch, tc.offset)
			checkErr(t, err, tc.err)
			if changed != tc.changed {
				t.Fatalf("changed=%v, want %v", changed, tc.changed)
			}
			if got := keysOf(dropped); !slices.Equal(got, tc.dropped) {
				t.Fatalf("dropped %v, want %v", got, tc.dropped)
			}
			if got := keysOf(c.Segments); !slices.Equal(got, tc.keys) {
				t.Fatalf("keys %v, want %v", got, tc.keys)
			}
			if c.LogStartOffset != tc.lso || c.Epoch != tc.epochTo {
				t.Fatalf("log start %d epoch %d, want %d and %d", c.LogStartOffset, c.Epoch, tc.lso, tc.epochTo)
			}
			if len(dropped) > 0 && len(c.Segments) > 0 && &dropped[0] == &base.Segments[0] {
				t.Fatal("dropped shares the catalog's array")
			}
		})
	}
}

func TestSegmentsInRange(t *testing.T) {
	c := cat(1, 0, sg("a", 0, 10), sg("b", 10, 20), sg("c", 20, 30))
	cases := []struct {
		name     string
		from, to int64
		keys     []string
	}{
		{"all", 0, 100, []string{"a", "b", "c"}},
		{"one offset", 10, 11, []string{"b"}},
		{"straddles", 9, 21, []string{"a", "b", "c"}},
		{"end is exclusive", 0, 10, []string{"a"}},
		{"past the end", 30, 40, nil},
		{"empty range", 15, 15, nil},
		{"reversed range", 20, 10, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := c.SegmentsInRange(tc.from, tc.to)
			if !slices.Equal(keysOf(got), tc.keys) {
				t.Fatalf("SegmentsInRange(%d, %d) = %v, want %v", tc.from, tc.to, keysOf(got), tc.keys)
			}
			if len(got) > 0 {
				got[0].Key = "changed"
				if c.Segments[0].Key == "changed" || c.Segments[1].Key == "changed" {
					t.Fatal("SegmentsInRange shares the catalog's array")
				}
			}
		})
	}
}

func TestTopicValidate(t *testing.T) {
	cases := []struct {
		name string
		t    Topic
		ok   bool
	}{
		{"ok", Topic{Name: "a.b_c-D9", Partitions: 1}, true},
		{"longest name", Topic{Name: strings.Repeat("x", 249), Partitions: 1}, true},
		{"name too long", Topic{Name: strings.Repeat("x", 250), Partitions: 1}, false},
		{"empty name", Topic{Partitions: 1}, false},
		{"dot", Topic{Name: ".", Partitions: 1}, false},
		{"dot dot", Topic{Name: "..", Partitions: 1}, false},
		{"slash", Topic{Name: "a/b", Partitions: 1}, false},
		{"space", Topic{Name: "a b", Partitions: 1}, false},
		{"non-ASCII", Topic{Name: "é", Partitions: 1}, false},
		{"no partitions", Topic{Name: "a"}, false},
		{"negative partitions", Topic{Name: "a", Partitions: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.t.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestTopicPartitionCompare(t *testing.T) {
	tps := []TopicPartition{{"b", 0}, {"a", 10}, {"a", 2}, {"ab", 0}, {"a", 0}}
	slices.SortFunc(tps, TopicPartition.Compare)
	want := []TopicPartition{{"a", 0}, {"a", 2}, {"a", 10}, {"ab", 0}, {"b", 0}}
	if !slices.Equal(tps, want) {
		t.Fatalf("sorted %v, want %v", tps, want)
	}
}

func TestSegmentFormatRules(t *testing.T) {
	var c PartitionCatalog
	pq := SegmentRef{Key: "a.parquet", BaseOffset: 0, NextOffset: 10, Size: 100, Format: FormatParquet}
	if _, err := c.RegisterSegment(1, pq); err != nil {
		t.Fatal(err)
	}
	asSeg := pq
	asSeg.Format = FormatSegment
	if asSeg.Same(pq) {
		t.Fatal("a segment and a Parquet entry of the same key and range are the same")
	}
	for _, bad := range []SegmentRef{
		{Key: "b", BaseOffset: 10, NextOffset: 20, Format: 7},
		{Key: "b", BaseOffset: 10, NextOffset: 20, Position: 5, Format: FormatParquet},
	} {
		if _, err := c.RegisterSegment(1, bad); !errors.Is(err, ErrConflict) {
			t.Fatalf("%+v registered: %v", bad, err)
		}
	}
}
