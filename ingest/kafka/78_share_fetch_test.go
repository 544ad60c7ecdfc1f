package kafka

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareMember drives one share group member by hand over a real client connection, so the tests
// can hold records, release them and let locks expire deterministically.
type shareMember struct {
	t       *testing.T
	cl      *kgo.Client
	group   string
	id      string
	topicID [16]byte
	epoch   int32
}

func newShareMember(t *testing.T, n *testNode, group, id string, topicID [16]byte) *shareMember {
	return &shareMember{t: t, cl: n.client(t), group: group, id: id, topicID: topicID}
}

// fetch sends a ShareFetch for partition 0 with acks piggy-backed and returns the partition's
// acquired ranges and its acknowledgement error.
func (m *shareMember) fetch(maxRecords int32, acks ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) ([]kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, int16) {
	m.t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID = &m.group, &m.id
	req.ShareSessionEpoch, req.MaxWaitMillis, req.MaxRecords, req.BatchSize = m.epoch, 200, maxRecords, maxRecords
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.AcknowledgementBatches = 1<<20, acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), m.cl)
	if err != nil {
		m.t.Fatalf("share fetch: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		m.t.Fatalf("share fetch: %v", err)
	}
	if resp.AcquisitionLockTimeoutMillis <= 0 {
		m.t.Fatalf("acquisition lock timeout %d", resp.AcquisitionLockTimeoutMillis)
	}
	m.epoch++
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		m.t.Fatalf("share fetch answered %d topics, want the one named", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		m.t.Fatalf("share fetch partition: %v", err)
	}
	if len(p.AcquiredRecords) > 0 && len(p.Records) == 0 {
		m.t.Fatalf("acquired %v without records", p.AcquiredRecords)
	}
	return p.AcquiredRecords, p.AcknowledgeErrorCode
}

// ack sends a ShareAcknowledge for partition 0 and returns the partition's error.
func (m *shareMember) ack(batches ...kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) int16 {
	m.t.Helper()
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, m.epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	for _, b := range batches {
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset, AcknowledgeTypes: b.AcknowledgeTypes})
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), m.cl)
	if err != nil {
		m.t.Fatalf("share acknowledge: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		m.t.Fatalf("share acknowledge: %v", err)
	}
	m.epoch++
	return resp.Topics[0].Partitions[0].ErrorCode
}

func ackBatch(first, last int64, typ int8) kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch {
	return kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: first, LastOffset: last, AcknowledgeTypes: []int8{typ}}
}

func acquired(first, last int64, dc int16) kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	return kmsg.ShareFetchResponseTopicPartitionAcquiredRecord{FirstOffset: first, LastOffset: last, DeliveryCount: dc}
}

func sameAcquired(got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, want ...kmsg.ShareFetchResponseTopicPartitionAcquiredRecord) bool {
	return slices.EqualFunc(got, want, func(a, b kmsg.ShareFetchResponseTopicPartitionAcquiredRecord) bool {
		return a.FirstOffset == b.FirstOffset && a.LastOffset == b.LastOffset && a.DeliveryCount == b.DeliveryCount
	})
}

