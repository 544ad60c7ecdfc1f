package natsmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// batchStats reads, for bucket segments of reg, how many atomic batches were committed, the
// writes they held, and how many were refused.
func batchStats(t *testing.T, reg *prometheus.Registry) (batches, writes, fallbacks float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	segments := func(m *dto.Metric) bool {
		for _, l := range m.GetLabel() {
			if l.GetName() == "bucket" && l.GetValue() != "" && l.GetValue()[len(l.GetValue())-len("segments"):] == "segments" {
				return true
			}
		}
		return false
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if !segments(m) {
				continue
			}
			switch mf.GetName() {
			case "strata_metadata_batch_writes":
				batches += float64(m.GetHistogram().GetSampleCount())
				writes += m.GetHistogram().GetSampleSum()
			case "strata_metadata_batch_fallbacks_total":
				fallbacks += m.GetCounter().GetValue()
			}
		}
	}
	return batches, writes, fallbacks
}

// ledTopic creates topic with n partitions and leads each of them as node 1.
func ledTopic(t testing.TB, s *natsmeta.Store, topic string, n int) []metadata.Lease {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: topic, Partitions: int32(n)}); err != nil {
		t.Fatal(err)
	}
	leases := make([]metadata.Lease, n)
	for p := range leases {
		var err error
		if leases[p], err = s.AcquireLease(ctx, metadata.TopicPartition{Topic: topic, Partition: int32(p)}, 1); err != nil {
			t.Fatal(err)
		}
	}
	return leases
}

// registerAll registers one segment of 10 offsets in each partition of topic at once, each from its
// own goroutine (as a flush's partitions do), starting where from says.
func registerAll(t testing.TB, s *natsmeta.Store, topic string, leases []metadata.Lease, from func(p int32) int64) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(leases))
	for _, l := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := l.TopicPartition.Partition
			base := from(p)
			sg := metadata.SegmentRef{Key: fmt.Sprintf("topics/%s/%d/%020d.seg", topic, p, base), BaseOffset: base, NextOffset: base + 10, Size: 100, Epoch: l.Epoch}
			errs <- s.RegisterSegment(context.Background(), l.TopicPartition, l.Epoch, sg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("RegisterSegment: %v", err)
		}
	}
	return time.Since(start)
}

// TestConcurrentRegistrationsCommitInBatches: 256 partitions registering at once (a node's flush)
// all land, in batches of several writes, and every catalog reads back what was registered; on an
// embedded server and on a three-node cluster (where batches are Raft entries).
func TestConcurrentRegistrationsCommitInBatches(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		s, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: startEmbedded(t), Logger: slog.New(slog.DiscardHandler), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		registerInBatches(t, s, reg)
	})
	t.Run("cluster", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		s, err := natsmeta.Open(context.Background(), natsmeta.Config{URLs: startCluster(t, 3).ClientURLs(), Replicas: 3, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		registerInBatches(t, s, reg)
	})
}

func registerInBatches(t *testing.T, s *natsmeta.Store, reg *prometheus.Registry) {
	ctx := context.Background()
	const n = 256
	leases := ledTopic(t, s, "flush", n)
	for round := int64(0); round < 4; round++ {
		d := registerAll(t, s, "flush", leases, func(int32) int64 { return round * 10 })
		t.Logf("round %d: %d registrations in %v", round, n, d)
	}
	batches, writes, fallbacks := batchStats(t, reg)
	t.Logf("%v batches holding %v writes, %v refused", batches, writes, fallbacks)
	if batches == 0 || writes < 2*batches {
		t.Fatalf("%v batches holding %v writes: concurrent registrations were not batched", batches, writes)
	}
	for _, l := range leases {
		c, err := s.GetCatalog(ctx, l.TopicPartition)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(c.Segments); got != 4 || c.Segments[3].NextOffset != 40 {
			t.Fatalf("partition %d: %d segments, want 4 ending at 40: %+v", l.TopicPartition.Partition, got, c.Segments)
		}
	}
}

