package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/cmd/strata/internal/lazyfs"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// powerCuts is how many times TestPowerCut cuts the power.
const powerCuts = 6

// TestPowerCut runs one node whose data dir — hot logs, epoch checkpoints and the embedded NATS
// metadata store — lives on a file system that forgets everything not fsynced when the power is
// cut (internal/lazyfs). A producer writes with acks=all to a `local` and an `object` durability
// topic while the node is killed and the file system cut at random moments, then the node is
// restarted on what survived. Every acknowledged record must be read back exactly once, in the
// order it was produced.
func TestPowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	if err := lazyfs.Supported(); err != nil {
		t.Skipf("no power-cut file system here: %v", err)
	}
	mnt := t.TempDir()
	lfs, err := lazyfs.Mount(t.TempDir(), mnt)
	if err != nil {
		t.Skipf("no power-cut file system here: %v", err)
	}
	m := objstoretest.StartMinIO(t)
	m.SetEnv(t)
	c := &cluster{t: t, minio: m, meta: "embedded", object: m.S3URL("strata/powercut"), nodes: map[int]*clusterNode{}}
	m.Open(t, c.object)
	n := c.add(1)
	n.dataDir = filepath.Join(mnt, "node-1")
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill(1)
		if err := lfs.Unmount(); err != nil {
			t.Logf("unmount: %v", err)
		}
	})
	c.start(1)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topics := []string{"cut-local", "cut-object"}
	c.createTopic(t, ctx, topics[0], 3, nil)
	c.createTopic(t, ctx, topics[1], 3, map[string]*string{"strata.durability": strp("object")})

	cl := c.client(t, kgo.RecordDeliveryTimeout(3*time.Minute), kgo.ProducerLinger(5*time.Millisecond))
	var (
		mu    sync.Mutex
		acked = map[string][]string{} // topic → values acked
		errs  int
	)
	stop := make(chan struct{})
	var producing sync.WaitGroup
	for _, topic := range topics {
		producing.Add(1)
		go func() {
			defer producing.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				v := strconv.Itoa(i)
				cl.Produce(ctx, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%6), Value: []byte(v)},
					func(r *kgo.Record, err error) {
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							errs++
							return
						}
						acked[topic] = append(acked[topic], string(r.Value))
					})
			}
		}()
	}

	var dropped int64
	for cut := 0; cut < powerCuts; cut++ {
		time.Sleep(time.Duration(800+rand.IntN(1700)) * time.Millisecond)
		c.kill(1)
		dropped += lfs.Cut()
		c.start(1)
	}
	close(stop)
	producing.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v\n%s", err, c.logs())
	}
	mu.Lock()
	defer mu.Unlock()
	if errs > 0 {
		t.Errorf("%d produce requests failed for good (they are retried until the delivery timeout)", errs)
	}
	if dropped == 0 {
		t.Errorf("no cut dropped any unsynced byte: the test did not exercise a power cut")
	}
	for _, topic := range topics {
		recs := consumeRecords(t, ctx, c, topic)
		got := map[string]int{}
		last := map[int32]int{}
		for _, r := range recs {
			got[string(r.Value)]++
			i, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("%s: unexpected value %q", topic, r.Value)
			}
			if prev, ok := last[r.Partition]; ok && i <= prev {
				t.Errorf("%s/%d: value %d at offset %d after %d: out of production order", topic, r.Partition, i, r.Offset, prev)
			}
			last[r.Partition] = i
		}
		checkAllOnce(t, got, acked[topic])
		t.Logf("%s: %d records acked over %d power cuts, all read back once, in order", topic, len(acked[topic]), powerCuts)
	}
	t.Logf("the cuts dropped %d unsynced bytes in all", dropped)
}
