package hotlog

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// BenchmarkAppendDurable appends batches of 1 KiB records, each appender waiting for its batch to
// be durable (acks=all with local durability): 16 KiB batches, and 1 MiB batches from 5 appenders
// as a producer's pipeline of 5 requests in flight to one partition at saturation. One op is one
// batch.
func BenchmarkAppendDurable(b *testing.B) {
	for _, tc := range []struct {
		name                     string
		writers, recordsPerBatch int
	}{
		{"writers=1", 1, 16},
		{"writers=8", 8, 16},
		{"writers=5/1MiB", 5, 1000},
	} {
		writers, recordsPerBatch := tc.writers, tc.recordsPerBatch
		b.Run(tc.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			d, err := OpenDir(b.TempDir(), Config{Logger: quiet, Metrics: NewMetrics(reg)})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			l, err := d.Log("bench")
			if err != nil {
				b.Fatal(err)
			}
			batches := make([][]byte, writers)
			for i := range batches {
				batches[i] = segmenttest.Records(0, 1, recordsPerBatch, 1024)
			}
			b.SetBytes(int64(len(batches[0])))
			ctx := context.Background()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			syncs0 := objstoretest.MetricValue(b, reg, "strata_hotlog_fsync_duration_seconds")
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			var next sync.Mutex
			remaining := b.N
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						next.Lock()
						if remaining == 0 {
							next.Unlock()
							return
						}
						remaining--
						next.Unlock()
						res, err := l.Append(batches[w])
						if err == nil {
							err = l.WaitDurable(ctx, res.LastOffset+1)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			elapsed := time.Since(start)
			runtime.ReadMemStats(&ms1)
			syncs := objstoretest.MetricValue(b, reg, "strata_hotlog_fsync_duration_seconds") - syncs0
			b.ReportMetric(syncs/elapsed.Seconds(), "fsyncs/s")
			b.ReportMetric(float64(b.N)/max(syncs, 1), "batches/fsync")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*recordsPerBatch), "allocs/record")
		})
	}
}

// BenchmarkRead is a sequential consumer fetching 1 MiB at a time from a 16 MiB log of 16 KiB
// batches across 4 MiB segments. One op is one fetch.
func BenchmarkRead(b *testing.B) {
	d, err := OpenDir(b.TempDir(), Config{Logger: quiet, SegmentBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	l, err := d.Log("bench")
	if err != nil {
		b.Fatal(err)
	}
	for size := 0; size < 16<<20; {
		bt := segmenttest.Records(0, 1, 16, 1024)
		if _, err := l.Append(bt); err != nil {
			b.Fatal(err)
		}
		size += len(bt)
	}
	end := l.EndOffset()
	b.ReportAllocs()
	off, total := int64(0), 0
	for b.Loop() {
		if off >= end {
			off = 0
		}
		out, err := l.Read(off, 1<<20, -1)
		if err != nil {
			b.Fatal(err)
		}
		total += len(out)
		s := segmentNext(out)
		off = s
	}
	b.SetBytes(int64(total / max(b.N, 1)))
}

// segmentNext returns the offset after the last batch in b.
func segmentNext(b []byte) int64 {
	var next int64
	s := segment.NewSplitter(b)
	for s.Next() {
		next = s.Info().NextOffset()
	}
	return next
}
