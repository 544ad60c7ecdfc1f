package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Jepsen-style check of the cluster under kill -9: how long the nemesis runs, how many
// producers write, and how many keys they spread over.
const (
	jepsenChaos     = 40 * time.Second
	jepsenProducers = 3
	jepsenKeys      = 8
)

// TestJepsenKillRestart: three strata processes (object durability) on a three-node NATS cluster
// and MinIO. Idempotent producers write unique values with acks=all while a nemesis kill -9s and
// restarts nodes at random (at most two down at once). Afterwards every acked value must be read
// back exactly once (no value at all may appear twice), offsets in each partition must be
// contiguous from 0, and each producer's values for one key must appear in the order it wrote
// them. The nemesis is seeded (STRATA_JEPSEN_SEED repeats a run's choices; timing still varies).
func TestJepsenKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster under faults")
	}
	jepsen(t, jepsenRun{partitions: 6, keys: jepsenKeys, chaos: jepsenChaos})
}

// TestJepsenNetworkPartitions is the same check with network faults beside kill -9: every node
// reaches NATS and MinIO, and clients reach every node, through a proxy the nemesis cuts or slows
// (one fault at a time, healed after 1.5–4 s): a leader cut off from NATS stops serving within its
// registration TTL and another node takes over; one cut off from MinIO holds object-durability
// acks until it heals; one its clients cannot reach is left by them. Nothing acked may be lost.
func TestJepsenNetworkPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster under faults")
	}
	jepsen(t, jepsenRun{partitions: 6, keys: jepsenKeys, chaos: jepsenChaos, network: true})
}

// TestJepsenManyPartitions is the same check on 200 partitions (object durability: every flush is
// one object holding many partitions' ranges), with keys spread over all of them: node
// leadership and multi-partition objects under kill -9.
func TestJepsenManyPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster under faults")
	}
	jepsen(t, jepsenRun{partitions: 200, keys: 1000, chaos: 30 * time.Second})
}

// jepsenRun is one check: a topic of partitions, producers spread over keys, a nemesis running
// for chaos, with network faults when network is set.
type jepsenRun struct {
	partitions int32
	keys       int
	chaos      time.Duration
	network    bool
}

// nodeLinks are the proxies between one node and the rest: its NATS and MinIO connections, and
// its clients' connections to it.
type nodeLinks struct {
	nats, minio, clients *faultProxy
}

