package kafka

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// batchesIn counts the whole record batches in b.
func batchesIn(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	s := segment.NewSplitter(b)
	for s.Next() {
		n++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFetchByteLimits(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "lim", 2, nil)
	r := n.raw(t)
	one := recordBatch(10, -1, -1, -1)
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 5; i++ {
			if pr := r.produceRaw("lim", p, append([]byte(nil), one...), -1); pr.ErrorCode != 0 { // acks=all: visible once durable
				t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
			}
		}
	}
	size := len(one)
	fetch := func(maxBytes, partMax int32) []int {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.MaxBytes = maxBytes
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "lim"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, partMax, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := r.roundTrip(req).(*kmsg.FetchResponse)
		var out []int
		for _, sp := range resp.Topics[0].Partitions {
			if sp.ErrorCode != 0 || sp.HighWatermark != 50 {
				t.Fatalf("partition %d: %v hw %d", sp.Partition, kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
			}
			if sp.RecordBatches == nil {
				// librdkafka rejects a null record set; an empty one is what Kafka sends.
				t.Fatalf("partition %d: null record set", sp.Partition)
			}
			out = append(out, batchesIn(t, sp.RecordBatches))
		}
		return out
	}
	cases := []struct {
		name           string
		maxBytes, pmax int32
		want0, want1   int
	}{
		{"everything", 1 << 20, 1 << 20, 5, 5},
		{"partition max below one batch: one batch for the first partition only (KIP-74)", 1 << 20, 1, 1, 0},
		{"partition max of two batches", 1 << 20, int32(2 * size), 2, 2},
		{"response max below one batch: first partition only", 1, 1 << 20, 1, 0},
		{"response max of three batches", int32(3 * size), 1 << 20, 3, 0},
		{"response max of seven batches", int32(7 * size), 1 << 20, 5, 2},
	}
	for _, tc := range cases {
		got := fetch(tc.maxBytes, tc.pmax)
		if got[0] != tc.want0 || got[1] != tc.want1 {
			t.Errorf("%s: batches %v, want [%d %d]", tc.name, got, tc.want0, tc.want1)
		}
	}
}

// The broker's FetchMaxBytes caps a response whatever the request asks for (fetch.max.bytes).
func TestFetchMaxBytesCapsRequest(t *testing.T) {
	one := recordBatch(10, -1, -1, -1)
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.FetchMaxBytes = int32(3 * len(one)) }})
	n.createTopic(t, "cap", 1, nil)
	r := n.raw(t)
	for i := 0; i < 10; i++ {
		if pr := r.produceRaw("cap", 0, append([]byte(nil), one...), -1); pr.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
		}
	}
	for _, maxBytes := range []int32{0, 1 << 30} {
		resp := r.roundTrip(fetchRequest("cap", 0, 0, maxBytes, 1<<30)).(*kmsg.FetchResponse)
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(sp.ErrorCode))
		}
		if got := batchesIn(t, sp.RecordBatches); got != 3 {
			t.Errorf("request max_bytes %d: %d batches, want the broker's cap of 3", maxBytes, got)
		}
	}
}

// Many Produce requests pipelined on one connection append in request order: an idempotent
// producer's sequences would be rejected otherwise.
func TestPipelinedProducesAppendInOrder(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "order", 1, nil)
	r := n.raw(t)
	ipr := kmsg.NewPtrInitProducerIDRequest()
	ip := r.roundTrip(ipr).(*kmsg.InitProducerIDResponse)
	if ip.ProducerID == 0 {
		ip = r.roundTrip(ipr).(*kmsg.InitProducerIDResponse)
	}
	const reqs = 40
	var corrs []int32
	for i := 0; i < reqs; i++ {
		batch := recordBatch(3, ip.ProducerID, ip.ProducerEpoch, int32(3*i))
		corrs = append(corrs, r.send(produceRequest("order", 0, batch, -1, 10000)))
	}
	for i, corr := range corrs {
		sp := r.readProduce(corr)
		if sp.ErrorCode != 0 || sp.BaseOffset != int64(3*i) {
			t.Fatalf("request %d: %v base %d", i, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
		}
	}
}

