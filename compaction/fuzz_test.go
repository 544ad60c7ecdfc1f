package compaction

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// FuzzCopyBatches feeds arbitrary object bytes to the check-and-copy step of a merge: it must
// never panic, and what it accepts must be whole valid batches inside the catalog's range.
func FuzzCopyBatches(f *testing.F) {
	var good bytes.Buffer
	w := segment.NewWriter(&good, 10, 0)
	for i := range 3 {
		if _, err := w.Append(segmenttest.Records(10+int64(i)*2, 1000, 2, 30)); err != nil {
			f.Fatal(err)
		}
	}
	if _, err := w.Seal(); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes(), int64(10), int64(16))
	f.Add(good.Bytes(), int64(10), int64(17))
	f.Add(good.Bytes()[:good.Len()-1], int64(10), int64(16))
	f.Add([]byte("STRATSEG"), int64(0), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, base, next int64) {
		if base < 0 || next <= base {
			return
		}
		s := metadata.SegmentRef{Key: "k", BaseOffset: base, NextOffset: next, Size: int64(len(data))}
		var out bytes.Buffer
		sw := segment.NewWriter(&out, base, 0)
		ref := metadata.SegmentRef{MinTimestamp: -1}
		err := copyBatches(sw, s, data, &ref)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap segment.ErrCorrupt", err)
			}
			return
		}
		ix, err := sw.Seal()
		if err != nil || ix.BaseOffset != base || ix.NextOffset != next {
			t.Fatalf("accepted input gives index %+v, %v; want [%d, %d)", ix, err, base, next)
		}
		r, err := segment.OpenReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(); err != nil {
			t.Fatalf("merged output does not verify: %v", err)
		}
	})
}
