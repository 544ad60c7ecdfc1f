package segment_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// benchBatches is 1 MiB of 16 KiB batches of 1 KiB records.
func benchBatches() ([][]byte, int) {
	var out [][]byte
	total := 0
	for off := int64(0); total < 1<<20; off += 16 {
		b := segmenttest.Records(off, off, 16, 1000)
		out = append(out, b)
		total += len(b)
	}
	return out, total
}

func BenchmarkWrite(b *testing.B) {
	batches, total := benchBatches()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		w := segment.NewWriter(io.Discard, 0, 0)
		for _, bt := range batches {
			if _, err := w.Append(bt); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Seal(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	batches, total := benchBatches()
	data := writeSegment(b, 0, batches, 0)
	rd := bytes.NewReader(data)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	buf := make([]byte, 0, total)
	for b.Loop() {
		r, err := segment.OpenReader(rd, int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		pos, _, err := r.FindOffset(0)
		for err == nil && pos < r.Index().DataSize {
			buf, pos, err = r.ReadBatches(buf[:0], pos, 256<<10, -1)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecover(b *testing.B) {
	batches, total := benchBatches()
	data := bytes.Join(batches, nil)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		rec, err := segment.Recover(bytes.NewReader(data), int64(len(data)), 0, 0)
		if err != nil || rec.Torn != nil {
			b.Fatal(err, rec.Torn)
		}
	}
}