// Two nodes share one metadata store: clients bootstrapped from either see both brokers, produce to
// each partition's leader and consume everything back, and a consumer group works across them.
func TestTwoNodeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("two-node cluster")
	}
	fast := func(c *broker.Config) { c.LeaseTTL, c.RenewInterval = 2*time.Second, 200*time.Millisecond }
	n1 := startNode(t, nodeOpts{brokerCfg: fast})
	n2 := startNode(t, nodeOpts{store: n1.store, brokerCfg: func(c *broker.Config) { fast(c); c.NodeID = 2 },
		serverCfg: func(c *Config) { c.NodeID = 2 }})
	n1.createTopic(t, "two", 8, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := n2.client(t, kgo.DefaultProduceTopic("two"), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	const per = 20
	for p := int32(0); p < 8; p++ {
		for i := 0; i < per; i++ {
			r := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	led1, led2 := len(n1.b.LedPartitions()), len(n2.b.LedPartitions())
	if led1+led2 != 8 || led1 == 0 || led2 == 0 {
		t.Fatalf("partitions led: node 1 %d, node 2 %d", led1, led2)
	}
	md, err := n1.admin(t).Metadata(ctx, "two")
	if err != nil || len(md.Brokers) != 2 {
		t.Fatalf("metadata brokers: %v %+v", err, md.Brokers)
	}
	got := consumeAll(t, n1, "two", 8, 8*per)
	if len(got) != 8*per {
		t.Fatalf("consumed %d, want %d", len(got), 8*per)
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	n := startNode(t, nodeOpts{memStore: true, serverCfg: func(c *Config) { c.Registerer = reg }})
	n.raw(t).roundTrip(kmsg.NewPtrApiVersionsRequest())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"strata_kafka_requests_total", "strata_kafka_request_duration_seconds",
		"strata_kafka_request_bytes_total", "strata_kafka_response_bytes_total", "strata_kafka_connections"} {
		if !names[want] {
			t.Errorf("metric %s missing (have %v)", want, names)
		}
	}
	if _, err := New(Config{Broker: n.b, Groups: n.srv.groups, Registerer: reg}); err == nil {
		t.Fatal("registering the same metrics twice must fail")
	}
}

// Fetch v13+ names topics by ID: a known ID reads the topic (in a session too, forgotten by ID),
// an ID that names no topic answers UNKNOWN_TOPIC_ID, and so does the ID of a topic deleted and
// created again under the same name, while the new ID reads the new topic.
func TestFetchByTopicID(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "ids", 1, nil)
	r := n.raw(t)
	if pr := r.produceRaw("ids", 0, recordBatch(3, -1, -1, -1), -1); pr.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
	}
	idOf := func() [16]byte {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("ids")
		req.Topics = append(req.Topics, mt)
		resp := r.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("metadata: %+v", resp.Topics)
		}
		return resp.Topics[0].TopicID
	}
	fetch := func(version int16, sessionID, epoch int32, id [16]byte, forget bool) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.MaxBytes, req.SessionID, req.SessionEpoch = 1<<20, sessionID, epoch
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 0, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		if forget {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.TopicID, ft.Partitions = id, []int32{0}
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
		} else {
			req.Topics = append(req.Topics, rt)
		}
		return r.roundTrip(req).(*kmsg.FetchResponse)
	}
	one := func(resp *kmsg.FetchResponse) kmsg.FetchResponseTopicPartition {
		t.Helper()
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch: error %v, topics %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	id := idOf()
	for _, v := range []int16{13, 15, 16, 17, 18} {
		resp := fetch(v, 0, -1, id, false)
		if sp := one(resp); sp.ErrorCode != 0 || sp.HighWatermark != 3 || batchesIn(t, sp.RecordBatches) != 1 || resp.Topics[0].TopicID != id {
			t.Fatalf("v%d: %v, hw %d, topic id %x; want the topic's batch and id %x", v, kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark, resp.Topics[0].TopicID, id)
		}
	}
	if sp := one(fetch(13, 0, -1, [16]byte{1, 2, 3}, false)); sp.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("an unknown ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(sp.ErrorCode))
	}
	// Topics created one after the other are read by ID at once (a client reads a topic it has
	// just created; Java clients wait seconds before asking again after UNKNOWN_TOPIC_ID).
	for _, name := range []string{"ids-a", "ids-b", "ids-c"} {
		res, err := n.admin(t).CreateTopic(context.Background(), 1, 1, nil, name)
		if err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", name, err, res.Err)
		}
		if sp := one(fetch(13, 0, -1, res.ID, false)); sp.ErrorCode != 0 && sp.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("a topic just created, %s: %v", name, kerr.ErrorForCode(sp.ErrorCode))
		}
	}

	// A session by ID: opened, the partition forgotten by ID, then an incremental fetch answers
	// nothing of it.
	open := fetch(13, 0, 0, id, false)
	if sp := one(open); sp.ErrorCode != 0 || open.SessionID == 0 {
		t.Fatalf("session: %v, id %d", kerr.ErrorForCode(sp.ErrorCode), open.SessionID)
	}
	if resp := fetch(13, open.SessionID, 1, id, true); resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("after forgetting by ID: %v, %+v", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}

	// The topic deleted and created again: the old ID is unknown, the new one reads the new topic.
	if _, err := n.admin(t).DeleteTopics(context.Background(), "ids"); err != nil {
		t.Fatal(err)
	}
	n.createTopic(t, "ids", 1, nil)
	var newID [16]byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if newID = idOf(); newID != id {
			if sp := one(fetch(13, 0, -1, newID, false)); sp.ErrorCode == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the new topic never served")
		}
	}
	if sp := one(fetch(13, 0, -1, id, false)); sp.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("the deleted topic's ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp := one(fetch(13, 0, -1, newID, false)); sp.ErrorCode != 0 || sp.HighWatermark != 0 {
		t.Fatalf("the new topic: %v, hw %d; want an empty topic", kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark)
	}
}

