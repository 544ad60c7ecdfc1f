package segment_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// mustCorrupt fails unless err is nil or wraps ErrCorrupt: every rejection of bad bytes must be
// branchable.
func mustCorrupt(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, segment.ErrCorrupt) && !errors.Is(err, segment.ErrOutOfRange) {
		t.Fatalf("%s: error %v does not wrap ErrCorrupt", what, err)
	}
}

func fuzzSeeds(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "v1.seg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(golden[:len(golden)-1])
	f.Add(writeSegment(f, 0, nil, 0))
	f.Add(writeSegment(f, 5, testBatches(5, 3), 1))
	f.Add(bytes.Join(testBatches(0, 4), nil))
	f.Add(segmenttest.Records(0, 0, 1, 0))
	f.Add([]byte{})
	f.Add(make([]byte, 61))
}

func FuzzReader(f *testing.F) {
	fuzzSeeds(f)
	withCodecs, _ := tsSegment(f, 7, 12, 1) // every codec, LogAppendTime batches
	f.Add(withCodecs)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
		mustCorrupt(t, "open", err)
		if err != nil {
			return
		}
		ix := r.Index()
		if ix.DataSize > int64(len(data)) {
			t.Fatalf("data size %d beyond %d bytes", ix.DataSize, len(data))
		}
		mustCorrupt(t, "verify", r.Verify())
		for _, off := range []int64{ix.BaseOffset, (ix.BaseOffset + ix.NextOffset) / 2, ix.NextOffset - 1} {
			pos, _, err := r.FindOffset(off)
			mustCorrupt(t, "find", err)
			if err == nil {
				out, outEnd, err := r.ReadBatches(nil, pos, 1000, -1)
				mustCorrupt(t, "read", err)
				if len(out) > len(data) {
					t.Fatalf("read %d bytes from a %d-byte segment", len(out), len(data))
				}
				end, _, endErr := r.BatchesEnd(pos, 0, 1000, -1)
				mustCorrupt(t, "batches end", endErr)
				if err == nil && endErr == nil && end != outEnd {
					t.Fatalf("BatchesEnd %d, ReadBatches ends at %d", end, outEnd)
				}
			}
		}
		for _, q := range []int64{-1 << 62, ix.MaxTimestamp / 2, ix.MaxTimestamp} {
			for _, from := range []int64{ix.BaseOffset, (ix.BaseOffset + ix.NextOffset) / 2} {
				off, at, found, err := r.FindRecord(q, from)
				mustCorrupt(t, "find record", err)
				if found && (off < from || off >= ix.NextOffset || at < q) {
					t.Fatalf("FindRecord(%d, from %d) = %d@%d, outside [%d, %d) or before the target", q, from, off, at, from, ix.NextOffset)
				}
			}
		}
		mustCorrupt(t, "scan", r.Scan(0, func(int64, segment.BatchInfo) error { return nil }))
	})
}

func FuzzRecover(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := segment.Recover(bytes.NewReader(data), int64(len(data)), 0, 64)
		if err != nil {
			t.Fatalf("Recover returned an I/O error for in-memory bytes: %v", err)
		}
		mustCorrupt(t, "torn", rec.Torn)
		if rec.Index.DataSize > int64(len(data)) || (rec.Torn == nil) != (rec.Index.DataSize == int64(len(data))) {
			t.Fatalf("valid %d of %d, torn %v", rec.Index.DataSize, len(data), rec.Torn)
		}
		// The valid prefix must split cleanly and read back through an indexed reader.
		s := segment.NewSplitter(data[:rec.Index.DataSize])
		n := int64(0)
		for s.Next() {
			n++
		}
		if s.Err() != nil || n != rec.Index.Batches {
			t.Fatalf("prefix splits into %d batches (%v), index says %d", n, s.Err(), rec.Index.Batches)
		}
		if err := segment.NewIndexedReader(bytes.NewReader(data), rec.Index).Verify(); err != nil {
			t.Fatalf("recovered prefix fails Verify: %v", err)
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	fuzzSeeds(f)
	f.Add(gzipBatch(f, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := segment.ParseBatch(data)
		mustCorrupt(t, "parse", err)
		if err == nil && (info.Size() > len(data) || info.Size() < segment.BatchHeaderSize) {
			t.Fatalf("size %d for %d bytes", info.Size(), len(data))
		}
		vinfo, verr := segment.ValidateBatch(data)
		mustCorrupt(t, "validate", verr)
		if verr == nil && (err != nil || vinfo != info) {
			t.Fatalf("ValidateBatch accepted what ParseBatch rejected or disagreed")
		}
		s := segment.NewSplitter(data)
		for s.Next() {
			if len(s.Batch()) != s.Info().Size() {
				t.Fatal("splitter batch size mismatch")
			}
		}
		mustCorrupt(t, "split", s.Err())
	})
}
