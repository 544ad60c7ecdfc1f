package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
)

// epochEnd asks b for the end offset of epoch (no current-epoch fence) and fails on an error.
func epochEnd(t *testing.T, b *Broker, tp metadata.TopicPartition, epoch int32) (int32, int64) {
	t.Helper()
	e, end, err := b.EndOffsetForEpoch(context.Background(), tp, epoch, -1)
	if err != nil {
		t.Fatalf("epoch %d: %v", epoch, err)
	}
	return e, end
}

// The end offsets of leader epochs across takeovers: the same node again (its log kept, a new
// epoch), then another node whose log starts at the tiered end (the first leader's tail, never
// tiered, is lost — the truncation OffsetForLeaderEpoch lets a consumer see).
func TestEndOffsetForEpochAcrossTakeovers(t *testing.T) {
	st, clk := newMemStore(t)
	ctx := context.Background()
	dir1, dir2 := t.TempDir(), t.TempDir()
	tp := metadata.TopicPartition{Topic: "epochs"}
	b := startNode(t, st, 1, dir1)
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "epochs", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	appendN := func(b *Broker, n int) {
		t.Helper()
		for range n {
			if _, err := b.Append(ctx, tp, batch(3, -1, -1, -1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(b, 3) // [0, 9)
	e1 := b.Epoch(tp)
	type want struct {
		epoch int32
		end   int64
	}
	check := func(b *Broker, cases map[int32]want) {
		t.Helper()
		for req, w := range cases {
			if e, end := epochEnd(t, b, tp, req); e != w.epoch || end != w.end {
				t.Fatalf("node %d, epoch %d: got (%d, %d), want (%d, %d)", b.cfg.NodeID, req, e, end, w.epoch, w.end)
			}
		}
	}
	check(b, map[int32]want{e1: {e1, 9}, e1 + 1: {-1, -1}, e1 - 1: {e1 - 1, 0}, -1: {-1, -1}})

	// The client's current leader epoch fences the request.
	for cur, code := range map[int32]int16{e1 - 1: kerr.FencedLeaderEpoch.Code, e1 + 1: kerr.UnknownLeaderEpoch.Code, e1: 0, -1: 0} {
		if _, _, err := b.EndOffsetForEpoch(ctx, tp, e1, cur); Code(err) != code {
			t.Fatalf("current epoch %d against %d: %v, want code %d", cur, e1, err, code)
		}
	}
	if _, _, err := b.EndOffsetForEpoch(ctx, metadata.TopicPartition{Topic: "epochs", Partition: 1}, e1, -1); Code(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("partition 1 of a 1-partition topic: %v", err)
	}
	if _, _, err := b.EndOffsetForEpoch(ctx, metadata.TopicPartition{Topic: "nope"}, e1, -1); Code(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", err)
	}

	// The same node takes the partition again: its log is kept, under epoch e1+1.
	crash(b, clk)
	b = startNode(t, st, 1, dir1)
	if got := b.Epoch(tp); got != e1+1 {
		t.Fatalf("epoch %d after a restart, want %d", got, e1+1)
	}
	check(b, map[int32]want{e1: {e1, 9}, e1 + 1: {e1 + 1, 9}})
	appendN(b, 2) // [9, 15)
	check(b, map[int32]want{e1 - 1: {e1 - 1, 0}, e1: {e1, 9}, e1 + 1: {e1 + 1, 15}, e1 + 2: {-1, -1}})

	// Another node takes over: nothing was tiered, so its log starts empty at 0 under e1+2, and
	// both earlier epochs end at 0 — a consumer that read up to 15 learns that 0..14 are gone.
	crash(b, clk)
	b2 := startNode(t, st, 2, dir2)
	e3 := b2.Epoch(tp)
	if e3 != e1+2 {
		t.Fatalf("node 2 epoch %d, want %d", e3, e1+2)
	}
	check(b2, map[int32]want{e1: {e1, 0}, e1 + 1: {e1 + 1, 0}, e3: {e3, 0}})
	appendN(b2, 1) // [0, 3)
	check(b2, map[int32]want{e1 + 1: {e1 + 1, 0}, e3: {e3, 3}, e3 + 1: {-1, -1}})
	if _, _, err := b.EndOffsetForEpoch(ctx, tp, e1, -1); Code(err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("the crashed node: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// startTieredNode is a node with tiering on a store and bucket shared with other nodes.
func startTieredNode(t *testing.T, st metadata.Store, id int32, bucket objstore.Bucket) *Broker {
	t.Helper()
	b, _ := startTiered(t, st, bucket, Config{NodeID: id, KafkaAddr: fmt.Sprintf("127.0.0.1:%d", 9000+id),
		LeaseTTL: 6 * time.Second, RenewInterval: 3 * time.Second})
	return b
}

// After a takeover the earlier epoch's records are only in object storage: its end offset is
// found there, where the new leader's log begins.
func TestEndOffsetForEpochInTieredData(t *testing.T) {
	st, clk := newMemStore(t)
	bucket, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tp := metadata.TopicPartition{Topic: "tiered"}
	b1 := startTieredNode(t, st, 1, bucket)
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "tiered", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "10",
	}}); err != nil {
		t.Fatal(err)
	}
	for range 4 { // [0, 12), each acked once registered in the catalog
		r, err := b1.Append(ctx, tp, batch(3, -1, -1, -1))
		if err != nil {
			t.Fatal(err)
		}
		if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	e1 := b1.Epoch(tp)
	if e, end := epochEnd(t, b1, tp, e1); e != e1 || end != 12 {
		t.Fatalf("leader's own epoch: (%d, %d), want (%d, 12)", e, end, e1)
	}
	crash(b1, clk)

	b2 := startTieredNode(t, st, 2, bucket)
	e2 := b2.Epoch(tp)
	if e2 != e1+1 {
		t.Fatalf("node 2 epoch %d, want %d", e2, e1+1)
	}
	if start := b2.partitionForTest(t, tp).log.StartOffset(); start != 12 {
		t.Fatalf("node 2's hot log starts at %d, want the tiered end 12", start)
	}
	check := func(req, wantEpoch int32, wantEnd int64) {
		t.Helper()
		if e, end := epochEnd(t, b2, tp, req); e != wantEpoch || end != wantEnd {
			t.Fatalf("epoch %d: (%d, %d), want (%d, %d)", req, e, end, wantEpoch, wantEnd)
		}
	}
	check(e1, e1, 12) // read from object storage: the hot log holds nothing yet
	check(e2, e2, 12)
	if _, err := b2.Append(ctx, tp, batch(2, -1, -1, -1)); err != nil { // [12, 14) under e2
		t.Fatal(err)
	}
	check(e1, e1, 12)
	check(e1-1, e1-1, 0)
	check(e2, e2, 14)
	check(e2+1, -1, -1)
}
