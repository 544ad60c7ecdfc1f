package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// consumeAll reads partition p of topic from offset 0 until want records arrived.
func consumeAll(t *testing.T, n *testNode, topic string, partitions int32, want int) []*kgo.Record {
	t.Helper()
	offs := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offs[p] = kgo.NewOffset().AtStart()
	}
	cl := n.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offs}), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	return got
}

func TestProduceConsumeAcksAndCompression(t *testing.T) {
	n := startNode(t, nodeOpts{})
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	acks := []struct {
		name string
		acks kgo.Acks
		idem bool
	}{
		{"acks=0", kgo.NoAck(), false},
		{"acks=1", kgo.LeaderAck(), false},
		{"acks=all", kgo.AllISRAcks(), false},
		{"acks=all idempotent", kgo.AllISRAcks(), true},
	}
	const perCase = 200
	for _, c := range codecs {
		for ai, a := range acks {
			t.Run(c.name+" "+a.name, func(t *testing.T) {
				topic := fmt.Sprintf("t-%s-%d", c.name, ai)
				n.createTopic(t, topic, 3, nil)
				opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(a.acks), kgo.ProducerBatchCompression(c.codec)}
				if !a.idem {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				cl := n.client(t, opts...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var recs []*kgo.Record
				for i := 0; i < perCase; i++ {
					recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("v%04d", i))})
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				got := consumeAll(t, n, topic, 3, perCase)
				if len(got) != perCase {
					t.Fatalf("consumed %d records, want %d", len(got), perCase)
				}
				// Per partition, values arrive in production order with consecutive offsets.
				last := map[int32]int64{}
				seen := map[string]bool{}
				for _, r := range got {
					if prev, ok := last[r.Partition]; ok && r.Offset != prev+1 {
						t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
					}
					last[r.Partition] = r.Offset
					seen[string(r.Value)] = true
				}
				for _, r := range recs {
					if !seen[string(r.Value)] {
						t.Fatalf("record %s lost", r.Value)
					}
				}
			})
		}
	}
}

func TestProduceErrors(t *testing.T) {
	n := startNode(t, nodeOpts{})
	small := "1024"
	n.createTopic(t, "errs", 1, map[string]*string{"max.message.bytes": &small})
	r := n.raw(t)

	good := recordBatch(2, -1, -1, -1)
	if pr := r.produceRaw("errs", 0, good, -1); pr.ErrorCode != 0 || pr.BaseOffset != 0 {
		t.Fatalf("good batch: %v base %d", kerr.ErrorForCode(pr.ErrorCode), pr.BaseOffset)
	}
	corrupt := recordBatch(2, -1, -1, -1)
	corrupt[len(corrupt)-1] ^= 0xff // payload byte: the CRC no longer matches
	big := recordBatch(100, -1, -1, -1)

	cases := []struct {
		name      string
		topic     string
		partition int32
		batch     []byte
		want      *kerr.Error
	}{
		{"bad crc", "errs", 0, corrupt, kerr.CorruptMessage},
		{"truncated batch", "errs", 0, good[:30], kerr.CorruptMessage},
		{"empty records", "errs", 0, nil, kerr.CorruptMessage},
		{"two batches", "errs", 0, append(append([]byte{}, good...), good...), kerr.InvalidRecord},
		{"over max.message.bytes", "errs", 0, big, kerr.MessageTooLarge},
		{"unknown topic", "nope", 0, good, kerr.UnknownTopicOrPartition},
		{"unknown partition", "errs", 7, good, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr := r.produceRaw(tc.topic, tc.partition, append([]byte(nil), tc.batch...), 1)
			if pr.ErrorCode != tc.want.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(pr.ErrorCode), tc.want)
			}
		})
	}
	// Nothing but the first batch got in.
	if _, hw, err := n.b.Offsets(context.Background(), metadata.TopicPartition{Topic: "errs"}); err != nil || hw != 2 {
		t.Fatalf("high watermark %d, err %v; want 2", hw, err)
	}

	// Transactional producers are refused.
	req := produceRequest("errs", 0, recordBatch(1, -1, -1, -1), -1, 1000)
	tx := "tx"
	req.TransactionID = &tx
	if got := r.roundTrip(req).(*kmsg.ProduceResponse); got.Topics[0].Partitions[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(got.Topics[0].Partitions[0].ErrorCode))
	}
}

