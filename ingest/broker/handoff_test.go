package broker

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// A node that joins gets its share of the partitions by graceful handoff: the old leader tiers
// its hot tail (local durability: acknowledged records that were only on its disk) before it
// releases, so every acknowledged record stays readable from the new leader. A node shutting
// down hands its partitions back the same way.
func TestJoiningNodeTakesItsShareGracefully(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := natsmetatest.Store(t)
	bucket, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// No periodic reconcile: the store's leadership watch (a node joined, a lease released) and the
	// timer for a newcomer that has settled in must drive every move.
	cfg := func(id int32) Config {
		return Config{NodeID: id, RebalanceDelay: 200 * time.Millisecond, ReconcileInterval: time.Hour}
	}
	b1, _ := startTiered(t, st, bucket, cfg(1))
	const parts = 16
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "moving", Partitions: parts, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	acked := map[metadata.TopicPartition]int64{}
	produce := func(b *Broker, tp metadata.TopicPartition, n int) {
		t.Helper()
		r, err := b.Append(ctx, tp, batch(n, -1, -1, -1))
		if err != nil {
			t.Fatalf("append to %s on node %d: %v", tp, b.NodeID(), err)
		}
		if err := b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		acked[tp] = r.LastOffset + 1
	}
	epochs := map[metadata.TopicPartition]int32{}
	for i := int32(0); i < parts; i++ {
		tp := metadata.TopicPartition{Topic: "moving", Partition: i}
		produce(b1, tp, 3)
		epochs[tp] = b1.Epoch(tp)
	}

	b2, _ := startTiered(t, st, bucket, cfg(2))
	want2 := 0 // the partitions the placement gives node 2
	for tp := range epochs {
		if rendezvous(tp, []metadata.Node{{ID: 1}, {ID: 2}}) == 2 {
			want2++
		}
	}
	if want2 == 0 || want2 == parts {
		t.Fatalf("the placement gives node 2 %d of %d partitions", want2, parts)
	}
	waitFor(t, "the partitions split between the nodes as the placement says", func() bool {
		n1, n2 := len(b1.LedPartitions()), len(b2.LedPartitions())
		return n1 == parts-want2 && n2 == want2
	})
	moved := b2.LedPartitions()
	if got := testutil.ToFloat64(b1.m.leadershipChanges.WithLabelValues("handed_off")); int(got) != len(moved) {
		t.Fatalf("node 1 counted %v handoffs, node 2 leads %d partitions", got, len(moved))
	}
	for tp, epoch := range moved {
		if epoch != epochs[tp]+1 {
			t.Fatalf("%s moved under epoch %d, want %d", tp, epoch, epochs[tp]+1)
		}
		if n := countRecords(ctx, t, b2, tp); n != acked[tp] {
			t.Fatalf("%s on its new leader: %d records, %d acknowledged", tp, n, acked[tp])
		}
		produce(b2, tp, 2) // local only, until node 2 hands it back
	}

	b2.Close()
	waitFor(t, "node 1 leads every partition again", func() bool { return len(b1.LedPartitions()) == parts })
	for i := int32(0); i < parts; i++ {
		tp := metadata.TopicPartition{Topic: "moving", Partition: i}
		if n := countRecords(ctx, t, b1, tp); n != acked[tp] {
			t.Fatalf("%s after node 2 shut down: %d records, %d acknowledged", tp, n, acked[tp])
		}
	}
}

// countRecords reads tp from its start to the high watermark and counts the records.
func countRecords(ctx context.Context, t *testing.T, b *Broker, tp metadata.TopicPartition) int64 {
	t.Helper()
	var n, off int64
	for {
		res, err := b.Fetch(ctx, tp, off, 1<<20)
		if err != nil {
			t.Fatalf("fetch %s at %d from node %d: %v", tp, off, b.NodeID(), err)
		}
		if off >= res.HighWatermark {
			return n
		}
		data := res.Records
		if len(data) == 0 {
			t.Fatalf("fetch %s at %d below the high watermark %d returned nothing", tp, off, res.HighWatermark)
		}
		for len(data) > 0 {
			info, err := segment.ParseBatch(data)
			if err != nil {
				t.Fatal(err)
			}
			if info.BaseOffset >= off {
				n += int64(info.NumRecords)
			}
			off = info.NextOffset()
			data = data[info.Size():]
		}
	}
}
