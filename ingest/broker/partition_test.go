package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/objstore"
)

// errCut is what a node cut off from the metadata service gets.
var errCut = errors.New("test: cut off from the metadata service")

// cutStore is a real store behind a switch: while cut, every call a node makes to keep or use its
// leadership (registration, leases, catalogs, listings, watches) fails, as it would across a network
// partition between the node and NATS.
type cutStore struct {
	metadata.Store
	cut atomic.Bool
}

func (s *cutStore) check() error {
	if s.cut.Load() {
		return errCut
	}
	return nil
}

func (s *cutStore) RefreshNode(ctx context.Context, n metadata.Node, ttl time.Duration) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Store.RefreshNode(ctx, n, ttl)
}

func (s *cutStore) RegisterNode(ctx context.Context, n metadata.Node, ttl time.Duration) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Store.RegisterNode(ctx, n, ttl)
}

func (s *cutStore) ListLeases(ctx context.Context) ([]metadata.Lease, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.Store.ListLeases(ctx)
}

func (s *cutStore) ListNodes(ctx context.Context) ([]metadata.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.Store.ListNodes(ctx)
}

func (s *cutStore) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.Store.ListTopics(ctx)
}

func (s *cutStore) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32) (metadata.Lease, error) {
	if err := s.check(); err != nil {
		return metadata.Lease{}, err
	}
	return s.Store.AcquireLease(ctx, tp, node)
}

func (s *cutStore) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	if err := s.check(); err != nil {
		return metadata.PartitionCatalog{}, err
	}
	return s.Store.GetCatalog(ctx, tp)
}

func (s *cutStore) RegisterSegment(ctx context.Context, tp metadata.TopicPartition, epoch int32, seg metadata.SegmentRef) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Store.RegisterSegment(ctx, tp, epoch, seg)
}

func (s *cutStore) ReplaceSegments(ctx context.Context, tp metadata.TopicPartition, epoch int32, oldKeys []string, repl []metadata.SegmentRef) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.Store.ReplaceSegments(ctx, tp, epoch, oldKeys, repl)
}

func (s *cutStore) SetLogStartOffset(ctx context.Context, tp metadata.TopicPartition, epoch int32, offset int64) ([]metadata.SegmentRef, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.Store.SetLogStartOffset(ctx, tp, epoch, offset)
}

// A leader cut off from the metadata service stops serving within its lease TTL, before its
// registration lapses and another node takes its partitions; no record is acknowledged by both, and
// every acknowledged record (object durability: acked once registered) is read back from the new
// leader. Healed, the old leader finds its registration gone, drops everything, and leaves the
// partitions with their new leader.
func TestLeaderCutOffFromMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st := natsmetatest.Store(t)
	bucket, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(id int32) Config {
		return Config{NodeID: id, Sticky: true, ReconcileInterval: 100 * time.Millisecond}
	}
	cs := &cutStore{Store: st}
	b1, _ := startTiered(t, cs, bucket, cfg(1))
	const parts = 4
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "cut", Partitions: parts, ReplicationFactor: 1,
		Configs: map[string]string{"strata.durability": "object", "strata.flush.ms": "10"}}); err != nil {
		t.Fatal(err)
	}
	b2, _ := startTiered(t, st, bucket, cfg(2)) // sticky: takes nothing while node 1 lives

	var mu sync.Mutex
	acked := map[metadata.TopicPartition]int64{}
	var lastAck1 time.Time // node 1's last acknowledgement
	produce := func(b *Broker, tp metadata.TopicPartition, wait time.Duration) error {
		r, err := b.Append(ctx, tp, batch(2, -1, -1, -1))
		if err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, wait)
		defer wcancel()
		if err := b.WaitDurable(wctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		acked[tp] = max(acked[tp], r.LastOffset+1)
		if b == b1 {
			lastAck1 = time.Now()
		}
		return nil
	}
	epochs := map[metadata.TopicPartition]int32{}
	for i := int32(0); i < parts; i++ {
		tp := metadata.TopicPartition{Topic: "cut", Partition: i}
		if err := produce(b1, tp, 10*time.Second); err != nil {
			t.Fatalf("produce to %s before the cut: %v", tp, err)
		}
		epochs[tp] = b1.Epoch(tp)
	}
	if n := len(b2.LedPartitions()); n != 0 {
		t.Fatalf("node 2 leads %d partitions while node 1 lives", n)
	}

	cs.cut.Store(true)
	cutAt := time.Now()
	tp0 := metadata.TopicPartition{Topic: "cut", Partition: 0}
	go func() { // keeps trying node 1: nothing can be acknowledged while the registration is cut
		for ctx.Err() == nil && cs.cut.Load() {
			_ = produce(b1, tp0, 50*time.Millisecond)
		}
	}()
	// Sample who serves tp0, node 2 first: node 1 seen serving after node 2 was is an overlap.
	var stopped time.Duration
	for {
		two, one := b2.Leads(tp0), b1.Leads(tp0)
		if two && one {
			t.Fatalf("both nodes serve %s %v after the cut", tp0, time.Since(cutAt))
		}
		if !one && stopped == 0 {
			stopped = time.Since(cutAt)
		}
		if two {
			break
		}
		if time.Since(cutAt) > 30*time.Second {
			t.Fatal("node 2 has not taken over 30 s after the cut")
		}
		time.Sleep(time.Millisecond)
	}
	waitFor(t, "node 2 takes every partition", func() bool { return len(b2.LedPartitions()) == parts })
	tookOver := time.Now()
	t.Logf("cut off: node 1 stopped serving after %v; node 2 led everything after %v", stopped, tookOver.Sub(cutAt))
	if stopped > b1.cfg.LeaseTTL+500*time.Millisecond {
		t.Errorf("node 1 served %v after the cut, lease TTL %v", stopped, b1.cfg.LeaseTTL)
	}
	mu.Lock()
	last := lastAck1
	mu.Unlock()
	if !last.Before(tookOver) {
		t.Fatalf("node 1 acknowledged at %v, after node 2 took over at %v", last, tookOver)
	}
	for tp, epoch := range b2.LedPartitions() {
		if epoch <= epochs[tp] {
			t.Fatalf("%s taken over under epoch %d, node 1 led it under %d", tp, epoch, epochs[tp])
		}
		if err := produce(b2, tp, 10*time.Second); err != nil {
			t.Fatalf("produce to %s on node 2: %v", tp, err)
		}
	}

	cs.cut.Store(false)
	waitFor(t, "node 1 registers again", func() bool { return b1.aliveNow() })
	time.Sleep(300 * time.Millisecond) // a few reconciles
	if n := len(b1.LedPartitions()); n != 0 {
		t.Fatalf("healed node 1 leads %d partitions that node 2 holds", n)
	}
	for i := int32(0); i < parts; i++ {
		tp := metadata.TopicPartition{Topic: "cut", Partition: i}
		mu.Lock()
		want := acked[tp]
		mu.Unlock()
		if n := countRecords(ctx, t, b2, tp); n != want {
			t.Fatalf("%s: %d records readable, %d acknowledged", tp, n, want)
		}
	}
}
