package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

func produceN(t *testing.T, n *testNode, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := n.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	for i := from; i < to; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// kadm's OffsetForLeaderEpoch against a node, and the error codes a raw request gets, by version.
func TestOffsetForLeaderEpochAnswers(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "olep", 1, nil)
	produceN(t, n, "olep", 0, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur := n.b.Epoch(topicPartition("olep", 0))
	if cur < 0 {
		t.Fatal("the node does not lead olep/0")
	}

	var req kadm.OffsetForLeaderEpochRequest
	req.Add("olep", 0, cur)
	resps, err := n.admin(t).OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["olep"][0]; r.Err != nil || r.LeaderEpoch != cur || r.EndOffset != 10 {
		t.Fatalf("current epoch %d: %+v, want epoch %d end 10", cur, r, cur)
	}
	var later kadm.OffsetForLeaderEpochRequest
	later.Add("olep", 0, cur+1)
	resps, err = n.admin(t).OffsetForLeaderEpoch(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["olep"][0]; r.Err != nil || r.LeaderEpoch != -1 || r.EndOffset != -1 {
		t.Fatalf("epoch %d above the leader's: %+v, want UNDEFINED_EPOCH_OFFSET", cur+1, r)
	}

	raw := n.raw(t)
	for _, tc := range []struct {
		name               string
		version            int16
		partition          int32
		current, requested int32
		wantCode           int16
		wantEpoch          int32
		wantEnd            int64
	}{
		{"v4 current epoch", 4, 0, cur, cur, 0, cur, 10},
		{"v3 no fence", 3, 0, -1, cur, 0, cur, 10},
		{"v2 older current epoch", 2, 0, cur - 1, cur, kerr.FencedLeaderEpoch.Code, -1, -1},
		{"v4 newer current epoch", 4, 0, cur + 1, cur, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{"v4 epoch below every epoch", 4, 0, cur, cur - 1, 0, cur - 1, 0},
		{"v4 unknown partition", 4, 5, -1, cur, kerr.UnknownTopicOrPartition.Code, -1, -1},
		{"v4 unknown topic", 4, -1, -1, cur, kerr.UnknownTopicOrPartition.Code, -1, -1}, // partition -1: topic "missing"
		{"v1 (no fence field)", 1, 0, cur + 1, cur, 0, cur, 10},
		{"v0", 0, 0, -1, cur, 0, -1, 10}, // v0 carries no epoch: it decodes as the default, -1
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.Version, req.ReplicaID = tc.version, -1
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = "olep"
			if tc.partition < 0 {
				rt.Topic, tc.partition = "missing", 0
			}
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tc.partition, tc.current, tc.requested
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := raw.roundTrip(req).(*kmsg.OffsetForLeaderEpochResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("response %+v", resp)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != tc.wantCode || p.LeaderEpoch != tc.wantEpoch || p.EndOffset != tc.wantEnd {
				t.Fatalf("got code %d epoch %d end %d, want %d %d %d", p.ErrorCode, p.LeaderEpoch, p.EndOffset, tc.wantCode, tc.wantEpoch, tc.wantEnd)
			}
		})
	}
}

// poll consumes until want records arrived, failing on any fetch error unless allow says it is
// expected (it returns the errors it allowed).
func poll(t *testing.T, cl *kgo.Client, want int, allow func(error) bool) (got []*kgo.Record, allowed []error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), want, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			if allow == nil || !allow(err) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
			allowed = append(allowed, err)
		})
		got = append(got, fs.Records()...)
	}
	return got, allowed
}

// A franz-go consumer keeps consuming across a leader change (the node restarts on its log and
// leads under a new epoch): it validates its position with OffsetForLeaderEpoch, finds nothing
// lost, and sees every record once, in order.
func TestConsumerAcrossLeaderChange(t *testing.T) {
	st := startNode(t, nodeOpts{})
	store := st.store
	st.stop()
	listen := objstoretest.FreeAddr(t)
	n1 := startNode(t, nodeOpts{store: store, listenAddr: listen})
	n1.createTopic(t, "moving", 1, nil)
	produceN(t, n1, "moving", 0, 30)
	e1 := n1.b.Epoch(topicPartition("moving", 0))

	cl := n1.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"moving": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryTimeout(30*time.Second))
	got, _ := poll(t, cl, 30, nil)

	n1.stop()
	n2 := startNode(t, nodeOpts{store: store, dataDir: n1.dir, listenAddr: listen})
	if e2 := n2.b.Epoch(topicPartition("moving", 0)); e2 <= e1 {
		t.Fatalf("epoch %d after the restart, want above %d", e2, e1)
	}
	produceN(t, n2, "moving", 30, 60)
	more, _ := poll(t, cl, 30, nil) // no error at all: the restart is invisible but for the validation
	got = append(got, more...)
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
	if c := testutil.ToFloat64(n2.srv.m.requests.WithLabelValues("OffsetForLeaderEpoch")); c < 1 {
		t.Fatal("the consumer never validated its position with OffsetForLeaderEpoch")
	}
}

// An unclean failover: node 1's records were never tiered, so node 2 leads from offset 0 under a
// new epoch. A franz-go consumer that had read node 1's records learns from OffsetForLeaderEpoch
// that its position is past the end of its epoch, reports the data loss, and goes on from there.
func TestConsumerDetectsTruncatedLog(t *testing.T) {
	st := startNode(t, nodeOpts{})
	store := st.store
	st.stop()
	a1, a2 := objstoretest.FreeAddr(t), objstoretest.FreeAddr(t)
	n1 := startNode(t, nodeOpts{store: store, listenAddr: a1})
	n1.createTopic(t, "lossy", 1, nil)
	produceN(t, n1, "lossy", 0, 20)

	cl, err := kgo.NewClient(kgo.SeedBrokers(a1, a2),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"lossy": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	poll(t, cl, 20, nil)

	n1.stop()
	n2 := startNode(t, nodeOpts{store: store, listenAddr: a2, brokerCfg: func(c *broker.Config) { c.NodeID = 2 }})
	produceN(t, n2, "lossy", 100, 105) // offsets 0..4 under the new epoch
	got, allowed := poll(t, cl, 5, func(error) bool { return true })
	var loss *kgo.ErrDataLoss
	for _, err := range allowed {
		if errors.As(err, &loss) {
			break
		}
	}
	if loss == nil {
		t.Fatalf("no data loss reported; errors %v", allowed)
	}
	if loss.ConsumedTo != 20 || loss.ResetTo != 0 {
		t.Fatalf("data loss %+v: want consumed to 20, reset to 0", loss)
	}
	if string(got[0].Value) != "100" || got[0].Offset != 0 {
		t.Fatalf("after the reset: offset %d value %q, want node 2's first record", got[0].Offset, got[0].Value)
	}
}
