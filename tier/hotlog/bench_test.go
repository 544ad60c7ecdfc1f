package hotlog

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// fsyncCount reads the fsync histogram's sample count from reg.
func fsyncCount(b *testing.B, reg *prometheus.Registry) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "strata_hotlog_fsync_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// BenchmarkAppendDurable appends 16 KiB batches of 1 KiB records, each appender waiting for its
// batch to be durable (acks=all with local durability). One op is one batch.
func BenchmarkAppendDurable(b *testing.B) {
	const recordsPerBatch = 16
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
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
			syncs0 := fsyncCount(b, reg)
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
			syncs := fsyncCount(b, reg) - syncs0
			b.ReportMetric(float64(syncs)/elapsed.Seconds(), "fsyncs/s")
			b.ReportMetric(float64(b.N)/float64(max(syncs, 1)), "batches/fsync")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*recordsPerBatch), "allocs/record")
		})
	}
}
