package compaction

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSweep measures one sweep of a partition of 500 objects against MinIO and embedded NATS.
// "referenced": every object is in the catalog (the steady state: one LIST page, one catalog read).
// "replaced": every object was merged away and its delete lost; an uploaded key does not say where
// it ends, so each costs a footer read (two ranged GETs) the first time a sweep judges it (later
// sweeps remember the end).
func BenchmarkSweep(b *testing.B) {
	const n = 500
	for _, tc := range []struct {
		name  string
		merge bool
	}{{"referenced", false}, {"replaced", true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b)
			ctx := context.Background()
			p := e.topic("bench-sweep")
			e.addSegments(p, n, 1, 1, 100)
			if tc.merge {
				m := e.worker(func(c *Config) { c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 64 << 20, MinInputs: 4} })
				if res, err := m.RunOnce(ctx); err != nil || res.Inputs != n {
					b.Fatalf("merge: %+v, %v", res, err)
				}
				m.Close()
			}
			now := time.Now().Add(2 * time.Hour)
			newWorker := func() *Worker {
				return e.worker(func(c *Config) { c.Now = func() time.Time { return now }; c.NoMerges = true; c.SweepInterval = -1 })
			}
			w := newWorker()
			for b.Loop() {
				if tc.merge { // a first sighting each time: the footers are read
					b.StopTimer()
					w.Close()
					w = newWorker()
					b.StartTimer()
				}
				res, err := w.Sweep(ctx)
				if err != nil || res.Objects < n || res.Deleted != 0 {
					b.Fatalf("sweep: %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
