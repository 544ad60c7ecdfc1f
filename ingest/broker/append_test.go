package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// The produce path validates a batch once and the hot log trusts it, so what lands in the log must
// be valid as it is: base offset, leader epoch and, on a LogAppendTime topic, the stamp (under a
// recomputed CRC). A reopen, whose recovery checks every CRC, keeps every batch; a corrupt batch
// is still refused before anything is written.
func TestAppendStoresValidBatches(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	b1 := newBroker(t, st, 1, dir)
	for _, spec := range []topics.Spec{
		{Name: "create", Partitions: 1, ReplicationFactor: 1},
		{Name: "append", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"message.timestamp.type": "LogAppendTime"}},
	} {
		if _, err := adminOf(t, b1).CreateTopic(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	stamps := map[string]int64{}
	for _, topic := range []string{"create", "append"} {
		tp := metadata.TopicPartition{Topic: topic}
		for i := range 3 {
			r, err := b1.Append(ctx, tp, batch(2, -1, 0, 0))
			if err != nil || r.BaseOffset != int64(2*i) {
				t.Fatalf("%s append %d: %+v %v", topic, i, r, err)
			}
			stamps[topic] = r.LogAppendTime
		}
		bad := batch(2, -1, 0, 0)
		bad[len(bad)-1] ^= 1
		_, err := b1.Append(ctx, tp, bad)
		mustCode(t, err, kerr.CorruptMessage)
		if err := b1.WaitDurable(ctx, tp, b1.Epoch(tp), 6); err != nil {
			t.Fatal(err)
		}
	}
	if stamps["create"] != -1 || stamps["append"] <= 0 {
		t.Fatalf("append times %v", stamps)
	}
	epoch := b1.Epoch(metadata.TopicPartition{Topic: "append"})
	b1.Close()
	b1.dir.Close()

	b2 := newBroker(t, st, 1, dir)
	for _, topic := range []string{"create", "append"} {
		tp := metadata.TopicPartition{Topic: topic}
		b2.mu.RLock()
		p := b2.parts[tp]
		b2.mu.RUnlock()
		if p == nil || p.log.EndOffset() != 6 {
			t.Fatalf("%s after reopen: %v", topic, p)
		}
		data, err := p.log.Read(0, 1<<20, -1)
		if err != nil {
			t.Fatal(err)
		}
		s := segment.NewSplitter(data)
		n := 0
		for s.Next() {
			info := s.Info()
			if info.BaseOffset != int64(2*n) || info.PartitionLeaderEpoch < 0 {
				t.Fatalf("%s batch %d: %+v", topic, n, info)
			}
			if topic == "append" && (!info.LogAppendTime() || info.PartitionLeaderEpoch != epoch) {
				t.Fatalf("%s batch %d not stamped under epoch %d: %+v", topic, n, epoch, info)
			}
			if topic == "append" && n == 2 && info.MaxTimestamp != stamps["append"] {
				t.Fatalf("last batch's max timestamp %d, want its append time %d", info.MaxTimestamp, stamps["append"])
			}
			if topic == "create" && info.LogAppendTime() {
				t.Fatalf("%s batch %d stamped: %+v", topic, n, info)
			}
			n++
		}
		if err := s.Err(); err != nil || n != 3 {
			t.Fatalf("%s: %d valid batches, %v", topic, n, err)
		}
	}
}
