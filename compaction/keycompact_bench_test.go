package compaction

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkKeyCompaction measures one key compaction pass over tiered data in MinIO on this
// machine: the GETs of the dirty segments, the key map, the rewrite, the PUTs and the catalog swaps.
// Reported: input MB/s of wall time, MB/s per core (input bytes over this process's CPU time,
// MinIO's not counted), the peak Go heap in use above the baseline during the pass (sampled every
// 2 ms; garbage not yet collected included, at the default GOGC), the key map's share of it, and
// the catalog's bytes before and after. Records have 10-byte keys and 100-byte values, 100 per batch, ~8 MiB
// segments.
//
//	updates100: 10,000 keys × 100 updates each (1 M records)
//	distinct1M: 1,000,000 distinct keys, one record each (nothing to remove: the map's worst case)
func BenchmarkKeyCompaction(b *testing.B) {
	for _, bc := range []struct {
		name          string
		keys, updates int
	}{{"updates100", 10_000, 100}, {"distinct1M", 1_000_000, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b)
			ctx := context.Background()
			clk := newKeyClock()
			w := e.keyWorker(clk, nil)
			i := 0
			for b.Loop() {
				b.StopTimer()
				p := e.compactedTopic(fmt.Sprintf("bench-%d", i), nil)
				i++
				recs := make([]kv, 0, bc.keys*bc.updates)
				for u := range bc.updates {
					for k := range bc.keys {
						recs = append(recs, kv{[]byte(fmt.Sprintf("k-%08d", k)), fmt.Appendf(nil, "%0100d", u)})
					}
				}
				e.addKeyed(p, recs, 100, 640, clk.now().Add(-time.Hour).UnixMilli(), 0)
				recs = nil
				p.batches = nil // kept by addKeyed for other tests; not needed here
				var before int64
				for _, s := range e.catalog(p.tp).Segments {
					before += s.Size
				}
				b.SetBytes(before)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapInuse
				peak := sampleHeap()
				cpu0 := cpuTime()
				wall0 := time.Now()
				b.StartTimer()
				res, err := w.RunOnce(ctx)
				b.StopTimer()
				wall, cpu := time.Since(wall0), cpuTime()-cpu0
				heap := peak()
				if err != nil || res.Cleaned != 1 {
					b.Fatalf("pass: %+v, %v", res, err)
				}
				var after int64
				for _, s := range e.catalog(p.tp).Segments {
					after += s.Size
				}
				if after > before {
					b.Fatalf("catalog grew: %d → %d bytes", before, after)
				}
				mb := float64(before) / 1e6
				b.ReportMetric(mb/wall.Seconds(), "in-MB/s")
				b.ReportMetric(mb/cpu.Seconds(), "in-MB/s/core")
				b.ReportMetric(float64(heap-min(heap, base))/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(w.keys.m.bytes())/(1<<20), "keymap-MiB")
				b.ReportMetric(mb, "before-MB")
				b.ReportMetric(float64(after)/1e6, "after-MB")
				b.ReportMetric(float64(res.Removed), "removed-records")
				if err := e.store.ReleaseLease(ctx, p.lease); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// sampleHeap samples HeapInuse every 2 ms until the returned function is called, which returns the
// largest value seen.
func sampleHeap() func() uint64 {
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
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