// jepsen runs the check.
func jepsen(t *testing.T, run jepsenRun) {
	partitions, keys, chaos := run.partitions, run.keys, run.chaos
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_JEPSEN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STRATA_JEPSEN_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with STRATA_JEPSEN_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	var c *cluster
	links := map[int]nodeLinks{}
	if run.network {
		// One NATS server: a cluster would tell nodes its members' addresses, and a node cut off
		// from its proxy would reconnect to them directly.
		c = startCluster(t, 1, 0)
		natsAddr := strings.TrimPrefix(c.meta, "nats://")
		minioAddr := strings.TrimPrefix(c.minio.Endpoint(), "http://")
		for id := 1; id <= 3; id++ {
			n := c.add(id)
			l := nodeLinks{nats: startProxy(t, natsAddr), minio: startProxy(t, minioAddr), clients: startProxy(t, n.kafka)}
			links[id] = l
			obj := url.URL{Scheme: "s3", Host: "strata", Path: "/cluster",
				RawQuery: url.Values{"endpoint": {"http://" + l.minio.Addr()}, "region": {"us-east-1"}}.Encode()}
			n.extraArgs = []string{"--metadata", "nats://" + l.nats.Addr(), "--object-store", obj.String(),
				"--advertised-kafka-addr", l.clients.Addr()}
			c.start(id)
		}
	} else {
		c = startCluster(t, 3, 3)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "jepsen"
	c.createTopic(t, ctx, topic, partitions, map[string]*string{"strata.durability": strp("object")})

	// History: what was acked, what failed.
	var mu sync.Mutex
	acked := map[string]bool{}
	failed := 0
	chaosEnd := time.Now().Add(chaos)

	var prodWG sync.WaitGroup
	for pi := 0; pi < jepsenProducers; pi++ {
		prng := rand.New(rand.NewPCG(seed, uint64(pi)+1))
		cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(2000),
			kgo.RecordDeliveryTimeout(45*time.Second))
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			for seq := 0; time.Now().Before(chaosEnd) && ctx.Err() == nil; seq++ {
				v := fmt.Sprintf("p%d-%d", pi, seq)
				k := fmt.Sprintf("k%d", prng.IntN(keys))
				cl.Produce(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed++
						return
					}
					acked[string(r.Value)] = true
				})
				time.Sleep(2 * time.Millisecond)
			}
			fctx, fcancel := context.WithTimeout(ctx, 90*time.Second)
			defer fcancel()
			if err := cl.Flush(fctx); err != nil {
				t.Errorf("producer %d flush: %v", pi, err)
			}
		}()
	}

	// Nemesis: every 1–3 s kill a random running node (keeping one up) or restart a dead one; with
	// network faults, half the time cut or slow one of a node's links instead (one at a time,
	// healed after 1.5–4 s).
	kills, restarts, faults := 0, 0, 0
	var healAt time.Time
	var healing func()
	for time.Now().Before(chaosEnd) {
		time.Sleep(time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
		if healing != nil {
			if time.Now().Before(healAt) {
				continue
			}
			healing()
			healing = nil
			continue
		}
		if run.network && rng.IntN(2) == 0 {
			id := 1 + rng.IntN(3)
			l := links[id]
			link, what := l.nats, "NATS"
			switch rng.IntN(4) {
			case 1:
				link, what = l.minio, "MinIO"
			case 2:
				link, what = l.clients, "its clients"
			}
			if rng.IntN(4) == 0 {
				t.Logf("nemesis: slow node %d's link to %s by 300 ms per chunk", id, what)
				link.Slow(300 * time.Millisecond)
			} else {
				t.Logf("nemesis: cut node %d off from %s", id, what)
				link.Cut()
			}
			faults++
			healAt = time.Now().Add(1500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
			healing = func() {
				t.Logf("nemesis: heal node %d's link to %s", id, what)
				link.Heal()
			}
			continue
		}
		up := c.up()
		slices.Sort(up)
		var down []int
		for id := 1; id <= 3; id++ {
			if !slices.Contains(up, id) {
				down = append(down, id)
			}
		}
		if len(down) > 0 && (len(up) == 1 || rng.IntN(2) == 0) {
			id := down[rng.IntN(len(down))]
			t.Logf("nemesis: restart node %d", id)
			c.start(id)
			restarts++
			continue
		}
		id := up[rng.IntN(len(up))]
		t.Logf("nemesis: kill -9 node %d", id)
		c.kill(id)
		kills++
	}
	if healing != nil {
		healing()
	}
	for id := 1; id <= 3; id++ {
		if !slices.Contains(c.up(), id) {
			c.start(id)
		}
	}
	prodWG.Wait()
	mu.Lock()
	t.Logf("%d kills, %d restarts, %d network faults; %d values acked, %d failed", kills, restarts, faults, len(acked), failed)
	mu.Unlock()
	if len(acked) == 0 {
		t.Fatalf("nothing was acked\n%s", c.logs())
	}

	recs := consumeRecords(t, ctx, c, topic)
	seen := map[string]int{}
	next := map[int32]int64{}
	lastSeq := map[string]int{} // producer/key → newest sequence read
	for _, r := range recs {
		v := string(r.Value)
		seen[v]++
		if seen[v] == 2 {
			t.Errorf("value %s read twice (partition %d offset %d)", v, r.Partition, r.Offset)
		}
		if r.Offset != next[r.Partition] {
			t.Errorf("partition %d: offset %d follows %d", r.Partition, r.Offset, next[r.Partition]-1)
		}
		next[r.Partition] = r.Offset + 1
		var pi, seq int
		if _, err := fmt.Sscanf(v, "p%d-%d", &pi, &seq); err != nil {
			t.Errorf("foreign value %q", v)
			continue
		}
		pk := fmt.Sprintf("%d/%s", pi, r.Key)
		if last, ok := lastSeq[pk]; ok && seq <= last {
			t.Errorf("producer %d key %s: sequence %d read after %d", pi, r.Key, seq, last)
		}
		lastSeq[pk] = seq
	}
	lost := 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("acked value %s lost", v)
			}
		}
	}
	if lost > 0 || t.Failed() {
		t.Fatalf("%d acked values lost of %d; %d records read\n%s", lost, len(acked), len(recs), c.logs())
	}
	t.Logf("checked %d records: every acked value once, offsets contiguous, per-key order kept", len(recs))
}
