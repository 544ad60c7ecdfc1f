package broker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// newTieredBroker starts a broker with the tiering engine on a file bucket and an in-memory catalog.
func newTieredBroker(t *testing.T) (*Broker, *tier.Uploader) {
	t.Helper()
	b, up, _ := newTieredBrokerIn(t, t.TempDir())
	return b, up
}

// newTieredBrokerIn is newTieredBroker with the bucket in dir (so a test can reach the objects'
// files), returning the bucket too. The uploader polls every 20 ms and checks retention every 50.
func newTieredBrokerIn(t *testing.T, dir string) (*Broker, *tier.Uploader, objstore.Bucket) {
	t.Helper()
	st, _ := newMemStore(t)
	bucket, err := objstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, up := startTiered(t, st, bucket, Config{NodeID: 1})
	return b, up, bucket
}

// startTiered starts a broker configured by cfg on st, with an Uploader and a Reader on bucket
// (shared with any other node of the test) and a hot log in a temp dir; all stop at cleanup.
func startTiered(t *testing.T, st metadata.Store, bucket objstore.Bucket, cfg Config) (*Broker, *tier.Uploader) {
	t.Helper()
	var b *Broker
	up, err := tier.NewUploader(tier.Config{Bucket: bucket, Store: st, PollInterval: 20 * time.Millisecond,
		CheckInterval: 50 * time.Millisecond, OnFenced: func(tp metadata.TopicPartition) { b.Fenced(tp) }})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	d, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.HotLog, cfg.Store, cfg.Tiering, cfg.TieredReader = d, st, up, rd
	b, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		up.Close()
		rd.Close()
		d.Close()
	})
	return b, up
}

func (b *Broker) partitionForTest(t *testing.T, tp metadata.TopicPartition) *partition {
	t.Helper()
	b.mu.RLock()
	defer b.mu.RUnlock()
	p := b.parts[tp]
	if p == nil {
		t.Fatalf("%s not led", tp)
	}
	return p
}

// lastOffset is one past the last offset in a run of batches (-1 for none).
func lastOffset(t *testing.T, recs []byte) int64 {
	t.Helper()
	last := int64(-1)
	s := segment.NewSplitter(recs)
	for s.Next() {
		info, err := segment.ValidateBatch(s.Batch())
		if err != nil {
			t.Fatal(err)
		}
		last = info.NextOffset()
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return last
}

// Object durability: a record fsynced on the leader's disk is still invisible until its segment is
// registered in the catalog; the registration, not the append, wakes a long poll.
func TestObjectDurabilityVisibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, up := newTieredBroker(t)
	tp := metadata.TopicPartition{Topic: "vis"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: tp.Topic, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "3600000", // rolled by the test only
	}}); err != nil {
		t.Fatal(err)
	}
	p := b.partitionForTest(t, tp)
	for i := 0; i < 2; i++ {
		if _, err := b.Append(ctx, tp, batch(3, -1, -1, -1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.log.WaitDurable(ctx, 6); err != nil { // on the local disk: not enough
		t.Fatal(err)
	}
	for up.TieredEnd(tp) < 0 { // the uploader reads the catalog first
		select {
		case <-b.Changed(tp):
		case <-ctx.Done():
			t.Fatal("uploader never read the catalog")
		}
	}
	changed := b.Changed(tp)
	res, err := b.Fetch(ctx, tp, 0, 1<<20)
	if err != nil || len(res.Records) != 0 || res.HighWatermark != 0 {
		t.Fatalf("before upload: %d bytes, hw %d, err %v; want nothing visible", len(res.Records), res.HighWatermark, err)
	}
	if off, _, err := b.ListOffset(ctx, tp, LatestTimestamp); err != nil || off != 0 {
		t.Fatalf("latest before upload %d %v, want 0", off, err)
	}
	if _, hw, err := b.Offsets(ctx, tp); err != nil || hw != 0 {
		t.Fatalf("offsets hw %d %v, want 0", hw, err)
	}
	select {
	case <-changed:
		t.Fatal("long poll woken before anything was tiered")
	default:
	}

	acked := make(chan error, 1)
	go func() { acked <- b.WaitDurable(ctx, tp, b.Epoch(tp), 6) }()
	if err := p.log.Roll(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("registration did not wake the long poll")
	}
	if end := up.TieredEnd(tp); end != 6 {
		t.Fatalf("woken with the tiered end at %d, want 6", end)
	}
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	res, err = b.Fetch(ctx, tp, 0, 1<<20)
	if err != nil || lastOffset(t, res.Records) != 6 || res.HighWatermark != 6 {
		t.Fatalf("after upload: up to %d, hw %d, err %v; want 6 and 6", lastOffset(t, res.Records), res.HighWatermark, err)
	}
}

// Concurrently: whatever a long-polling consumer of an object-durability topic reads is already
// registered in the catalog (the tiered end only grows, so reading it after the fetch is enough).
func TestObjectDurabilityConsumerNeverAhead(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, up := newTieredBroker(t)
	tp := metadata.TopicPartition{Topic: "race"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: tp.Topic, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "5",
	}}); err != nil {
		t.Fatal(err)
	}
	const batches, per = 20, 3
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < batches; i++ {
			r, err := b.Append(ctx, tp, batch(per, -1, -1, -1))
			if err == nil {
				err = b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var next int64
	for next < batches*per && ctx.Err() == nil {
		changed := b.Changed(tp)
		res, err := b.Fetch(ctx, tp, next, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		got := lastOffset(t, res.Records)
		if end := up.TieredEnd(tp); got > end || res.HighWatermark > end {
			t.Fatalf("consumer read up to %d (hw %d) with only %d registered", got, res.HighWatermark, end)
		}
		next = got
	}
	wg.Wait()
	if next != batches*per {
		t.Fatalf("consumed up to %d, want %d", next, batches*per)
	}
}

// Local durability: the high watermark is the fsynced end, and a long poll is woken by the fsync
// even when no producer waits for it (acks=1).
func TestLocalDurabilityVisibility(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _ := newTieredBroker(t)
	tp := metadata.TopicPartition{Topic: "loc"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: tp.Topic, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	p := b.partitionForTest(t, tp)
	if _, err := b.Append(ctx, tp, batch(3, -1, -1, -1)); err != nil {
		t.Fatal(err)
	}
	changed := b.Changed(tp)
	res, err := b.Fetch(ctx, tp, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if durable := p.log.DurableOffset(); lastOffset(t, res.Records) > durable || res.HighWatermark > durable {
		t.Fatalf("fetched up to %d (hw %d) with %d fsynced", lastOffset(t, res.Records), res.HighWatermark, durable)
	}
	for res.HighWatermark < 3 {
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("the fsync did not wake the long poll")
		}
		changed = b.Changed(tp)
		if res, err = b.Fetch(ctx, tp, 0, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if lastOffset(t, res.Records) != 3 || p.log.DurableOffset() < 3 {
		t.Fatalf("after the fsync: up to %d, durable %d", lastOffset(t, res.Records), p.log.DurableOffset())
	}
}