// TestRefusedBatchWritesAlone: when one write of a batch carries a stale revision (another store
// changed its key), the server refuses the whole batch; every write still lands on its own, the
// stale one after re-reading its key, and none twice.
func TestRefusedBatchWritesAlone(t *testing.T) {
	e := startEmbedded(t)
	reg := prometheus.NewRegistry()
	s, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: e, Logger: slog.New(slog.DiscardHandler), Registerer: reg, BucketPrefix: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: e, Logger: slog.New(slog.DiscardHandler), BucketPrefix: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	const n = 64
	leases := ledTopic(t, s, "stale", n)
	end := make([]int64, n) // each catalog's tiered end
	next := func(p int32) int64 { e := end[p]; end[p] += 10; return e }
	registerAll(t, s, "stale", leases, next) // s now caches every catalog's revision
	for round := int64(1); round <= 5; round++ {
		// Behind s's back, the other store moves the log start of every fourth partition: s's
		// cached revisions of those catalogs are stale (while its next registration is still
		// valid on them), so any batch holding one is refused.
		for p := 0; p < n; p += 4 {
			if _, err := other.SetLogStartOffset(ctx, leases[p].TopicPartition, leases[p].Epoch, round); err != nil {
				t.Fatal(err)
			}
		}
		registerAll(t, s, "stale", leases, next)
	}
	batches, writes, fallbacks := batchStats(t, reg)
	t.Logf("%v batches holding %v writes, %v refused", batches, writes, fallbacks)
	if fallbacks == 0 {
		t.Fatal("no batch was refused: the test did not exercise the fallback")
	}
	for p, l := range leases {
		c, err := s.GetCatalog(ctx, l.TopicPartition)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Segments) != 6 || c.Segments[5].NextOffset != 60 {
			t.Fatalf("partition %d: %d segments, want 6 ending at 60: %+v", p, len(c.Segments), c.Segments)
		}
		if want := map[bool]int64{true: 5, false: 0}[p%4 == 0]; c.LogStartOffset != want {
			t.Fatalf("partition %d: log start %d, want %d", p, c.LogStartOffset, want)
		}
	}
}

// BenchmarkFlushRegistrations registers one segment in each of 256 partitions at once per
// iteration, as a node's flush of an object holding all of them does: with batches (the default),
// and with every write alone (as before batches).
func BenchmarkFlushRegistrations(b *testing.B) {
	for _, mode := range []struct {
		name         string
		alone, batch int
	}{{"batched", 8, 16}, {"alone", 1 << 30, 1 << 30}} {
		b.Run(mode.name, func(b *testing.B) {
			defer natsmeta.SetBatching(mode.alone, mode.batch)()
			e := startEmbedded(b)
			s, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: e, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			leases := ledTopic(b, s, "flush", 256)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				registerAll(b, s, "flush", leases, func(int32) int64 { return int64(i) * 10 })
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/flush")
		})
	}
}

// TestCancelledWritesFreeTheirTurn: writers that give up while queued or batched (their ctx
// ends) leave the batcher as they found it, so later writes, alone or batched, still complete.
func TestCancelledWritesFreeTheirTurn(t *testing.T) {
	defer natsmeta.SetBatching(1, 4)()
	s, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: startEmbedded(t), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const n = 64
	cancelled := ledTopic(t, s, "cancelled", n)
	var wg sync.WaitGroup
	for round := 0; round < 5; round++ {
		for p, l := range cancelled {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, time.Duration(p%4)*200*time.Microsecond)
				defer cancel()
				sg := metadata.SegmentRef{Key: fmt.Sprintf("c/%d/%d", p, round), BaseOffset: 0, NextOffset: 10, Size: 1, Epoch: l.Epoch}
				_ = s.RegisterSegment(cctx, l.TopicPartition, l.Epoch, sg) // may land or not
			}()
		}
		wg.Wait()
	}
	// Every turn given up was returned: 64 writers at once still all finish.
	after := ledTopic(t, s, "after", n)
	for round := int64(0); round < 3; round++ {
		registerAll(t, s, "after", after, func(int32) int64 { return round * 10 })
	}
}
