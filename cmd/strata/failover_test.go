package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// failover kill -9s the leader of partition 0 of topic and produces to every partition it led
// until each acks again. It returns the victim and the time from the kill to the last of those
// acks: what a producer with retries sees as the outage.
func failover(t testing.TB, ctx context.Context, c *cluster, topic string) (victim int, took time.Duration) {
	t.Helper()
	adm := kadm.NewClient(c.client(t))
	before, err := leaders(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	victim = int(before[0][0])
	var parts []int32
	for p, le := range before {
		if int(le[0]) == victim {
			parts = append(parts, p)
		}
	}
	// One client per partition, connected before the kill (as a running producer would be).
	clients := make([]*kgo.Client, len(parts))
	for i := range parts {
		clients[i] = c.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := clients[i].Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	c.kill(victim)
	var wg sync.WaitGroup
	acked := make([]time.Duration, len(parts))
	errs := make([]error, len(parts))
	for i, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "after-kill-%d", p)}
			errs[i] = clients[i].ProduceSync(ctx, r).FirstErr()
			acked[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("partition %d never accepted a record after node %d died: %v\n%s", parts[i], victim, err, c.logs())
		}
		took = max(took, acked[i])
	}
	after, err := leaders(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		old, now := before[p], after[p]
		if int(now[0]) == victim || now[0] < 0 || now[1] <= old[1] {
			t.Fatalf("partition %d: leader %d epoch %d before, %d epoch %d after the kill of node %d",
				p, old[0], old[1], now[0], now[1], victim)
		}
	}
	return victim, took
}

// TestFailover: three nodes, object durability. The leader of some partitions is kill -9'd; its
// partitions get new leaders with a newer epoch and accept records again; no record acked before
// the kill is lost; the node comes back and the cluster serves everything.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, n = "failover", 600
	c.createTopic(t, ctx, topic, 6, map[string]*string{"strata.durability": strp("object")})

	cl := c.client(t, kgo.DefaultProduceTopic(topic))
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("v%d", i)
		cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%12), Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
		want[v] = true
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	victim, took := failover(t, ctx, c, topic)
	t.Logf("node %d kill -9'd: its partitions accepted records again after %v", victim, took)
	if took > 3*time.Second {
		t.Logf("slow failover; logs:\n%s", c.logs())
	}

	c.start(victim)
	got := consumeAll(t, ctx, c, topic)
	for v := range want {
		if got[v] != 1 {
			t.Errorf("acked record %s read %d times", v, got[v])
		}
	}
}

// consumeAll reads topic from the start to its current end and counts each value.
func consumeAll(t testing.TB, ctx context.Context, c *cluster, topic string) map[string]int {
	t.Helper()
	recs := consumeRecords(t, ctx, c, topic)
	got := map[string]int{}
	for _, r := range recs {
		got[string(r.Value)]++
	}
	return got
}

// consumeRecords reads every record of topic from the start to the end offsets current when it
// is called, in partition order.
func consumeRecords(t testing.TB, ctx context.Context, c *cluster, topic string) []*kgo.Record {
	t.Helper()
	adm := kadm.NewClient(c.client(t))
	var ends kadm.ListedOffsets
	for {
		var err error
		ends, err = adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("end offsets: %v\n%s", err, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	cons := c.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for len(remaining) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("consume %s: still waiting for %v\n%s", topic, remaining, c.logs())
		}
		fs := cons.PollFetches(ctx)
		fs.EachError(func(tp string, p int32, err error) {
			if ctx.Err() == nil {
				t.Logf("fetch %s/%d: %v", tp, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			out = append(out, r)
			if r.Offset == end-1 {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

// BenchmarkFailover measures, per iteration, the time from kill -9 of a partition leader to the
// first acked produce on every partition it led (a client with 50ms retry backoff and metadata
// refresh). Goal: at most 2 s with the default 1 s lease TTL.
func BenchmarkFailover(b *testing.B) {
	c := startCluster(b, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const topic = "failover-bench"
	c.createTopic(b, ctx, topic, 6, map[string]*string{"strata.durability": strp("object")})
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		victim, took := failover(b, ctx, c, topic)
		total += took
		b.StopTimer()
		c.start(victim)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
}

// BenchmarkFailoverPartitions is BenchmarkFailover on a topic of STRATA_FAILOVER_PARTITIONS
// partitions (default 100), with one producer client for all of the victim's partitions: the
// time from kill -9 to every partition the victim led accepting a record again. Run with
// -benchtime 1x; the figure goes in the notes, not in an assertion.
func BenchmarkFailoverPartitions(b *testing.B) {
	n := int32(100)
	if s := os.Getenv("STRATA_FAILOVER_PARTITIONS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("STRATA_FAILOVER_PARTITIONS=%q: want a positive count", s)
		}
		n = int32(v)
	}
	c := startCluster(b, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const topic = "failover-many"
	c.createTopic(b, ctx, topic, n, map[string]*string{"strata.durability": strp("object")})
	adm := kadm.NewClient(c.client(b))
	cl := c.client(b, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var total time.Duration
	for b.Loop() {
		before, err := leaders(ctx, adm, topic)
		if err != nil {
			b.Fatal(err)
		}
		victim := int(before[0][0])
		var parts []int32
		for p, le := range before {
			if int(le[0]) == victim {
				parts = append(parts, p)
			}
		}
		if err := cl.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		c.kill(victim)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var took time.Duration
		for _, p := range parts {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: []byte("after-kill")}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					b.Errorf("partition %d: %v", p, err)
				}
				mu.Lock()
				took = max(took, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		b.Logf("%d partitions: node %d kill -9'd, its %d partitions all accepted records again after %v", n, victim, len(parts), took)
		total += took
		b.StopTimer()
		c.start(victim)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/failover")
}
