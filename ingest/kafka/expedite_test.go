package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
)

// A topic with object durability and an hour-long strata.flush.ms: acks wait for a roll that is an
// hour away, so four pipelined acks=all requests on one connection time out. Five waiting at once
// fill a Kafka client's pipeline (ExpediteAt): their partition rolls now and all five are answered.
func TestFullProducePipelineExpeditesObjectFlush(t *testing.T) {
	ctx := context.Background()
	bucket, err := objstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var up *tier.Uploader
	n := startNode(t, nodeOpts{brokerCfg: func(c *broker.Config) {
		st := c.Store
		up, err = tier.NewUploader(tier.Config{Bucket: bucket, Store: st, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Tiering = up
	}})
	t.Cleanup(func() { _ = up.Close() })
	obj, hour := "object", "3600000"
	n.createTopic(t, "slow", 1, map[string]*string{"strata.durability": &obj, "strata.flush.ms": &hour})

	rc := n.raw(t)
	produce := func(count int, timeout int32) []kmsg.ProduceResponseTopicPartition {
		t.Helper()
		corrs := make([]int32, count)
		for i := range corrs {
			corrs[i] = rc.send(produceRequest("slow", 0, recordBatch(3, -1, -1, -1), -1, timeout))
		}
		out := make([]kmsg.ProduceResponseTopicPartition, count)
		for i, corr := range corrs {
			out[i] = rc.readProduce(corr)
		}
		return out
	}

	for i, p := range produce(4, 1500) {
		if p.ErrorCode != kerr.RequestTimedOut.Code {
			t.Fatalf("request %d of 4: error %v, want REQUEST_TIMED_OUT (nothing should roll an hour early)", i, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	want := int64(12) // the four timed-out batches were appended; only their acks failed
	for i, p := range produce(5, 30000) {
		if p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("request %d of 5: error %v, base offset %d (want %d)", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, want)
		}
		want += 3
	}
	if end := up.TieredEnd(topicPartition("slow", 0)); end < want {
		t.Fatalf("tiered end %d, want at least %d", end, want)
	}
}
