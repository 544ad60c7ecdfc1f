package memmeta

import (
	"errors"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func sg(key string, base, next int64) metadata.SegmentRef {
	return metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: next, Size: next - base}
}

func cat(epoch int32, lso int64, segs ...metadata.SegmentRef) metadata.PartitionCatalog {
	return metadata.PartitionCatalog{Epoch: epoch, LogStartOffset: lso, Segments: segs}
}

func TestRegisterSegmentRules(t *testing.T) {
	cases := []struct {
		name    string
		c       metadata.PartitionCatalog
		epoch   int32
		seg     metadata.SegmentRef
		changed bool
		err     error
		epochTo int32
	}{
		{"first at zero", cat(1, 0), 1, sg("a", 0, 10), true, nil, 1},
		{"first must hold log start", cat(1, 5), 1, sg("a", 0, 10), true, nil, 1},
		{"first past log start is a gap", cat(1, 5), 1, sg("a", 6, 10), false, metadata.ErrConflict, 1},
		{"first below log start", cat(1, 10), 1, sg("a", 0, 10), false, metadata.ErrConflict, 1},
		{"append", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 10, 20), true, nil, 1},
		{"gap", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 11, 20), false, metadata.ErrConflict, 1},
		{"overlap", cat(1, 0, sg("a", 0, 10)), 1, sg("b", 9, 20), false, metadata.ErrConflict, 1},
		{"retry", cat(1, 0, sg("a", 0, 10)), 1, sg("a", 0, 10), false, nil, 1},
		{"retry after fencing", cat(3, 0, sg("a", 0, 10)), 1, sg("a", 0, 10), false, nil, 3},
		{"key reused", cat(1, 0, sg("a", 0, 10)), 1, sg("a", 10, 20), false, metadata.ErrConflict, 1},
		{"stale epoch", cat(2, 0), 1, sg("a", 0, 10), false, metadata.ErrFenced, 2},
		{"newer epoch raises", cat(2, 0), 4, sg("a", 0, 10), true, nil, 4},
		{"newer epoch raises even on conflict", cat(2, 0), 4, sg("a", 3, 10), true, metadata.ErrConflict, 4},
		{"empty segment", cat(1, 0), 1, sg("a", 0, 0), false, metadata.ErrConflict, 1},
		{"no key", cat(1, 0), 1, sg("", 0, 1), false, metadata.ErrConflict, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := CloneCatalog(tc.c)
			changed, err := RegisterSegment(&c, tc.epoch, tc.seg)
			if changed != tc.changed || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("changed=%v err=%v, want changed=%v err=%v", changed, err, tc.changed, tc.err)
			}
			if c.Epoch != tc.epochTo {
				t.Fatalf("epoch %d, want %d", c.Epoch, tc.epochTo)
			}
			if len(tc.c.Segments) > 0 && &tc.c.Segments[0] == &c.Segments[0] {
				t.Fatal("CloneCatalog shares the segment array")
			}
		})
	}
}

func TestReplaceAndTrimRules(t *testing.T) {
	base := cat(1, 0, sg("a", 0, 10), sg("b", 10, 20), sg("c", 20, 30))
	cases := []struct {
		name string
		old  []string
		repl []metadata.SegmentRef
		keys []string
		err  error
	}{
		{"merge", []string{"a", "b"}, []metadata.SegmentRef{sg("ab", 0, 20)}, []string{"ab", "c"}, nil},
		{"drop middle leaves a hole", []string{"b"}, nil, []string{"a", "c"}, nil},
		{"missing old", []string{"z"}, []metadata.SegmentRef{sg("z2", 0, 1)}, []string{"a", "b", "c"}, metadata.ErrConflict},
		{"overlap kept", []string{"a"}, []metadata.SegmentRef{sg("a2", 0, 11)}, []string{"a", "b", "c"}, metadata.ErrConflict},
		{"duplicate key", []string{"a"}, []metadata.SegmentRef{sg("c", 0, 10)}, []string{"a", "b", "c"}, metadata.ErrConflict},
		{"same key new bounds", []string{"a"}, []metadata.SegmentRef{sg("a", 0, 9)}, []string{"a", "b", "c"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := CloneCatalog(base)
			_, err := ReplaceSegments(&c, 1, tc.old, tc.repl)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err=%v, want %v", err, tc.err)
			}
			var keys []string
			for _, s := range c.Segments {
				keys = append(keys, s.Key)
			}
			if len(keys) != len(tc.keys) {
				t.Fatalf("keys %v, want %v", keys, tc.keys)
			}
			for i := range keys {
				if keys[i] != tc.keys[i] {
					t.Fatalf("keys %v, want %v", keys, tc.keys)
				}
			}
		})
	}

	c := CloneCatalog(base)
	dropped, changed, err := SetLogStartOffset(&c, 1, 15)
	if err != nil || !changed || len(dropped) != 1 || dropped[0].Key != "a" || c.LogStartOffset != 15 || len(c.Segments) != 2 {
		t.Fatalf("trim to 15: dropped %v changed %v err %v catalog %+v", dropped, changed, err, c)
	}
	if got := SegmentsInRange(c, 0, 100); len(got) != 2 || got[0].Key != "b" {
		t.Fatalf("SegmentsInRange after trim = %v", got)
	}
}
