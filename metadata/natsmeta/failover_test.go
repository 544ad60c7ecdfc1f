package natsmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// TestClusterSurvivesNodeLoss writes segments, offsets and lease renewals to R3 buckets on a
// 3-node cluster and shuts down the leader of the segments stream in the middle. Every write must
// succeed (the store retries through the failover), and afterwards the catalog and offsets must
// hold every write exactly once.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster in -short mode")
	}
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const prefix = "failover"
	s, err := natsmeta.Open(ctx, natsmeta.Config{
		URLs: c.ClientURLs(), OpTimeout: time.Second, BucketPrefix: prefix, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Inspect placement with a separate connection.
	nc, err := nats.Connect(c.ClientURLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info := func(stream string) *jetstream.StreamInfo {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatalf("stream %s: %v", stream, err)
		}
		si, err := st.Info(ctx)
		if err != nil {
			t.Fatalf("stream %s info: %v", stream, err)
		}
		return si
	}
	for _, b := range []string{"topics", "leases", "segments", "offsets", "producers", "nodes"} {
		si := info("KV_" + prefix + "_" + b)
		if si.Config.Replicas != 3 || si.Cluster == nil || len(si.Cluster.Replicas) != 2 {
			t.Fatalf("bucket %s is not R3 (auto replicas): config %d, cluster %+v", b, si.Config.Replicas, si.Cluster)
		}
	}

	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "ha.topic", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "ha.topic", Partition: 0}
	lease, err := s.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}

	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	watch, err := s.WatchCatalogs(wctx)
	if err != nil {
		t.Fatal(err)
	}

	const ops, killAfter = 60, 20
	halfway := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	slowest := map[string]time.Duration{}
	record := func(what string, start time.Time) {
		mu.Lock()
		slowest[what] = max(slowest[what], time.Since(start))
		mu.Unlock()
	}
	errs := make(chan error, 3*ops)
	wg.Add(3)
	go func() { // the partition leader tiers segments
		defer wg.Done()
		for i := int64(0); i < ops; i++ {
			if i == killAfter {
				close(halfway)
			}
			start := time.Now()
			sg := metadata.SegmentRef{Key: fmt.Sprintf("seg/%020d", i*10), BaseOffset: i * 10, NextOffset: i*10 + 10, Size: 100, Epoch: lease.Epoch}
			if err := s.RegisterSegment(ctx, tp, lease.Epoch, sg); err != nil {
				errs <- fmt.Errorf("RegisterSegment %d: %w", i, err)
				return
			}
			record("RegisterSegment", start)
		}
	}()
	go func() { // a consumer group commits
		defer wg.Done()
		for i := int64(1); i <= ops; i++ {
			start := time.Now()
			if err := s.CommitOffsets(ctx, "ha-group", map[metadata.TopicPartition]metadata.OffsetCommit{tp: {Offset: i, LeaderEpoch: -1}}); err != nil {
				errs <- fmt.Errorf("CommitOffsets %d: %w", i, err)
				return
			}
			record("CommitOffsets", start)
		}
	}()
	go func() { // the leader heartbeats its registration
		defer wg.Done()
		for i := 0; i < ops; i++ {
			start := time.Now()
			if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Minute); err != nil {
				errs <- fmt.Errorf("RegisterNode %d: %w", i, err)
				return
			}
			record("RegisterNode", start)
		}
	}()

	<-halfway
	leader := info("KV_" + prefix + "_segments").Cluster.Leader
	var killed *natsmeta.Embedded
	for _, e := range c.Nodes {
		if e.Server().Name() == leader {
			killed = e
		}
	}
	if killed == nil {
		t.Fatalf("segments stream leader %q is not a cluster node", leader)
	}
	killed.Shutdown()
	t.Logf("shut down %s, the segments stream leader", leader)

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write during failover: %v", err)
	}
	if t.Failed() {
		return
	}
	t.Logf("slowest calls across the failover: %v", slowest)

	readStart := time.Now()
	cat, err := s.GetCatalog(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first read after the failover took %v", time.Since(readStart))
	if len(cat.Segments) != ops {
		t.Fatalf("catalog holds %d segments, want %d", len(cat.Segments), ops)
	}
	for i, sg := range cat.Segments {
		if sg.BaseOffset != int64(i*10) || sg.NextOffset != int64(i*10+10) {
			t.Fatalf("segment %d is [%d, %d)", i, sg.BaseOffset, sg.NextOffset)
		}
	}
	offs, err := s.FetchOffsets(ctx, "ha-group")
	if err != nil {
		t.Fatal(err)
	}
	if offs[tp].Offset != ops {
		t.Fatalf("committed offset %d, want %d", offs[tp].Offset, ops)
	}
	cur, err := s.GetLease(ctx, tp)
	if err != nil || cur.Node != 1 || cur.Epoch != lease.Epoch {
		t.Fatalf("lease after failover = %+v, %v", cur, err)
	}
	if now := info("KV_" + prefix + "_segments").Cluster.Leader; now == leader || now == "" {
		t.Fatalf("segments stream leader after failover is %q", now)
	}

	// The watch started before the failover still reports changes made after it, on a partition
	// it has not heard of before.
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "ha.after", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	after := metadata.TopicPartition{Topic: "ha.after", Partition: 0}
	if err := s.RegisterSegment(ctx, after, 0, metadata.SegmentRef{Key: "after", BaseOffset: 0, NextOffset: 1}); err != nil {
		t.Fatal(err)
	}
	watchStart := time.Now()
	defer func() { t.Logf("watch reported the change after %v", time.Since(watchStart)) }()
	deadline := time.After(30 * time.Second)
	for seen := false; !seen; {
		select {
		case got, ok := <-watch:
			if !ok {
				t.Fatal("watch closed during failover")
			}
			seen = got == after
		case <-deadline:
			t.Fatal("watch saw no change after the failover")
		}
	}
}
