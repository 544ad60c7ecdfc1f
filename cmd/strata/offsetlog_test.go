package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
)

// changelogEntry is the latest __consumer_offsets record of one (group, topic, partition).
type changelogEntry struct {
	offset    int64
	epoch     int32
	metadata  string
	tombstone bool
	partition int32 // of __consumer_offsets
}

type changelogKey struct {
	group, topic string
	partition    int32
}

// readChangelog reads __consumer_offsets from the start to its current end and returns the latest
// record of every key, decoded as Kafka's OffsetCommitKey/Value (any decoding failure fails).
func readChangelog(t *testing.T, ctx context.Context, addr string) map[changelogKey]changelogEntry {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics.OffsetsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.OffsetsTopic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of %s: %v %v", topics.OffsetsTopic, err, ends.Error())
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	out := map[changelogKey]changelogEntry{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left: %v)", topics.OffsetsTopic, ctx.Err(), want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topics.OffsetsTopic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			var k kmsg.OffsetCommitKey
			if err := k.ReadFrom(r.Key); err != nil || k.Version != 1 {
				t.Fatalf("record %d/%d: key version %d: %v", r.Partition, r.Offset, k.Version, err)
			}
			if p := topics.OffsetsPartition(k.Group, 3); p != r.Partition {
				t.Fatalf("group %q in partition %d, want %d (Kafka's choice)", k.Group, r.Partition, p)
			}
			e := changelogEntry{tombstone: r.Value == nil, partition: r.Partition}
			if r.Value != nil {
				var v kmsg.OffsetCommitValue
				if err := v.ReadFrom(r.Value); err != nil || v.Version != 3 {
					t.Fatalf("record %d/%d: value version %d: %v", r.Partition, r.Offset, v.Version, err)
				}
				e.offset, e.epoch, e.metadata = v.Offset, v.LeaderEpoch, v.Metadata
			}
			out[changelogKey{k.Group, k.Topic, k.Partition}] = e
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// waitChangelog reads the changelog until check passes (it returns what is still wrong).
func waitChangelog(t *testing.T, ctx context.Context, addr string, check func(map[changelogKey]changelogEntry) error) {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if last = check(readChangelog(t, ctx, addr)); last == nil {
			return
		}
	}
	t.Fatalf("__consumer_offsets: %v", last)
}

// TestConsumerOffsetsChangelog: committed offsets appear in __consumer_offsets as Kafka's records
// (in the group's partition by Kafka's hash), deletions as tombstones; the topic is listed as
// internal and refuses produce and deletion; after a kill -9 and restart, the new term writes the
// current offsets again and follows new commits.
func TestConsumerOffsetsChangelog(t *testing.T) {
	dataDir := t.TempDir()
	args := append(serverArgs(dataDir), "--offsets-topic-partitions", "3")
	p := startStrata(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	commit := func(adm *kadm.Client, group string, part int32, off int64, meta string) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "orders", Partition: part, At: off, LeaderEpoch: 4, Metadata: meta})
		r, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = r.Error()
		}
		if err != nil {
			t.Fatalf("commit %s: %v", group, err)
		}
	}
	commit(adm, "billing", 0, 10, "m1")
	commit(adm, "billing", 1, 20, "")
	commit(adm, "audit", 0, 7, "")
	commit(adm, "billing", 0, 11, "m2") // the latest record of billing/orders/0 must say 11

	waitChangelog(t, ctx, p.kafka, func(m map[changelogKey]changelogEntry) error {
		for k, want := range map[changelogKey]changelogEntry{
			{"billing", "orders", 0}: {offset: 11, epoch: 4, metadata: "m2"},
			{"billing", "orders", 1}: {offset: 20, epoch: 4},
			{"audit", "orders", 0}:   {offset: 7, epoch: 4},
		} {
			got := m[k]
			got.partition = 0
			if got != want {
				return fmt.Errorf("%v: got %+v, want %+v", k, m[k], want)
			}
		}
		return nil
	})

	// Listed as internal; clients may neither write nor delete it.
	md, err := adm.Metadata(ctx, topics.OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if d := md.Topics[topics.OffsetsTopic]; d.Err != nil || !d.IsInternal || len(d.Partitions) != 3 {
		t.Fatalf("metadata of %s: err %v, internal %v, %d partitions", topics.OffsetsTopic, d.Err, d.IsInternal, len(d.Partitions))
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: topics.OffsetsTopic, Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to %s: %v, want INVALID_TOPIC_EXCEPTION", topics.OffsetsTopic, err)
	}
	dr, err := adm.DeleteTopics(ctx, topics.OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := dr[topics.OffsetsTopic].Err; !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("delete %s: %v, want INVALID_TOPIC_EXCEPTION", topics.OffsetsTopic, err)
	}

	// OffsetDelete writes a tombstone.
	del, err := adm.DeleteOffsets(ctx, "audit", kadm.TopicsSet{"orders": {0: {}}})
	if err != nil || del.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, del.Error())
	}
	waitChangelog(t, ctx, p.kafka, func(m map[changelogKey]changelogEntry) error {
		if e := m[changelogKey{"audit", "orders", 0}]; !e.tombstone {
			return fmt.Errorf("audit/orders/0: %+v, want a tombstone", e)
		}
		return nil
	})
	billing := topics.OffsetsPartition("billing", 3)
	endOf := func(adm *kadm.Client) int64 {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, topics.OffsetsTopic)
		if err != nil || ends.Error() != nil {
			t.Fatalf("end offsets: %v %v", err, ends.Error())
		}
		o, _ := ends.Lookup(topics.OffsetsTopic, billing)
		return o.Offset
	}
	before := endOf(adm)
	cl.Close()

	// kill -9 and restart: the new term writes billing's offsets again, then follows a commit.
	_ = p.cmd.Process.Kill()
	<-p.done
	p = startStrata(t, args...)
	cl, err = kgo.NewClient(kgo.SeedBrokers(p.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	for deadline := time.Now().Add(30 * time.Second); endOf(adm) < before+2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, partition %d of %s did not grow past %d by billing's 2 offsets", billing, topics.OffsetsTopic, before)
		}
	}
	commit(adm, "billing", 1, 21, "after")
	waitChangelog(t, ctx, p.kafka, func(m map[changelogKey]changelogEntry) error {
		if e := m[changelogKey{"billing", "orders", 1}]; e.offset != 21 || e.metadata != "after" {
			return fmt.Errorf("billing/orders/1 after the restart: %+v, want offset 21", e)
		}
		if e := m[changelogKey{"billing", "orders", 0}]; e.offset != 11 {
			return fmt.Errorf("billing/orders/0 after the restart: %+v, want offset 11", e)
		}
		return nil
	})
}
