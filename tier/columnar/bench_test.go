package columnar_test

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/columnar/columnartest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// jsonLogs returns n JSON log records of about 1 KiB (the bench's, columnartest.Logs) in batches of per
// records, encoded by segment with codec (0: none) as a producer would.
func jsonLogs(n, per int, codec int16) []byte {
	g := columnartest.NewLogs(1)
	var out []byte
	ts := int64(1_780_000_000_000)
	for base := 0; base < n; base += per {
		var recs []segment.Record
		for i := range per {
			k, v := g.Next(ts+int64(base+i), 1024)
			recs = append(recs, segment.Record{Timestamp: ts + int64(base+i), Key: k, Value: v})
		}
		nb := segment.NewBatch{BaseOffset: int64(base), FirstTimestamp: recs[0].Timestamp, Attributes: codec,
			ProducerID: 7, ProducerEpoch: 0, BaseSequence: int32(base), Records: recs}
		if codec != 0 {
			nb.Compress = func(r []byte) []byte { return segmenttest.Compress(codec, r) }
		}
		out = segment.AppendBatch(out, nb)
	}
	return out
}

// BenchmarkColumnarSize reports Parquet bytes per segment byte for 1 KiB JSON log records sent
// uncompressed and zstd-compressed (batches of 100), in each value format, and the
// conversion rate: MB/s of the records' uncompressed batch bytes (whatever the producer's codec),
// one goroutine; MB/cpu-s per second of this process's CPU time, which a loaded machine does not
// skew.
func BenchmarkColumnarSize(b *testing.B) {
	raw := len(jsonLogs(20000, 100, 0))
	for _, codec := range []int16{0, segment.CompressionZstd} {
		data := jsonLogs(20000, 100, codec)
		for _, vf := range []string{"bytes", "json", "json-columns"} {
			b.Run(fmt.Sprintf("codec=%d/%s", codec, vf), func(b *testing.B) {
				vf, err := columnar.ParseValueFormat(vf)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(raw))
				var size int64
				cpu := cpuTime()
				for b.Loop() {
					w := columnar.NewWriter(0, columnar.Options{ValueFormat: vf})
					if err := w.Add(data); err != nil {
						b.Fatal(err)
					}
					var buf bytes.Buffer
					st, err := w.WriteTo(&buf, 0, w.End())
					if err != nil {
						b.Fatal(err)
					}
					size = st.Bytes
				}
				reportCPU(b, cpu, raw)
				b.ReportMetric(float64(size)/float64(len(data)), "parquet/segment")
				b.ReportMetric(float64(len(data))/20000, "segB/rec")
			})
		}
	}
}

// BenchmarkColumnarReplay reads a whole object's batches from memory as Fetch does (1 MiB at a
// time, rebuilt in the produced codec), MB/s (and MB/cpu-s) of the records' uncompressed batch
// bytes; values kept whole (json) and rebuilt from their columns (json-columns).
func BenchmarkColumnarReplay(b *testing.B) {
	raw := len(jsonLogs(20000, 100, 0))
	for _, c := range []struct {
		codec int16
		vf    columnar.ValueFormat
		name  string
	}{{0, columnar.ValueJSON, "json"}, {segment.CompressionZstd, columnar.ValueJSON, "json"}, {0, columnar.ValueJSONColumns, "json-columns"}} {
		codec := c.codec
		data := jsonLogs(20000, 100, codec)
		w := columnar.NewWriter(0, columnar.Options{ValueFormat: c.vf})
		if err := w.Add(data); err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf, 0, w.End()); err != nil {
			b.Fatal(err)
		}
		obj := buf.Bytes()
		b.Run(fmt.Sprintf("codec=%d/%s", codec, c.name), func(b *testing.B) {
			b.SetBytes(int64(raw))
			cpu := cpuTime()
			for b.Loop() {
				o, err := columnar.Open(bytes.NewReader(obj), int64(len(obj)))
				if err != nil {
					b.Fatal(err)
				}
				var out []byte
				for off := int64(0); off < 20000; {
					out, err = o.Batches(context.Background(), out[:0], off, 1<<20, columnar.CodecOfObject)
					if err != nil {
						b.Fatal(err)
					}
					s := segment.NewSplitter(out)
					for s.Next() {
						off = s.Info().NextOffset()
					}
				}
			}
			reportCPU(b, cpu, raw)
		})
	}
}

// reportCPU reports MB/cpu-s: b.N times n bytes over the process's CPU time since cpu (GC and
// arrow-go's goroutines included).
func reportCPU(b *testing.B, cpu time.Duration, n int) {
	if d := cpuTime() - cpu; d > 0 {
		b.ReportMetric(float64(b.N)*float64(n)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
