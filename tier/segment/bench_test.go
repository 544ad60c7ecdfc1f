package segment_test

import (
	"bytes"
	"io"
	"math/rand/v2"
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

// benchValues is 1 MiB of 1 KiB values, half random hex, half fixed text, so the codecs compress
// it about 2×.
func benchValues() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const hex = "0123456789abcdef"
	var vals [][]byte
	for size := 0; size < 1<<20-1100; size += 1024 {
		v := make([]byte, 0, 1000)
		for len(v) < 500 {
			v = append(v, hex[rng.IntN(16)])
		}
		for len(v) < 1000 {
			v = append(v, `{"level":"info","msg":"request served","path":"/v1/items"} `...)
		}
		vals = append(vals, v[:1000])
	}
	return vals
}

var benchCodecs = []struct {
	name  string
	codec int16
}{{"none", 0}, {"gzip", segment.CompressionGzip}, {"snappy", segment.CompressionSnappy},
	{"lz4", segment.CompressionLZ4}, {"zstd", segment.CompressionZstd}}

// BenchmarkRecordForTimestamp looks up the middle record of the 1 MiB batch of BenchmarkCheckRecords
// (a timestamp per record, 1 ms apart): the walk stops there. MB/s are of the uncompressed records
// walked.
func BenchmarkRecordForTimestamp(b *testing.B) {
	vals := benchValues()
	ts := make([]int64, len(vals))
	for i := range ts {
		ts[i] = 1000 + int64(i)
	}
	mid := len(vals) / 2
	for _, c := range benchCodecs {
		b.Run(c.name, func(b *testing.B) {
			batch := segmenttest.Batch{Codec: c.codec, FirstTimestamp: ts[0], Timestamps: ts, Values: vals}.Encode()
			info, err := segment.ValidateBatch(batch)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(segmenttest.Batch{Values: vals[:mid+1]}.Encode())))
			b.ReportAllocs()
			for b.Loop() {
				if off, _, found, err := segment.RecordForTimestamp(batch, info, ts[mid]); err != nil || !found || off != int64(mid) {
					b.Fatal(off, found, err)
				}
			}
		})
	}
}

// BenchmarkCheckRecords walks a 1 MiB batch of 1 KiB records (half random hex, half fixed text,
// so the codecs compress it about 2×) stored with each codec. MB/s are of uncompressed records.
func BenchmarkCheckRecords(b *testing.B) {
	vals := benchValues()
	raw := segmenttest.Batch{Values: vals}.Encode()
	for _, c := range benchCodecs {
		b.Run(c.name, func(b *testing.B) {
			batch := segmenttest.Batch{Codec: c.codec, Values: vals}.Encode()
			info, err := segment.ValidateBatch(batch)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := segment.CheckRecords(batch, info); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(raw))/float64(len(batch)), "ratio")
		})
	}
}
