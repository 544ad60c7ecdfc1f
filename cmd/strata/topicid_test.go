package main

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
)

// Produce v13 names topics by ID (KIP-516), over TCP against a node: a known ID appends, an ID
// that names no topic answers UNKNOWN_TOPIC_ID, and so does the ID of a topic deleted and created
// again under the same name; franz-go's own producer and consumer (which use IDs when the node
// offers them) read back what was written.
func TestProduceByTopicID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := startCluster(t, 1, 1)
	c.createTopic(t, ctx, "by-id", 1, nil)
	cl := c.client(t)
	adm := kadm.NewClient(cl)
	idOf := func() [16]byte { return topicIDOf(t, ctx, cl, "by-id") }
	produce := func(id [16]byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = kgoBatch(t)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version < 13 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("produce v%d: %+v; want v13 with one partition", resp.Version, resp.Topics)
		}
		if resp.Topics[0].TopicID != id {
			t.Fatalf("answered for topic %x, want %x", resp.Topics[0].TopicID, id)
		}
		return resp.Topics[0].Partitions[0]
	}
	id := idOf()
	if sp := produce(id); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("by ID: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if sp := produce([16]byte{7}); sp.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("an unknown ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(sp.ErrorCode))
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "by-id", Value: []byte("franz-go")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fetched := c.client(t, kgo.ConsumeTopics("by-id"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 4 && ctx.Err() == nil {
		fetched.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 4 || got[3] != "franz-go" {
		t.Fatalf("read back %q; want the raw batch's 3 records, then franz-go's", got)
	}

	if _, err := adm.DeleteTopics(ctx, "by-id"); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "by-id"); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the topic was never created again")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for newID := idOf(); ; newID = idOf() {
		if newID != id {
			if sp := produce(newID); sp.ErrorCode == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the new topic never took a produce")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if sp := produce(id); sp.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("the deleted topic's ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// kgoBatch is a record batch of three records, as a producer sends it.
func kgoBatch(t *testing.T) []byte {
	t.Helper()
	now := time.Now().UnixMilli()
	var recs []segment.Record
	for i := range 3 {
		recs = append(recs, segment.Record{Timestamp: now, Value: []byte{byte('a' + i)}})
	}
	return segment.AppendBatch(nil, segment.NewBatch{FirstTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
}

// topicIDOf is the ID of topic, as Metadata tells cl: raw requests name topics by ID from Produce
// v13 and Fetch v13 on, versions a client picks when the node offers them.
func topicIDOf(t *testing.T, ctx context.Context, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil || md.Topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, md.Topics[topic].Err)
	}
	return md.Topics[topic].ID
}
