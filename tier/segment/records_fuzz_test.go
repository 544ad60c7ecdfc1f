package segment_test

import (
	"errors"
	"runtime/metrics"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// heapAllocs is the process's cumulative heap allocation in bytes (approximate: small objects are
// counted by the span).
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// FuzzCheckRecords feeds arbitrary bytes two ways.
//
// As a whole batch: whatever passes ValidateBatch, CheckRecords answers without panicking, with an
// error wrapping ErrCorrupt, allocating no more than the bounded decoder state plus what the
// input's size justifies.
//
// As the records section of a batch counting n records, stored uncompressed and compressed by each
// codec: the in-place walker (uncompressed, snappy) and the streaming walker (gzip, lz4, zstd) must
// reach the same verdict — both accept, or both reject as ErrInvalidRecord.
func FuzzCheckRecords(f *testing.F) {
	f.Add(segmenttest.Records(0, 0, 3, 10), uint8(3))
	f.Add(appendRecords(records(7)...), uint8(7))
	f.Add(appendRecords(records(7)...), uint8(6))
	f.Add(appendRecords(rec(0, nil, nil), rec(2, nil, nil)), uint8(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(1))
	f.Add([]byte{}, uint8(0))
	for c := int16(1); c <= segment.CompressionZstd; c++ {
		f.Add(segmenttest.Batch{Codec: c, Values: [][]byte{[]byte("a"), nil, []byte("ccc")}}.Encode(), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		if info, err := segment.ValidateBatch(data); err == nil {
			before := heapAllocs()
			err := segment.CheckRecords(data, info)
			if grew := heapAllocs() - before; grew > 24<<20+22*uint64(len(data)) {
				t.Fatalf("checking %d bytes allocated %d", len(data), grew)
			}
			if err != nil && !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		}

		raw := append([]byte{}, data...) // non-nil: used as the records even when empty
		want := check(t, makeBatch(0, func(b []byte) []byte { return b }, raw, int(n)))
		if want != nil && !errors.Is(want, segment.ErrInvalidRecord) {
			t.Fatalf("uncompressed records: %v does not wrap ErrInvalidRecord", want)
		}
		for _, c := range codecs[1:] {
			got := check(t, makeBatch(c.codec, c.comp, raw, int(n)))
			if (got == nil) != (want == nil) || errors.Is(got, segment.ErrInvalidRecord) != errors.Is(want, segment.ErrInvalidRecord) {
				t.Fatalf("%s disagrees with uncompressed: %v vs %v", c.name, got, want)
			}
		}
	})
}
