package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/tier/segment"
)

// changelogSink stands in for the broker beside the real one (cmd/strata's
// TestConsumerOffsetsChangelog runs OffsetLog against a node over Kafka): it leads the partitions
// in led, at their epochs, and keeps what is appended to each.
type changelogSink struct {
	mu   sync.Mutex
	led  map[metadata.TopicPartition]int32
	recs map[int32][]segment.Record
}

func (s *changelogSink) Led() map[metadata.TopicPartition]int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[metadata.TopicPartition]int32, len(s.led))
	for tp, e := range s.led {
		out[tp] = e
	}
	return out
}

func (s *changelogSink) Append(_ context.Context, tp metadata.TopicPartition, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.led[tp]; !ok {
		return fmt.Errorf("not the leader of %s", tp)
	}
	if _, err := segment.ValidateBatch(b); err != nil {
		return err
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		return err
	}
	for buf := rb.Records; len(buf) > 0; {
		l, n := binary.Varint(buf)
		if n <= 0 || int(l) > len(buf)-n {
			return fmt.Errorf("bad record length")
		}
		var r kmsg.Record
		if err := r.ReadFrom(buf[:n+int(l)]); err != nil {
			return err
		}
		s.recs[tp.Partition] = append(s.recs[tp.Partition], segment.Record{Key: r.Key, Value: r.Value})
		buf = buf[n+int(l):]
	}
	return nil
}

// latest is the last record of each (group, topic, partition) key in partition p: its offset, or
// -1 for a tombstone; count is how many records p holds.
func (s *changelogSink) latest(t *testing.T, p int32) (latest map[string]int64, count int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	latest = map[string]int64{}
	for _, r := range s.recs[p] {
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s/%s/%d", k.Group, k.Topic, k.Partition)
		latest[name] = -1
		if r.Value != nil {
			var v kmsg.OffsetCommitValue
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatal(err)
			}
			latest[name] = v.Offset
		}
	}
	return latest, len(s.recs[p])
}

// TestOffsetLogTerms: a node writes only the partitions it leads, a group of more than one
// batch's offsets goes out whole, a deletion is a tombstone, and a new epoch writes every group of
// the partition again while a partition given up gets nothing more.
func TestOffsetLogTerms(t *testing.T) {
	st, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const parts = 4
	topic := metadata.Topic{Name: topics.OffsetsTopic, Partitions: parts}
	if _, err := st.CreateTopic(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	// Two groups in different partitions.
	a, b := "group-a", "group-b"
	pa, pb := topics.OffsetsPartition(a, parts), topics.OffsetsPartition(b, parts)
	for i := 0; pa == pb; i++ {
		b = fmt.Sprintf("group-b%d", i)
		pb = topics.OffsetsPartition(b, parts)
	}
	sink := &changelogSink{led: map[metadata.TopicPartition]int32{{Topic: topic.Name, Partition: pa}: 1}, recs: map[int32][]segment.Record{}}
	l, err := NewOffsetLog(OffsetLogConfig{
		Store: st,
		Topic: func(ctx context.Context, create bool) (metadata.Topic, error) {
			return st.GetTopic(ctx, topics.OffsetsTopic)
		},
		Led: sink.Led, Append: sink.Append, Poll: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	defer func() { cancel(); <-done }()

	commit := func(g string, n int, off int64) {
		t.Helper()
		offs := map[metadata.TopicPartition]metadata.OffsetCommit{}
		for i := range n {
			offs[metadata.TopicPartition{Topic: "orders", Partition: int32(i)}] = metadata.OffsetCommit{Offset: off, LeaderEpoch: -1, CommittedAt: time.Now()}
		}
		if err := st.CommitOffsets(context.Background(), g, offs); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	commit(a, 700, 5) // more than one batch (offsetLogBatch)
	commit(b, 2, 9)   // another node's partition
	waitFor("group a's 700 offsets", func() bool {
		m, _ := sink.latest(t, pa)
		return len(m) == 700 && m[a+"/orders/699"] == 5
	})
	if _, n := sink.latest(t, pb); n != 0 {
		t.Fatalf("%d records in partition %d, which this node does not lead", n, pb)
	}

	if err := st.DeleteOffsets(context.Background(), a, []metadata.TopicPartition{{Topic: "orders", Partition: 3}}); err != nil {
		t.Fatal(err)
	}
	waitFor("a tombstone for group a's orders/3", func() bool { m, _ := sink.latest(t, pa); return m[a+"/orders/3"] == -1 })
	_, before := sink.latest(t, pa)
	commit(a, 1, 6) // one changed offset: one record
	waitFor("group a's orders/0 at 6", func() bool { m, _ := sink.latest(t, pa); return m[a+"/orders/0"] == 6 })
	if _, n := sink.latest(t, pa); n != before+1 {
		t.Fatalf("a commit of one offset wrote %d records", n-before)
	}

	// A new term of pa, and pb taken over: both get their groups' offsets again.
	sink.mu.Lock()
	sink.led = map[metadata.TopicPartition]int32{{Topic: topic.Name, Partition: pa}: 2, {Topic: topic.Name, Partition: pb}: 1}
	sink.mu.Unlock()
	waitFor("group a rewritten and group b written by the new terms", func() bool {
		_, n := sink.latest(t, pa)
		mb, _ := sink.latest(t, pb)
		return n >= before+1+699 && mb[b+"/orders/1"] == 9
	})
	m, _ := sink.latest(t, pa)
	if len(m) != 700 || m[a+"/orders/3"] != -1 || m[a+"/orders/0"] != 6 || m[a+"/orders/1"] != 5 {
		t.Fatalf("after the new term: %d keys, orders/3 %d, orders/0 %d, orders/1 %d", len(m), m[a+"/orders/3"], m[a+"/orders/0"], m[a+"/orders/1"])
	}

	// pa given up: commits of group a go nowhere from this node.
	sink.mu.Lock()
	delete(sink.led, metadata.TopicPartition{Topic: topic.Name, Partition: pa})
	sink.mu.Unlock()
	time.Sleep(60 * time.Millisecond) // past a Poll
	_, n := sink.latest(t, pa)
	commit(a, 1, 7)
	commit(b, 1, 10)
	waitFor("group b's commit", func() bool { m, _ := sink.latest(t, pb); return m[b+"/orders/0"] == 10 })
	if _, n2 := sink.latest(t, pa); n2 != n {
		t.Fatalf("%d records appended to a partition given up", n2-n)
	}
}
