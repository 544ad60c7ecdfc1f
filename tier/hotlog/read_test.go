package hotlog

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// threeRecords is a batch of records stamped t, t+10 and t+20, stored with codec.
func threeRecords(t int64, codec int16) []byte {
	return segmenttest.Batch{FirstTimestamp: t, Timestamps: []int64{t, t + 10, t + 20}, Codec: codec,
		Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}.Encode()
}

// TestOffsetForTimestampExactRecord: the answer is the record, not the batch holding it, across
// segments and codecs, and never below the start offset even when the start cuts a batch.
func TestOffsetForTimestampExactRecord(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 300, IndexIntervalBytes: 100})
	// Batch i: offsets [3i, 3i+3), timestamps 1000i + {0, 10, 20}, codec i%5.
	for i := range 10 {
		mustAppend(t, l, threeRecords(int64(1000*i), int16(i%5)))
	}
	if n := len(l.Segments()); n < 3 {
		t.Fatalf("want several segments, got %d", n)
	}
	tests := []struct {
		ts, start int64
		off, at   int64 // want; off -1: none
	}{
		{ts: -1, off: 0, at: 0},
		{ts: 5, off: 1, at: 10},
		{ts: 10, off: 1, at: 10},
		{ts: 11, off: 2, at: 20},
		{ts: 21, off: 3, at: 1000},
		{ts: 4005, off: 13, at: 4010},
		{ts: 9015, off: 29, at: 9020},
		{ts: 9021, off: -1, at: -1},
		{ts: 4005, start: 14, off: 14, at: 4020},
		{ts: 4015, start: 15, off: 15, at: 5000},
		{ts: 9005, start: 29, off: 29, at: 9020},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("ts=%d,start=%d", tt.ts, tt.start), func(t *testing.T) {
			if err := l.SetStartOffset(tt.start); err != nil { // only moves forward: tests ascend
				t.Fatal(err)
			}
			off, at, found, err := l.OffsetForTimestamp(tt.ts)
			if err != nil || found != (tt.off >= 0) || off != tt.off || at != tt.at {
				t.Fatalf("OffsetForTimestamp(%d) = %d@%d found=%v err=%v, want %d@%d", tt.ts, off, at, found, err, tt.off, tt.at)
			}
		})
	}
}

// TestOffsetForTimestampErrors: a corrupt batch on disk is an error wrapping segment.ErrCorrupt
// (not "no such record"); a closed log is ErrClosed.
func TestOffsetForTimestampErrors(t *testing.T) {
	_, l := openTestLog(t, Config{})
	mustAppend(t, l, threeRecords(100, 0))
	mustAppend(t, l, threeRecords(200, 0))
	if off, _, _, err := l.OffsetForTimestamp(205); err != nil || off != 4 {
		t.Fatalf("before corruption: %d %v", off, err)
	}
	segs := l.Segments()
	f, err := os.OpenFile(segs[len(segs)-1].Path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A byte inside the second batch's records: the CRC no longer matches.
	size := int64(len(threeRecords(200, 0)))
	if _, err := f.WriteAt([]byte{0xee}, segs[len(segs)-1].Size-size+segment.BatchHeaderSize+3); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, _, found, err := l.OffsetForTimestamp(205); found || !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("corrupt batch: found=%v err=%v", found, err)
	}
	if off, _, found, err := l.OffsetForTimestamp(105); err != nil || !found || off != 1 {
		t.Fatalf("the intact batch before it: %d %v %v", off, found, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := l.OffsetForTimestamp(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed: %v", err)
	}
}