// Record sets of the hot log are sent from its segment files (sendfile) to a plain TCP client:
// a franz-go consumer reads every record as produced, across several partitions and fetches, and
// most of the bytes went out without passing through memory; so did a read_committed consumer's
// (whose reads stop at the last stable offset).
func TestFetchSendsHotRecordsFromFiles(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "zc", 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr := n.client(t, kgo.ProducerLinger(5*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	const perPartition, size = 300, 4 << 10
	want := map[int32][][]byte{}
	var produced float64
	for p := int32(0); p < 3; p++ {
		var recs []*kgo.Record
		for i := range perPartition {
			v := make([]byte, size)
			for j := range v {
				v[j] = byte(i*7 + j*13 + int(p))
			}
			copy(v, fmt.Sprintf("p%d-r%d", p, i))
			want[p] = append(want[p], v)
			recs = append(recs, &kgo.Record{Topic: "zc", Partition: p, Value: v})
			produced += size
		}
		if err := pr.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(opts ...kgo.Opt) {
		t.Helper()
		co := n.client(t, append([]kgo.Opt{kgo.ConsumeTopics("zc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxPartitionBytes(256 << 10), kgo.FetchMaxBytes(512 << 10)}, opts...)...)
		got := map[int32]int{}
		for total := 0; total < 3*perPartition; {
			fs := co.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d records: %v", total, 3*perPartition, err)
			}
			if errs := fs.Errors(); len(errs) > 0 {
				t.Fatalf("fetch: %v", errs[0].Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				i := got[r.Partition]
				if r.Offset != int64(i) || !bytes.Equal(r.Value, want[r.Partition][i]) {
					t.Fatalf("partition %d: record at offset %d (the %d-th read) differs from the one produced: %q vs %q", r.Partition, r.Offset, i, r.Value[:min(20, len(r.Value))], want[r.Partition][min(i, len(want[r.Partition])-1)][:20])
				}
				got[r.Partition]++
				total++
			})
		}
	}
	consume()
	sent := testutil.ToFloat64(n.srv.m.fileBytes)
	if sent < produced/2 {
		t.Fatalf("%.0f record bytes sent from files, want most of the %.0f produced", sent, produced)
	}
	consume(kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if again := testutil.ToFloat64(n.srv.m.fileBytes); again-sent < produced/2 {
		t.Fatalf("read_committed fetches sent %.0f record bytes from files, want most of the %.0f", again-sent, produced)
	}
}

// A client that stops reading gets its record sets' files closed all the same: the responses
// after the one whose write failed are never written, and their spans are released
// (hotlog.SpanFiles back where it was).
func TestFetchFilesReleasedWhenClientLeaves(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.IOTimeout = 300 * time.Millisecond }})
	n.createTopic(t, "gone", 1, nil)
	r := n.raw(t)
	for range 8 {
		bt := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			Values: [][]byte{make([]byte, 256<<10)}}.Encode()
		if pr := r.produceRaw("gone", 0, bt, -1); pr.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
		}
	}
	before := hotlog.SpanFiles()
	req := fetchRequest("gone", 0, 0, 4<<20, 4<<20)
	// Read normally, these records go out from files.
	if resp := r.roundTrip(req).(*kmsg.FetchResponse); batchesIn(t, resp.Topics[0].Partitions[0].RecordBatches) != 8 {
		t.Fatal("the fetch did not return the 8 batches")
	}
	if sent := testutil.ToFloat64(n.srv.m.fileBytes); sent < 2<<20 {
		t.Fatalf("%.0f record bytes sent from files, want the 2 MiB fetched", sent)
	}
	// A client that asks for 16 responses of 2 MiB and reads none: the first write that does not
	// fit the sockets' buffers times out (IOTimeout), and the responses after it are dropped.
	gone := n.raw(t)
	for range 16 {
		gone.send(req)
	}
	time.Sleep(time.Second)
	_ = gone.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for hotlog.SpanFiles() != before {
		if time.Now().After(deadline) {
			t.Fatalf("%d span descriptors still held after the client left (%d before)", hotlog.SpanFiles(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