// shareTopic creates a one-partition topic holding n records (offsets 0..n-1) and returns its id.
func shareTopic(t *testing.T, n *testNode, name string, records int) [16]byte {
	t.Helper()
	n.createTopic(t, name, 1, nil)
	p := n.client(t, kgo.DefaultProduceTopic(name))
	var rs []*kgo.Record
	for i := range records {
		rs = append(rs, kgo.StringRecord(strconv.Itoa(i)))
	}
	if err := p.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	topics, err := n.admin(t).ListTopics(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return topics[name].ID
}

func setGroupConfigs(t *testing.T, n *testNode, group string, kvs ...string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for i := 0; i < len(kvs); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = kvs[i], kmsg.StringPtr(kvs[i+1])
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(context.Background(), n.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("alter group configs %v: %v", kvs, err)
	}
}

func describeSPSO(t *testing.T, n *testNode, group, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	rg.GroupID = group
	rg.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{{Topic: topic, Partitions: []int32{0}}}
	req.Groups = append(req.Groups, rg)
	resp, err := req.RequestWith(context.Background(), n.client(t))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Groups[0].Topics[0].Partitions[0].StartOffset
}

// Two members fetching one partition get disjoint records; a released record is redelivered with
// a higher delivery count; a rejected one is archived; only the holder may acknowledge.
func TestShareFetchAcquireReleaseReject(t *testing.T) {
	n := startNode(t, nodeOpts{})
	id := shareTopic(t, n, "queue", 10)
	setGroupConfigs(t, n, "g", "share.auto.offset.reset", "earliest")
	a, b := newShareMember(t, n, "g", "a", id), newShareMember(t, n, "g", "b", id)

	if got, _ := a.fetch(4); !sameAcquired(got, acquired(0, 3, 1)) {
		t.Fatalf("a acquired %v, want 0-3", got)
	}
	if got, _ := b.fetch(4); !sameAcquired(got, acquired(4, 7, 1)) {
		t.Fatalf("b acquired %v, want 4-7 (disjoint from a)", got)
	}
	if code := b.ack(ackBatch(0, 0, 1)); code != kerr.InvalidRecordState.Code {
		t.Fatalf("b acknowledging a's record: %v", kerr.ErrorForCode(code))
	}
	// a releases 0-1 and accepts 2-3.
	if code := a.ack(ackBatch(0, 1, 2), ackBatch(2, 3, 1)); code != 0 {
		t.Fatalf("a ack: %v", kerr.ErrorForCode(code))
	}
	got, _ := b.fetch(10)
	if !sameAcquired(got, acquired(0, 1, 2), acquired(8, 9, 1)) {
		t.Fatalf("b acquired %v, want 0-1 (second delivery) and 8-9", got)
	}
	// b rejects 0, accepts the rest, piggy-backed on its next fetch.
	got, code := b.fetch(10, ackBatch(0, 0, 3), ackBatch(1, 1, 1), ackBatch(4, 9, 1))
	if code != 0 || len(got) != 0 {
		t.Fatalf("b's piggy-backed acks: %v, acquired %v", kerr.ErrorForCode(code), got)
	}
	if spso := describeSPSO(t, n, "g", "queue"); spso != 10 {
		t.Fatalf("SPSO %d, want 10", spso)
	}
	if got, _ := a.fetch(10); len(got) != 0 {
		t.Fatalf("rejected or accepted records delivered again: %v", got)
	}
}

// A record whose acquisition lock expires is delivered again, and one that reaches the delivery
// count limit is archived.
func TestShareFetchLockExpiryAndDeliveryLimit(t *testing.T) {
	n := startNode(t, nodeOpts{})
	id := shareTopic(t, n, "queue", 2)
	setGroupConfigs(t, n, "g", "share.auto.offset.reset", "earliest",
		"share.record.lock.duration.ms", "1000", "share.delivery.count.limit", "2")
	a, b := newShareMember(t, n, "g", "a", id), newShareMember(t, n, "g", "b", id)

	if got, _ := a.fetch(1); !sameAcquired(got, acquired(0, 0, 1)) {
		t.Fatalf("a acquired %v", got)
	}
	start := time.Now()
	// b waits for a's lock to expire: it gets offset 1 at once, then offset 0 once it is free.
	if got, _ := b.fetch(1); !sameAcquired(got, acquired(1, 1, 1)) {
		t.Fatalf("b acquired %v, want offset 1", got)
	}
	if code := b.ack(ackBatch(1, 1, 1)); code != 0 {
		t.Fatalf("b ack: %v", kerr.ErrorForCode(code))
	}
	var got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	for len(got) == 0 && time.Since(start) < 5*time.Second {
		got, _ = b.fetch(1)
	}
	if !sameAcquired(got, acquired(0, 0, 2)) || time.Since(start) < time.Second {
		t.Fatalf("after %v b acquired %v, want offset 0 at delivery 2 after the 1s lock", time.Since(start), got)
	}
	if code := a.ack(ackBatch(0, 0, 1)); code != kerr.InvalidRecordState.Code {
		t.Fatalf("a acknowledging after its lock expired: %v", kerr.ErrorForCode(code))
	}
	// The second delivery was the last: released, it is archived.
	if code := b.ack(ackBatch(0, 0, 2)); code != 0 {
		t.Fatalf("b ack: %v", kerr.ErrorForCode(code))
	}
	if got, _ := a.fetch(10); len(got) != 0 {
		t.Fatalf("archived record delivered: %v", got)
	}
	if spso := describeSPSO(t, n, "g", "queue"); spso != 2 {
		t.Fatalf("SPSO %d, want 2", spso)
	}
}

// Share sessions: a fetch with a stale epoch or without a session is refused; closing the session
// releases what the member holds.
func TestShareSessions(t *testing.T) {
	n := startNode(t, nodeOpts{})
	id := shareTopic(t, n, "queue", 3)
	setGroupConfigs(t, n, "g", "share.auto.offset.reset", "earliest")
	a := newShareMember(t, n, "g", "a", id)
	a.epoch = 5
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &a.group, &a.id, 5
	resp, err := req.RequestWith(context.Background(), a.cl)
	if err != nil || resp.ErrorCode != kerr.ShareSessionNotFound.Code {
		t.Fatalf("fetch without a session: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	a.epoch = 0
	if got, _ := a.fetch(10); !sameAcquired(got, acquired(0, 2, 1)) {
		t.Fatalf("acquired %v", got)
	}
	resp, err = req.RequestWith(context.Background(), a.cl) // epoch 5, the session expects 1
	if err != nil || resp.ErrorCode != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("fetch with a wrong epoch: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	a.epoch = -1
	if code := a.ack(ackBatch(0, 0, 1)); code != 0 {
		t.Fatalf("closing ack: %v", kerr.ErrorForCode(code))
	}
	b := newShareMember(t, n, "g", "b", id)
	if got, _ := b.fetch(10); !sameAcquired(got, acquired(1, 2, 2)) {
		t.Fatalf("after a closed its session b acquired %v, want 1-2 again", got)
	}
}

// franz-go's share consumer: two members of one group read a topic together; every record is
// delivered to exactly one of them, once, and both finish.
func TestShareGroupFranzGo(t *testing.T) {
	n := startNode(t, nodeOpts{})
	const total = 300
	n.createTopic(t, "jobs", 3, nil)
	setGroupConfigs(t, n, "workers", "share.auto.offset.reset", "earliest")
	p := n.client(t, kgo.DefaultProduceTopic("jobs"))
	for i := range total {
		p.Produce(context.Background(), kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string][]string{} // value → members
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, member := range []string{"m1", "m2"} {
		cl := n.client(t, kgo.ConsumeTopics("jobs"), kgo.ShareGroup("workers"), kgo.ShareMaxRecords(20))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				done := len(seen) == total
				mu.Unlock()
				if done {
					return
				}
				fs := cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					if r.DeliveryCount() != 1 {
						t.Errorf("%s: record %s delivered %d times", member, r.Value, r.DeliveryCount())
					}
					r.Ack(kgo.AckAccept)
					mu.Lock()
					seen[string(r.Value)] = append(seen[string(r.Value)], member)
					mu.Unlock()
				}
				if err := cl.FlushAcks(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("%s: flush acks: %v", member, err)
				}
				mu.Lock()
				if len(seen) == total {
					cancel() // the other member stops polling
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), total)
	}
	for v, ms := range seen {
		if len(ms) != 1 {
			t.Errorf("record %s delivered to %v", v, ms)
		}
	}
	// The group is listed as a share group and described with its members.
	lg := kmsg.NewPtrListGroupsRequest()
	lg.TypesFilter = []string{"share"}
	lresp, err := lg.RequestWith(context.Background(), n.client(t))
	if err != nil || len(lresp.Groups) != 1 || lresp.Groups[0].Group != "workers" || lresp.Groups[0].GroupType != "share" {
		t.Fatalf("list share groups: %v %+v", err, lresp)
	}
	dg := kmsg.NewPtrShareGroupDescribeRequest()
	dg.GroupIDs = []string{"workers"}
	dresp, err := dg.RequestWith(context.Background(), n.client(t))
	if err != nil || dresp.Groups[0].ErrorCode != 0 || len(dresp.Groups[0].Members) != 2 {
		t.Fatalf("describe share group: %v %+v", err, dresp)
	}
	for _, m := range dresp.Groups[0].Members {
		if len(m.Assignment.TopicPartitions) != 1 || len(m.Assignment.TopicPartitions[0].Partitions) != 3 {
			t.Errorf("member %s assigned %+v, want all 3 partitions", m.MemberID, m.Assignment.TopicPartitions)
		}
	}
}

// A share partition's start offset survives a restart (it is stored through the offsets role):
// the restarted node delivers the records that were held, not those accepted, and skips none.
func TestShareStartOffsetSurvivesRestart(t *testing.T) {
	st := startNode(t, nodeOpts{}) // only for its NATS store
	store := st.store
	st.stop()

	n1 := startNode(t, nodeOpts{store: store})
	id := shareTopic(t, n1, "queue", 10)
	setGroupConfigs(t, n1, "g", "share.auto.offset.reset", "earliest")
	a := newShareMember(t, n1, "g", "a", id)
	if got, _ := a.fetch(10); !sameAcquired(got, acquired(0, 9, 1)) {
		t.Fatalf("acquired %v", got)
	}
	if code := a.ack(ackBatch(0, 4, 1)); code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	a.cl.Close()
	n1.stop() // 5-9 are still held

	n2 := startNode(t, nodeOpts{store: store, dataDir: n1.dir})
	setGroupConfigs(t, n2, "g", "share.auto.offset.reset", "earliest")
	if spso := describeSPSO(t, n2, "g", "queue"); spso != 5 {
		t.Fatalf("stored SPSO %d after the restart, want 5", spso)
	}
	b := newShareMember(t, n2, "g", "b", id)
	var got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	deadline := time.Now().Add(10 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		got, _ = b.fetch(10)
	}
	if !sameAcquired(got, acquired(5, 9, 1)) {
		t.Fatalf("after the restart acquired %v, want 5-9", got)
	}
}

// A partition answered without records carries an empty record set, never a null one: Kafka's
// schema has the field non-nullable and its Java client fails on a null.
func TestShareFetchTopicsNeverNullRecords(t *testing.T) {
	parts := []sharePart{{tp: topicPartition("t", 0), known: true, ackCode: kerr.InvalidRecordState.Code}}
	for _, topics := range [][]kmsg.ShareFetchResponseTopic{shareFetchTopics(parts, nil), shareFetchTopics(parts, map[int]shareResult{0: {code: kerr.NotLeaderForPartition.Code}})} {
		p := topics[0].Partitions[0]
		if p.Records == nil {
			t.Fatal("null records")
		}
		if p.AcknowledgeErrorCode != kerr.InvalidRecordState.Code {
			t.Fatalf("acknowledge error %d", p.AcknowledgeErrorCode)
		}
	}
}
