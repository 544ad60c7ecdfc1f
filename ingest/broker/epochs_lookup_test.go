package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
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
