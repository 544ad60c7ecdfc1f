package compaction

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkMerge measures one merge of 64 segments of ~256 KiB (16 batches of 16 records of
// 1000 bytes) against MinIO on this machine: 64 GETs, the CRC checks and copy, one 16 MiB PUT and the
// catalog swap. MB/s is input bytes over the whole merge.
func BenchmarkMerge64x256KiB(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	w := e.worker(func(c *Config) { c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 64 << 20, MinInputs: 4} })
	i := 0
	for b.Loop() {
		b.StopTimer()
		p := e.topic(fmt.Sprintf("bench-%d", i))
		i++
		e.addSegments(p, 64, 16, 16, 1000)
		var in int64
		for _, s := range e.catalog(p.tp).Segments {
			in += s.Size
		}
		b.SetBytes(in)
		b.StartTimer()
		res, err := w.RunOnce(ctx)
		if err != nil || res.Merges != 1 || res.Inputs != 64 {
			b.Fatalf("pass: %+v, %v", res, err)
		}
		b.StopTimer()
		if err := e.store.ReleaseLease(ctx, p.lease); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
