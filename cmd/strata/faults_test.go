package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// minioOutage is how long the object store is down in TestObjectStoreOutage (production outages
// run longer; the behaviour does not change with the length).
const minioOutage = 6 * time.Second

// produceValues produces n values prefix-0..n-1 and returns those acked.
func produceValues(t testing.TB, ctx context.Context, cl *kgo.Client, topic, prefix string, n int) []string {
	t.Helper()
	var mu sync.Mutex
	var acked []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%7), Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
				return
			}
			mu.Lock()
			acked = append(acked, string(r.Value))
			mu.Unlock()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush %s: %v", prefix, err)
	}
	return acked
}

func checkAllOnce(t testing.TB, got map[string]int, want []string) {
	t.Helper()
	bad := 0
	for _, v := range want {
		if got[v] != 1 {
			bad++
			if bad <= 10 {
				t.Errorf("acked value %s read %d times", v, got[v])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d acked values not read exactly once", bad, len(want))
	}
}

// TestEmptyDataDirNodeServesEverything: a node started on an empty data dir, after the only other
// node died, takes every partition and serves all acked records from metadata + objects.
func TestEmptyDataDirNodeServesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "cold"
	c.createTopic(t, ctx, topic, 3, map[string]*string{"strata.durability": strp("object")})
	acked := produceValues(t, ctx, c.client(t), topic, "v", 1500)

	c.kill(1)
	c.add(2)
	c.start(2)
	got := consumeAll(t, ctx, c, topic)
	if len(got) < len(acked) {
		t.Logf("fewer values read than acked; node logs:\n%s", c.logs())
	}
	checkAllOnce(t, got, acked)
}

// latestTiered returns, per partition, the last offset in object storage (ListOffsets -5) and
// the high watermark.
func latestTiered(ctx context.Context, cl *kgo.Client, topic string, partitions int32) (map[int32][2]int64, error) {
	out := map[int32][2]int64{}
	for _, ts := range []int64{-5, -1} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := int32(0); p < partitions; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
				}
				v := out[p.Partition]
				if ts == -5 {
					v[0] = p.Offset
				} else {
					v[1] = p.Offset
				}
				out[p.Partition] = v
			}
		}
	}
	return out, nil
}

// TestObjectStoreOutage stops MinIO for minioOutage. Local durability keeps accepting (acks
// after fsync); object durability answers REQUEST_TIMED_OUT to a request that cannot wait, while
// producers that retry get through once MinIO is back. Nothing acked is lost, and every upload
// completes after MinIO returns.
func TestObjectStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 1, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c.createTopic(t, ctx, "loc", 2, map[string]*string{"segment.ms": strp("500")})
	c.createTopic(t, ctx, "obj", 2, map[string]*string{"strata.durability": strp("object")})
	cl := c.client(t, kgo.RecordDeliveryTimeout(2*time.Minute))
	loc := produceValues(t, ctx, cl, "loc", "before", 200)
	obj := produceValues(t, ctx, cl, "obj", "before", 200)

	c.minio.Stop()
	down := time.Now()
	// Local durability does not wait for object storage.
	loc = append(loc, produceValues(t, ctx, cl, "loc", "during", 300)...)

	// Object durability: a produce that allows 1.5 s gets REQUEST_TIMED_OUT, cleanly.
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 1500
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = "obj", topicIDOf(t, ctx, cl, "obj") // by name up to v12, by ID from v13
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Values: [][]byte{[]byte("timed-out")}}.Encode()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.RequestTimedOut.Code {
		t.Fatalf("object durability without object storage: error %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}

	// Producers with retries keep trying through the outage and succeed once MinIO is back.
	var during []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		during = produceValues(t, ctx, c.client(t, kgo.RecordDeliveryTimeout(2*time.Minute)), "obj", "during", 200)
	}()
	time.Sleep(time.Until(down.Add(minioOutage)))
	c.minio.Start()
	<-done
	obj = append(obj, during...)

	checkAllOnce(t, consumeAll(t, ctx, c, "loc"), loc)
	checkAllOnce(t, consumeAll(t, ctx, c, "obj"), obj)

	// Every upload completes: the tiered end reaches the high watermark in both topics.
	for _, topic := range []string{"loc", "obj"} {
		for {
			offs, err := latestTiered(ctx, cl, topic, 2)
			complete := err == nil
			for _, o := range offs {
				complete = complete && o[0] == o[1]-1
			}
			if complete {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: uploads incomplete after MinIO returned: %v %v\n%s", topic, offs, err, c.logs())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// TestNATSNodeLoss: one of three NATS servers shuts down while producers write through two
// strata nodes; service continues and every acked record is read back once.
func TestNATSNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "meta-loss"
	c.createTopic(t, ctx, topic, 4, map[string]*string{"strata.durability": strp("object")})
	cl := c.client(t, kgo.RecordDeliveryTimeout(2*time.Minute))
	acked := produceValues(t, ctx, cl, topic, "before", 300)

	var during []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10; i++ {
			during = append(during, produceValues(t, ctx, cl, topic, fmt.Sprintf("during%d", i), 100)...)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	c.nats.Nodes[0].Shutdown()
	<-done
	acked = append(acked, during...)
	acked = append(acked, produceValues(t, ctx, cl, topic, "after", 300)...)

	// The cluster still tracks leaders: every partition is led.
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range md.Topics[topic].Partitions {
		if p.Err != nil || p.Leader < 0 {
			t.Fatalf("partition %d leaderless after losing a NATS node: %v", p.Partition, p.Err)
		}
	}
	checkAllOnce(t, consumeAll(t, ctx, c, topic), acked)
}
