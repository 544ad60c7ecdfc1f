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
//
// RecordForTimestamp, for a target d milliseconds after the batch's first timestamp, is held to the
// same: no panic, errors wrapping ErrCorrupt, no error on a batch CheckRecords accepts, an answer
// inside the batch at or after the target (the batch's own time for LogAppendTime), and the same
// answer (or both an error) from every codec.
func FuzzCheckRecords(f *testing.F) {
	f.Add(segmenttest.Records(0, 0, 3, 10), uint8(3), int64(3))
	f.Add(appendRecords(records(7)...), uint8(7), int64(7))
	f.Add(appendRecords(records(7)...), uint8(6), int64(6))
	f.Add(appendRecords(rec(0, nil, nil), rec(2, nil, nil)), uint8(2), int64(2))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint8(1), int64(1))
	f.Add([]byte{}, uint8(0), int64(0))
	appendTime := segmenttest.Records(5, 100, 4, 10)
	segment.SetLogAppendTime(appendTime, 150)
	f.Add(appendTime, uint8(4), int64(20))
	for c := int16(1); c <= segment.CompressionZstd; c++ {
		f.Add(segmenttest.Batch{Codec: c, Values: [][]byte{[]byte("a"), nil, []byte("ccc")}}.Encode(), uint8(0), int64(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8, d int64) {
		if info, err := segment.ValidateBatch(data); err == nil {
			before := heapAllocs()
			err := segment.CheckRecords(data, info)
			if grew := heapAllocs() - before; grew > 24<<20+22*uint64(len(data)) {
				t.Fatalf("checking %d bytes allocated %d", len(data), grew)
			}
			if err != nil && !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			checkTimestampAnswer(t, data, info, info.FirstTimestamp+d, err == nil)
		}

		raw := append([]byte{}, data...) // non-nil: used as the records even when empty
		want := check(t, makeBatch(0, func(b []byte) []byte { return b }, raw, int(n)))
		if want != nil && !errors.Is(want, segment.ErrInvalidRecord) {
			t.Fatalf("uncompressed records: %v does not wrap ErrInvalidRecord", want)
		}
		plain := makeBatch(0, codecs[0].comp, raw, int(n))
		wantAns := checkTimestampAnswer(t, plain, mustInfo(t, plain), d, want == nil)
		for _, c := range codecs[1:] {
			b := makeBatch(c.codec, c.comp, raw, int(n))
			got := check(t, b)
			if (got == nil) != (want == nil) || errors.Is(got, segment.ErrInvalidRecord) != errors.Is(want, segment.ErrInvalidRecord) {
				t.Fatalf("%s disagrees with uncompressed: %v vs %v", c.name, got, want)
			}
			if ans := checkTimestampAnswer(t, b, mustInfo(t, b), d, got == nil); ans != wantAns {
				t.Fatalf("%s: timestamp %d answers %+v, uncompressed %+v", c.name, d, ans, wantAns)
			}
		}
	})
}

// tsAnswer is what RecordForTimestamp said.
type tsAnswer struct {
	off, ts int64
	found   bool
	failed  bool
}

func mustInfo(t *testing.T, b []byte) segment.BatchInfo {
	t.Helper()
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// checkTimestampAnswer asks RecordForTimestamp for target and checks what any answer must satisfy;
// valid says CheckRecords accepted the batch.
func checkTimestampAnswer(t *testing.T, b []byte, info segment.BatchInfo, target int64, valid bool) tsAnswer {
	t.Helper()
	off, ts, found, err := segment.RecordForTimestamp(b, info, target)
	switch {
	case err != nil && !errors.Is(err, segment.ErrCorrupt):
		t.Fatalf("RecordForTimestamp error %v does not wrap ErrCorrupt", err)
	case err != nil && (valid || found):
		t.Fatalf("RecordForTimestamp on a batch CheckRecords accepts: %v (found %v)", err, found)
	case !found && (off != -1 || ts != -1):
		t.Fatalf("not found, yet %d@%d", off, ts)
	case found && (off < info.BaseOffset || off > info.LastOffset() || ts < target):
		t.Fatalf("answer %d@%d outside the batch [%d, %d] or before %d", off, ts, info.BaseOffset, info.LastOffset(), target)
	case found && info.LogAppendTime() && (ts != info.MaxTimestamp || off != info.BaseOffset):
		t.Fatalf("LogAppendTime batch answers %d@%d, want its first record at %d", off, ts, info.MaxTimestamp)
	}
	return tsAnswer{off, ts, found, err != nil}
}
