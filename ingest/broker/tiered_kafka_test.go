package broker_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/kafka"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// A real node (MinIO, embedded NATS, hot log, tiering engine, Kafka listener on TCP): franz-go
// produces with acks=all to a topic whose hot copies local retention drops as soon as they are
// tiered; once the earliest local offset has moved up, a franz-go consumer from offset 0 gets every
// record back in order, the old ones from object storage. ListOffsets -4 and -5 answer from the hot
// log's start and the catalog.
func TestKafkaConsumeFromZeroAfterLocalSegmentsDeleted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := objstoretest.StartMinIO(t)
	bucket := objstore.WithRetry(m.Open(t, m.S3URL("strata")), objstore.RetryConfig{})
	st := natsmetatest.Store(t)
	reg := prometheus.NewRegistry()

	var b *broker.Broker
	up, err := tier.NewUploader(tier.Config{Bucket: bucket, Store: st, Registerer: reg,
		PollInterval: 20 * time.Millisecond, CheckInterval: 100 * time.Millisecond,
		OnFenced: func(tp metadata.TopicPartition) { b.Fenced(tp) }})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	rd, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: st, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	dir, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err = broker.New(broker.Config{NodeID: 1, KafkaAddr: ln.Addr().String(), HotLog: dir, Store: st,
		Tiering: up, TieredReader: rd})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	groups, err := group.New(group.Config{Store: st, NodeID: 1, IsCoordinator: b.IsCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	defer groups.Close()
	admin, err := topics.New(topics.Config{NodeID: 1, Store: st, Node: b})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kafka.New(kafka.Config{AdvertisedAddr: ln.Addr().String(), NodeID: 1, Broker: b, Topics: admin, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), ln)
	defer srv.Close()

	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.DefaultProduceTopic("cold"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	seg := "16384"
	local := "0"
	res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg, "local.retention.bytes": &local}, "cold")
	if err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}

	const n = 2000
	var want []string
	for i := range n {
		v := fmt.Sprintf("record-%05d-%s", i, string(make([]byte, 40)))
		want = append(want, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// Wait (on state, not time) until local retention has dropped the first hot segments.
	tp := metadata.TopicPartition{Topic: "cold"}
	for {
		earliestLocal := listOffset(t, ctx, cl, -4)
		if earliestLocal > 0 {
			if lt := listOffset(t, ctx, cl, -5); lt < earliestLocal-1 {
				t.Fatalf("latest tiered %d below the earliest local %d: a gap nobody holds", lt, earliestLocal)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("local segments never deleted (tiered end %d)", up.TieredEnd(tp))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if e := listOffset(t, ctx, cl, -2); e != 0 {
		t.Fatalf("earliest = %d, want 0 (held in object storage)", e)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"cold": {0: kgo.NewOffset().At(0)},
	}), kgo.FetchMaxPartitionBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []string
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume after %d records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(got)) {
				t.Fatalf("record at offset %d, want %d", r.Offset, len(got))
			}
			got = append(got, string(r.Value))
		})
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
	if v := objstoretest.MetricValue(t, reg, "strata_tier_read_bytes_total"); v == 0 {
		t.Fatal("no byte was read from object storage")
	}

	// A share group (KIP-932) starting at the earliest offset reads the same records, the old
	// ones from object storage too.
	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	alter.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeGroupConfig,
		ResourceName: "queue", Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "share.auto.offset.reset", Value: kmsg.StringPtr("earliest")}}}}
	if resp, err := alter.RequestWith(ctx, cl); err != nil || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("share group config: %v %+v", err, resp)
	}
	share, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.ConsumeTopics("cold"), kgo.ShareGroup("queue"))
	if err != nil {
		t.Fatal(err)
	}
	defer share.Close()
	shared := map[string]bool{}
	for len(shared) < n {
		fs := share.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("share consume after %d records: %v", len(shared), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= n || string(r.Value) != want[r.Offset] || r.DeliveryCount() != 1 {
				t.Fatalf("share record at offset %d (delivery %d) = %q", r.Offset, r.DeliveryCount(), r.Value)
			}
			shared[string(r.Value)] = true
			r.Ack(kgo.AckAccept)
		})
	}
}

// listOffset sends ListOffsets with a special timestamp (-2 earliest, -4 earliest local, -5 latest
// tiered) for partition 0 of "cold".
func listOffset(t *testing.T, ctx context.Context, cl *kgo.Client, ts int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 9
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "cold"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets(%d): error code %d", ts, p.ErrorCode)
	}
	return p.Offset
}
