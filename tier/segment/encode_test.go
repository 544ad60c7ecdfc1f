package segment_test

import (
	"bytes"
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// AppendBatch writes a batch that passes every check a broker makes, after any prefix, with the
// header fields derived from its records; kmsg decodes the records back.
func TestAppendBatch(t *testing.T) {
	nb := segment.NewBatch{
		BaseOffset: 40, FirstTimestamp: 1000, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3,
		Records: []segment.Record{
			{Timestamp: 1000, Key: []byte("a"), Value: []byte("one")},
			{Timestamp: 1500, Value: bytes.Repeat([]byte("v"), 300)},
			{Timestamp: 1200},
		},
	}
	prefix := []byte("prefix")
	out := segment.AppendBatch(bytes.Clone(prefix), nb)
	if !bytes.Equal(out[:len(prefix)], prefix) {
		t.Fatal("prefix overwritten")
	}
	b := out[len(prefix):]
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := segment.CheckRecords(b, info); err != nil {
		t.Fatal(err)
	}
	want := segment.BatchInfo{BaseOffset: 40, Length: info.Length, PartitionLeaderEpoch: -1, Magic: 2, CRC: info.CRC,
		LastOffsetDelta: 2, FirstTimestamp: 1000, MaxTimestamp: 1500, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 3, NumRecords: 3}
	if info != want || info.Size() != len(b) {
		t.Fatalf("header %+v (size %d of %d)\nwant   %+v", info, info.Size(), len(b), want)
	}
	recs := decodeRecords(t, b[segment.BatchHeaderSize:])
	if len(recs) != 3 || string(recs[0].Key) != "a" || recs[0].Value == nil || recs[2].Key != nil || recs[2].Value != nil ||
		len(recs[1].Value) != 300 || recs[1].TimestampDelta64 != 500 || recs[2].OffsetDelta != 2 {
		t.Fatalf("records %+v", recs)
	}
	if off, ts, ok, err := segment.RecordForTimestamp(b, info, 1300); err != nil || !ok || off != 41 || ts != 1500 {
		t.Fatalf("record for 1300: %d %d %v %v", off, ts, ok, err)
	}

	empty := segment.AppendBatch(nil, segment.NewBatch{FirstTimestamp: 5, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
	if info, err := segment.ValidateBatch(empty); err != nil || info.NumRecords != 0 || info.LastOffsetDelta != 0 || info.MaxTimestamp != 5 {
		t.Fatalf("empty batch %+v %v", info, err)
	}
}

// Compress replaces the record bytes the batch carries; the CRC covers what is carried.
func TestAppendBatchCompress(t *testing.T) {
	var seen []byte
	nb := segment.NewBatch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Attributes: segment.CompressionGzip,
		Records: []segment.Record{{Value: []byte("x")}},
		Compress: func(recs []byte) []byte {
			seen = bytes.Clone(recs)
			return []byte("stand-in for a gzip stream")
		}}
	b := segment.AppendBatch(nil, nb)
	info, err := segment.ValidateBatch(b)
	if err != nil || info.Compression() != segment.CompressionGzip || string(b[segment.BatchHeaderSize:]) != "stand-in for a gzip stream" {
		t.Fatalf("%+v %v %q", info, err, b[segment.BatchHeaderSize:])
	}
	plain := segment.AppendBatch(nil, segment.NewBatch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: nb.Records})
	if !bytes.Equal(seen, plain[segment.BatchHeaderSize:]) {
		t.Fatalf("Compress was given %x, want the encoded records %x", seen, plain[segment.BatchHeaderSize:])
	}
}
