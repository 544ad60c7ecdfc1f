package kafka

import (
	"context"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
)

// gatedBucket holds every read of an object whose key contains hold (once set) until open is
// closed.
type gatedBucket struct {
	objstore.Bucket
	hold atomic.Pointer[string]
	open chan struct{}
}

func (g *gatedBucket) wait(ctx context.Context, key string) error {
	if h := g.hold.Load(); h == nil || !strings.Contains(key, *h) {
		return nil
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := g.wait(ctx, key); err != nil {
		return nil, err
	}
	return g.Bucket.Get(ctx, key)
}

func (g *gatedBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := g.wait(ctx, key); err != nil {
		return nil, err
	}
	return g.Bucket.GetRange(ctx, key, off, length)
}

// TestFetchAnswersWithoutStragglers: two partitions whose data is only in object storage, one of
// them unreadable for now (its GETs hang). A Fetch of both answers with the readable partition's
// records and the other empty, instead of waiting for the slowest read; once the object store
// answers, the next Fetch returns the other partition's records.
func TestFetchAnswersWithoutStragglers(t *testing.T) {
	ctx := context.Background()
	files, err := objstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var up *tier.Uploader
	gate := &gatedBucket{Bucket: files, open: make(chan struct{})}
	n := startNode(t, nodeOpts{brokerCfg: func(c *broker.Config) {
		if up, err = tier.NewUploader(tier.Config{Bucket: files, Store: c.Store, PollInterval: 20 * time.Millisecond, CheckInterval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		c.Tiering = up
		rd, err := tier.NewReader(tier.ReaderConfig{Bucket: gate, Store: c.Store})
		if err != nil {
			t.Fatal(err)
		}
		c.TieredReader = rd
	}})
	t.Cleanup(func() { _ = up.Close() })
	small, none := "2048", "0"
	n.createTopic(t, "cold", 2, map[string]*string{"segment.bytes": &small, "local.retention.ms": &none})
	r := n.raw(t)
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 20; i++ {
			if pr := r.produceRaw("cold", p, recordBatch(10, -1, -1, -1), -1); pr.ErrorCode != 0 {
				t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
			}
		}
	}
	// Wait until both partitions' first records are only in object storage.
	deadline := time.Now().Add(30 * time.Second)
	for p := int32(0); p < 2; p++ {
		for {
			start, _, err := n.b.Offsets(ctx, metadata.TopicPartition{Topic: "cold", Partition: p})
			if err == nil && start > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: hot copy never dropped (local start %d, %v)", p, start, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// From here on, object reads of partition 1 hang until the gate opens (nothing read them yet).
	top, err := n.store.GetTopic(ctx, "cold")
	if err != nil {
		t.Fatal(err)
	}
	dir := path.Dir(tier.ObjectKey("", top.ID, 1, 0, 0)) + "/"
	gate.hold.Store(&dir)

	fetch := func() map[int32]int {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 5000, 1, 4<<20, -1 // both partitions read at once
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "cold"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		done := make(chan *kmsg.FetchResponse, 1)
		go func() { done <- r.roundTrip(req).(*kmsg.FetchResponse) }()
		select {
		case resp := <-done:
			out := map[int32]int{}
			for _, sp := range resp.Topics[0].Partitions {
				if sp.ErrorCode != 0 {
					t.Fatalf("partition %d: %v", sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
				}
				out[sp.Partition] = len(sp.RecordBatches)
			}
			return out
		case <-time.After(20 * time.Second):
			t.Fatal("the Fetch waited for the partition whose object reads hang")
			return nil
		}
	}
	if got := fetch(); got[0] == 0 || got[1] != 0 {
		t.Fatalf("with partition 1's reads hanging: record bytes %v, want partition 0's records and partition 1 empty", got)
	}
	close(gate.open)
	for {
		if got := fetch(); got[1] > 0 {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("partition 1's records never came once its reads could finish")
		}
	}
}
