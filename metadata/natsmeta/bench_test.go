package natsmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// benchTargets runs fn against a single embedded server over TCP (R1) and in-process
// (R1-inproc), the same in-process with JetStream's periodic fsync instead of one before every
// acknowledgement (R1-inproc-sync2m: what durability costs), and a 3-node cluster (R3).
func benchTargets(b *testing.B, fn func(b *testing.B, s *natsmeta.Store)) {
	b.Run("R1", func(b *testing.B) {
		e := startEmbedded(b)
		fn(b, openStore(b, []string{e.ClientURL()}, 1))
	})
	inproc := func(b *testing.B, e *natsmeta.Embedded) {
		s, err := natsmeta.Open(context.Background(), natsmeta.Config{Embedded: e, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	}
	b.Run("R1-inproc", func(b *testing.B) { inproc(b, startEmbedded(b)) })
	b.Run("R1-inproc-sync2m", func(b *testing.B) {
		e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: b.TempDir(), NoListen: true, SyncInterval: 2 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(e.Shutdown)
		inproc(b, e)
	})
	b.Run("R3", func(b *testing.B) {
		c := startCluster(b, 3)
		fn(b, openStore(b, c.ClientURLs(), 3))
	})
}

const benchPartitions = 64

func benchTopic(b *testing.B, s *natsmeta.Store) []metadata.Lease {
	ctx := context.Background()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "bench", Partitions: benchPartitions}); err != nil {
		b.Fatal(err)
	}
	ls := make([]metadata.Lease, benchPartitions)
	for p := range ls {
		l, err := s.AcquireLease(ctx, metadata.TopicPartition{Topic: "bench", Partition: int32(p)}, 1)
		if err != nil {
			b.Fatal(err)
		}
		ls[p] = l
	}
	return ls
}

// BenchmarkRegisterSegment appends segments round-robin over 64 partitions, one writer per
// partition at a time (as leaders do), sequentially and from parallel goroutines.
func BenchmarkRegisterSegment(b *testing.B) {
	benchTargets(b, func(b *testing.B, s *natsmeta.Store) {
		ls := benchTopic(b, s)
		var next [benchPartitions]atomic.Int64
		var turn atomic.Int64
		b.SetParallelism(2) // several partitions in flight per core, each with its own CAS key
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			p := int(turn.Add(1)-1) % benchPartitions // each goroutine owns one partition
			l := ls[p]
			for pb.Next() {
				i := next[p].Add(1) - 1
				sg := metadata.SegmentRef{Key: fmt.Sprintf("topics/x/%d/%020d-1.seg", p, i*100), BaseOffset: i * 100, NextOffset: i*100 + 100, Size: 1 << 20, Epoch: l.Epoch}
				if err := s.RegisterSegment(context.Background(), l.TopicPartition, l.Epoch, sg); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkCommitOffsets commits two partitions per call for distinct groups from parallel
// goroutines.
func BenchmarkCommitOffsets(b *testing.B) {
	benchTargets(b, func(b *testing.B, s *natsmeta.Store) {
		var gid atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			g := fmt.Sprintf("group-%d", gid.Add(1))
			for i := int64(0); pb.Next(); i++ {
				m := map[metadata.TopicPartition]metadata.OffsetCommit{
					{Topic: "t", Partition: 0}: {Offset: i, LeaderEpoch: -1, CommittedAt: time.Now()},
					{Topic: "t", Partition: 1}: {Offset: i, LeaderEpoch: -1, CommittedAt: time.Now()},
				}
				if err := s.CommitOffsets(context.Background(), g, m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkRegisterNode refreshes node registrations from parallel goroutines: the one write per
// node and heartbeat that keeps every partition the node leads.
func BenchmarkRegisterNode(b *testing.B) {
	benchTargets(b, func(b *testing.B, s *natsmeta.Store) {
		var turn atomic.Int64
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			n := metadata.Node{ID: int32(turn.Add(1))}
			for pb.Next() {
				if err := s.RegisterNode(context.Background(), n, 10*time.Second); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
}

// BenchmarkLeaseTakeover measures, per iteration, the time from a lease being granted to a node
// registered for 1 s (and never refreshed) to another node holding it: the server-side expiry
// delay plus a 20 ms poll.
// Run with -benchtime 5x.
func BenchmarkLeaseTakeover(b *testing.B) {
	benchTargets(b, func(b *testing.B, s *natsmeta.Store) {
		ctx := context.Background()
		if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "takeover", Partitions: 1}); err != nil {
			b.Fatal(err)
		}
		tp := metadata.TopicPartition{Topic: "takeover", Partition: 0}
		var total time.Duration
		for i := 0; b.Loop(); i++ {
			node := int32(i % 2)
			granted := time.Now()
			for _, n := range []metadata.Node{{ID: node}, {ID: 1 - node}} {
				ttl := time.Second
				if n.ID != node {
					ttl = time.Minute
				}
				if err := s.RegisterNode(ctx, n, ttl); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.AcquireLease(ctx, tp, node); err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := s.AcquireLease(ctx, tp, 1-node); err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			total += time.Since(granted)
			l, err := s.GetLease(ctx, tp)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.ReleaseLease(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s/takeover")
	})
}
