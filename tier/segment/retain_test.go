package segment_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// TestRetain rebuilds batches of every codec keeping records 1 and 3 of 5 (record 3 a tombstone,
// record 2 without a key) and checks what Kafka's cleaner keeps: offsets, producer fields, last
// offset delta, CRC, and the records byte for byte; the timestamp lookup reads across the gaps,
// while CheckRecords, for produced batches, refuses them.
func TestRetain(t *testing.T) {
	for codec := int16(0); codec <= 4; codec++ {
		t.Run(fmt.Sprintf("codec%d", codec), func(t *testing.T) {
			in := segmenttest.Batch{BaseOffset: 100, FirstTimestamp: 1000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40,
				Keys:   [][]byte{[]byte("a"), []byte("b"), nil, []byte("c"), []byte("d")},
				Values: [][]byte{[]byte("v0"), []byte("v1"), []byte("v2"), nil, []byte("v4")},
				Codec:  codec}.Encode()
			info, err := segment.ValidateBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			var r segment.Retainer
			compress := func(c int, recs []byte) []byte { return segmenttest.Compress(int16(c), recs) }
			out, kept, err := r.Retain(nil, in, info, func(s segment.StoredRecord) bool {
				return s.Offset == 101 || s.Offset == 103
			}, compress)
			if err != nil || kept != 2 {
				t.Fatalf("Retain: kept %d, %v", kept, err)
			}
			got, err := segment.ValidateBatch(out)
			if err != nil {
				t.Fatal(err)
			}
			if got.Size() != len(out) || got.BaseOffset != 100 || got.LastOffsetDelta != 4 || got.NumRecords != 2 ||
				got.ProducerID != 7 || got.ProducerEpoch != 2 || got.BaseSequence != 40 || got.FirstTimestamp != 1000 ||
				got.MaxTimestamp != 1003 || got.Compression() != int(codec) {
				t.Fatalf("rebuilt header %+v", got)
			}
			var recs []segment.StoredRecord
			if err := r.Each(out, got, func(s segment.StoredRecord) error {
				s.Key, s.Value = bytes.Clone(s.Key), bytes.Clone(s.Value)
				recs = append(recs, s)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 || recs[0].Offset != 101 || string(recs[0].Key) != "b" || string(recs[0].Value) != "v1" ||
				recs[1].Offset != 103 || string(recs[1].Key) != "c" || recs[1].Value != nil || recs[1].Timestamp != 1003 {
				t.Fatalf("records %+v", recs)
			}
			if off, ts, found, err := segment.RecordForTimestamp(out, got, 1002); err != nil || !found || off != 103 || ts != 1003 {
				t.Fatalf("RecordForTimestamp: %d %d %v %v", off, ts, found, err)
			}
			if err := segment.CheckRecords(out, got); !errors.Is(err, segment.ErrInvalidRecord) {
				t.Fatalf("CheckRecords of a compacted batch: %v", err)
			}

			// Keeping all is the batch verbatim, keeping none appends nothing.
			if all, n, err := r.Retain([]byte("x"), in, info, func(segment.StoredRecord) bool { return true }, compress); err != nil ||
				n != 5 || !bytes.Equal(all[1:], in) {
				t.Fatalf("keep all: %d, %v", n, err)
			}
			if none, n, err := r.Retain(nil, in, info, func(segment.StoredRecord) bool { return false }, compress); err != nil ||
				n != 0 || len(none) != 0 {
				t.Fatalf("keep none: %d bytes, %d, %v", len(none), n, err)
			}
			// An empty batch still covers the batch's offsets, for the segment it ends.
			empty := segment.AppendEmptyBatch(nil, info)
			if e, err := segment.ValidateBatch(empty); err != nil || e.NumRecords != 0 || e.NextOffset() != info.NextOffset() ||
				e.ProducerID != 7 || e.Size() != len(empty) || e.Compression() != 0 {
				t.Fatalf("empty batch %+v, %v", e, err)
			}
		})
	}
}

func TestRetainRejectsBadDeltas(t *testing.T) {
	in := segmenttest.Batch{Keys: [][]byte{[]byte("a"), []byte("b")}, Values: [][]byte{[]byte("1"), []byte("2")}}.Encode()
	info, err := segment.ValidateBatch(in)
	if err != nil {
		t.Fatal(err)
	}
	info.NumRecords = 3 // more records than LastOffsetDelta allows
	var r segment.Retainer
	if err := r.Each(in, info, func(segment.StoredRecord) error { return nil }); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("Each: %v", err)
	}
}

// FuzzRetain feeds arbitrary batches to the compaction reader and rewriter: errors, never panics,
// and what Retain writes is a valid batch that Each reads back.
func FuzzRetain(f *testing.F) {
	for codec := int16(0); codec <= 4; codec++ {
		f.Add(segmenttest.Batch{Keys: [][]byte{[]byte("k"), nil}, Values: [][]byte{nil, []byte("v")}, Codec: codec}.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := segment.ValidateBatch(b)
		if err != nil {
			return
		}
		var r segment.Retainer
		out, kept, err := r.Retain(nil, b, info, func(s segment.StoredRecord) bool { return s.Offset%2 == 0 }, nil)
		if err != nil || kept == 0 {
			return
		}
		got, err := segment.ValidateBatch(out)
		if err != nil || int(got.NumRecords) != kept {
			t.Fatalf("rebuilt batch: %+v, %v", got, err)
		}
		if err := r.Each(out, got, func(segment.StoredRecord) error { return nil }); err != nil {
			t.Fatalf("reading the rebuilt batch: %v", err)
		}
	})
}
