package compaction

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/columnar/columnartest"
	"github.com/strata-log/strata/tier/segment"
)

// BenchmarkConvertSegment converts one 16 MiB segment object of 1 KiB JSON log records (batches of
// 10, as produced uncompressed) to Parquet in each value format, in memory: ConvertSegment, what a
// conversion does between its GET and its PUT. MB/s of segment bytes; MB/cpu-s per second of the
// process's CPU time (which a loaded machine does not skew).
func BenchmarkConvertSegment(b *testing.B) {
	obj, ref := jsonSegment(b, 16<<20)
	for _, vf := range []string{"bytes", "json", "json-columns"} {
		b.Run(vf, func(b *testing.B) {
			f, err := columnar.ParseValueFormat(vf)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(obj)))
			var size int
			cpu := processCPU()
			for b.Loop() {
				out, _, err := ConvertSegment(0, ref, obj, columnar.Options{ValueFormat: f})
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			if d := processCPU() - cpu; d > 0 {
				b.ReportMetric(float64(b.N)*float64(len(obj))/1e6/d.Seconds(), "MB/cpu-s")
			}
			b.ReportMetric(float64(size)/float64(len(obj)), "parquet/segment")
		})
	}
}

// jsonSegment returns a sealed segment object of about size bytes of JSON log records, and its
// catalog entry.
func jsonSegment(b *testing.B, size int) ([]byte, metadata.SegmentRef) {
	g := columnartest.NewLogs(3)
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, 0, 0)
	ts, off := int64(1_780_000_000_000), int64(0)
	for w.Size() < int64(size) {
		recs := make([]segment.Record, 10)
		for i := range recs {
			ts++
			k, v := g.Next(ts, 1024)
			recs[i] = segment.Record{Timestamp: ts, Key: k, Value: v}
		}
		batch := segment.AppendBatch(nil, segment.NewBatch{BaseOffset: off, FirstTimestamp: recs[0].Timestamp, ProducerID: -1,
			ProducerEpoch: -1, BaseSequence: -1, Records: recs})
		if _, err := w.Append(batch); err != nil {
			b.Fatal(err)
		}
		off += int64(len(recs))
	}
	ix, err := w.Seal()
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), metadata.SegmentRef{BaseOffset: ix.BaseOffset, NextOffset: ix.NextOffset, Size: int64(buf.Len())}
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