func TestIdempotentSequences(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "idem", 1, nil)
	r := n.raw(t)
	ipr := kmsg.NewPtrInitProducerIDRequest()
	ipr.SetVersion(4)
	ip := r.roundTrip(ipr).(*kmsg.InitProducerIDResponse)
	if ip.ProducerID == 0 { // the test batch builder reads id 0 as "no producer"
		ip = r.roundTrip(ipr).(*kmsg.InitProducerIDResponse)
	}
	if ip.ErrorCode != 0 || ip.ProducerID <= 0 {
		t.Fatalf("InitProducerId: %+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	steps := []struct {
		name     string
		epoch    int16
		seq      int32
		records  int
		wantErr  *kerr.Error
		wantBase int64
	}{
		{"first", epoch, 0, 3, nil, 0},
		{"next", epoch, 3, 2, nil, 3},
		{"retry of first is a duplicate", epoch, 0, 3, nil, 0},
		{"retry of last is a duplicate", epoch, 3, 2, nil, 3},
		{"gap", epoch, 9, 1, kerr.OutOfOrderSequenceNumber, -1},
		{"in order again", epoch, 5, 1, nil, 5},
		{"new epoch must start at 0", epoch + 1, 6, 1, kerr.OutOfOrderSequenceNumber, -1},
		{"new epoch", epoch + 1, 0, 1, nil, 6},
		{"old epoch is fenced", epoch, 6, 1, kerr.InvalidProducerEpoch, -1},
	}
	for _, s := range steps {
		pr := r.produceRaw("idem", 0, recordBatch(s.records, pid, s.epoch, s.seq), -1)
		want := int16(0)
		if s.wantErr != nil {
			want = s.wantErr.Code
		}
		if pr.ErrorCode != want {
			t.Fatalf("%s: error %v, want %v", s.name, kerr.ErrorForCode(pr.ErrorCode), s.wantErr)
		}
		if s.wantErr == nil && pr.BaseOffset != s.wantBase {
			t.Fatalf("%s: base offset %d, want %d", s.name, pr.BaseOffset, s.wantBase)
		}
	}
	if _, hw, _ := n.b.Offsets(context.Background(), metadata.TopicPartition{Topic: "idem"}); hw != 7 {
		t.Fatalf("high watermark %d, want 7 (duplicates must not be stored)", hw)
	}

	tx := "tx"
	ipr.TransactionalID = &tx
	if got := r.roundTrip(ipr).(*kmsg.InitProducerIDResponse); got.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional InitProducerId: %v", kerr.ErrorForCode(got.ErrorCode))
	}
}

// A partition whose lease another node holds answers NOT_LEADER_OR_FOLLOWER.
func TestProduceNotLeader(t *testing.T) {
	n := startNode(t, nodeOpts{brokerCfg: func(c *broker.Config) {
		c.LeaseTTL, c.RenewInterval = time.Hour, 30*time.Minute // no reconcile during the test
	}})
	ctx := context.Background()
	// Node 2 is live, so the placement gives it about half of the partitions, which node 1 leaves
	// alone; node 2 takes one of them.
	if err := n.store.RegisterNode(ctx, metadata.Node{ID: 2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := n.store.CreateTopic(ctx, metadata.Topic{Name: "elsewhere", Partitions: 16}); err != nil {
		t.Fatal(err)
	}
	part := int32(-1)
	for i := int32(0); i < 16 && part < 0; i++ {
		if _, err := n.store.AcquireLease(ctx, metadata.TopicPartition{Topic: "elsewhere", Partition: i}, 2); err == nil {
			part = i
		}
	}
	if part < 0 {
		t.Fatal("node 1 took every partition although node 2 is live")
	}
	pr := n.raw(t).produceRaw("elsewhere", part, recordBatch(1, -1, -1, -1), 1)
	if pr.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("error %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(pr.ErrorCode))
	}
}

func TestTimestampConfigs(t *testing.T) {
	n := startNode(t, nodeOpts{})
	lat, hour := "LogAppendTime", "3600000"
	n.createTopic(t, "lat", 1, map[string]*string{"message.timestamp.type": &lat})
	n.createTopic(t, "recent", 1, map[string]*string{"message.timestamp.before.max.ms": &hour})
	r := n.raw(t)

	old := segmenttest.Batch{FirstTimestamp: time.Now().Add(-48 * time.Hour).UnixMilli(), Values: [][]byte{[]byte("x")}}.Encode()
	if pr := r.produceRaw("recent", 0, append([]byte(nil), old...), 1); pr.ErrorCode != kerr.InvalidTimestamp.Code {
		t.Fatalf("old record: %v", kerr.ErrorForCode(pr.ErrorCode))
	}
	before := time.Now().UnixMilli()
	pr := r.produceRaw("lat", 0, old, 1)
	if pr.ErrorCode != 0 || pr.LogAppendTime < before {
		t.Fatalf("LogAppendTime topic: %v append time %d", kerr.ErrorForCode(pr.ErrorCode), pr.LogAppendTime)
	}
	got := consumeAll(t, n, "lat", 1, 1)
	if got[0].Attrs.TimestampType() != 1 || got[0].Timestamp.UnixMilli() != pr.LogAppendTime {
		t.Fatalf("consumed type %d ts %d, want LogAppendTime %d", got[0].Attrs.TimestampType(), got[0].Timestamp.UnixMilli(), pr.LogAppendTime)
	}
}

func TestAcksZeroErrorClosesConnection(t *testing.T) {
	n := startNode(t, nodeOpts{memStore: true})
	n.createTopic(t, "a0", 1, nil)
	r := n.raw(t)
	// A good acks=0 produce gets no answer; the ApiVersions after it is answered first.
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 0, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "a0"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordBatch(1, -1, -1, -1)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r.send(req)
	if got := r.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); got.ErrorCode != 0 {
		t.Fatal(got.ErrorCode)
	}
	req.Topics[0].Topic = "missing"
	r.send(req)
	r.expectClosed()
}
