package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// fakeClock is the metadata store's clock, moved by hand to expire leases.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newMemStore(t *testing.T) (*memmeta.Store, *fakeClock) {
	clk := &fakeClock{now: time.Now()}
	st, err := memmeta.New(memmeta.Config{Now: clk.Now, FirstProducerID: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, clk
}

// newBroker starts a broker on its own data dir (dir "" → a fresh temp dir); see startNode. No
// background reconcile runs during a test: tests call reconcile themselves.
func newBroker(t *testing.T, st metadata.Store, id int32, dir string) *Broker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return startNode(t, st, id, dir)
}

func batch(n int, pid int64, epoch int16, seq int32) []byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = []byte(fmt.Sprint(i))
	}
	return segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, Values: vals}.Encode()
}

// adminOf is topic administration on b's store, with b as the node it tells about changes.
func adminOf(t testing.TB, b *Broker) *topics.Admin {
	t.Helper()
	a, err := topics.New(topics.Config{NodeID: b.cfg.NodeID, Store: b.store, Node: b, Defaults: b.cfg.Defaults})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustCode(t *testing.T, err error, want *kerr.Error) {
	t.Helper()
	got := Code(err)
	w := int16(0)
	if want != nil {
		w = want.Code
	}
	if got != w {
		t.Fatalf("error %v (code %d), want %v", err, got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	st, _ := newMemStore(t)
	d, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{HotLog: d, Store: st}, true},
		{"no hot log", Config{Store: st}, false},
		{"no store", Config{HotLog: d}, false},
		{"negative node", Config{HotLog: d, Store: st, NodeID: -1}, false},
		{"renew too slow for ttl", Config{HotLog: d, Store: st, LeaseTTL: time.Second, RenewInterval: time.Second}, false},
		{"zero partitions default", Config{HotLog: d, Store: st, Defaults: topics.Defaults{NumPartitions: -3}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRendezvous(t *testing.T) {
	nodes := []metadata.Node{{ID: 1}, {ID: 2}, {ID: 3}}
	count := map[int32]int{}
	moved := 0
	for i := int32(0); i < 3000; i++ {
		tp := metadata.TopicPartition{Topic: "t", Partition: i}
		a := rendezvous(tp, nodes)
		if b := rendezvous(tp, []metadata.Node{{ID: 3}, {ID: 1}, {ID: 2}}); a != b {
			t.Fatalf("%v: %d vs %d depending on node order", tp, a, b)
		}
		count[a]++
		// Without node 2, only node 2's partitions move.
		if c := rendezvous(tp, []metadata.Node{{ID: 1}, {ID: 3}}); c != a {
			if a != 2 {
				t.Fatalf("%v moved from %d to %d when node 2 left", tp, a, c)
			}
			moved++
		}
	}
	for id, c := range count {
		if c < 800 || c > 1200 {
			t.Fatalf("node %d got %d of 3000 partitions", id, c)
		}
	}
	if moved != count[2] {
		t.Fatalf("%d moved, node 2 had %d", moved, count[2])
	}
}

// A fenced leader steps down at its next renew and answers NOT_LEADER_OR_FOLLOWER.
func TestFencedLeaderStepsDown(t *testing.T) {
	st, clk := newMemStore(t)
	ctx := context.Background()
	b := newBroker(t, st, 1, "")
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "f", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "f"}
	if _, err := b.Append(ctx, tp, batch(2, -1, -1, -1)); err != nil {
		t.Fatal(err)
	}
	epoch := b.Epoch(tp)
	clk.Add(time.Minute) // node 1's registration lapses in the store
	if err := st.RegisterNode(ctx, metadata.Node{ID: 2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	l, err := st.AcquireLease(ctx, tp, 2)
	if err != nil || l.Epoch != epoch+1 {
		t.Fatalf("takeover: %+v %v", l, err)
	}
	if err := b.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Leads(tp) {
		t.Fatal("still leading after being fenced")
	}
	_, err = b.Append(ctx, tp, batch(1, -1, -1, -1))
	mustCode(t, err, kerr.NotLeaderForPartition)
	_, err = b.Fetch(ctx, tp, 0, 1<<20)
	mustCode(t, err, kerr.NotLeaderForPartition)
}

// A leader whose registration deadline passed without a refresh stops serving on its own. A late
// refresh of a registration that never lapsed in the store resumes service under the same epoch;
// one that finds the registration gone drops every partition, which is taken again under a new
// epoch.
func TestLapsedRegistrationStopsServing(t *testing.T) {
	st, clk := newMemStore(t)
	ctx := context.Background()
	b := newBroker(t, st, 1, "")
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "l", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "l"}
	epoch := b.Epoch(tp)
	b.alive.Store(time.Now().Add(-time.Second).UnixNano())
	_, err := b.Append(ctx, tp, batch(1, -1, -1, -1))
	mustCode(t, err, kerr.NotLeaderForPartition)
	if err := b.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, tp, batch(1, -1, -1, -1)); err != nil {
		t.Fatalf("append after a late refresh of a live registration: %v", err)
	}
	if got := b.Epoch(tp); got != epoch {
		t.Fatalf("epoch after a late refresh %d, want %d", got, epoch)
	}

	b.alive.Store(time.Now().Add(-time.Second).UnixNano())
	clk.Add(time.Minute) // and the registration lapses in the store
	if err := b.heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Leads(tp) {
		t.Fatal("still leads after its registration lapsed")
	}
	if err := b.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, tp, batch(1, -1, -1, -1)); err != nil {
		t.Fatal(err)
	}
	if got := b.Epoch(tp); got != epoch+1 {
		t.Fatalf("epoch after the lapse %d, want %d", got, epoch+1)
	}
}

// Producer state survives a restart: it is rebuilt from the hot log.
func TestProducerStateRebuiltOnOpen(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	tp := metadata.TopicPartition{Topic: "p"}
	b1 := newBroker(t, st, 1, dir)
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "p", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	for i, seq := range []int32{0, 4, 8} {
		r, err := b1.Append(ctx, tp, batch(4, 500, 0, seq))
		if err != nil || r.BaseOffset != int64(4*i) {
			t.Fatalf("append %d: %+v %v", i, r, err)
		}
	}
	if err := b1.WaitDurable(ctx, tp, b1.Epoch(tp), 12); err != nil {
		t.Fatal(err)
	}
	b1.Close()
	b1.dir.Close()

	b2 := newBroker(t, st, 1, dir)
	if !b2.Leads(tp) {
		t.Fatal("restarted broker does not lead")
	}
	r, err := b2.Append(ctx, tp, batch(4, 500, 0, 4))
	if err != nil || !r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("retry after restart: %+v %v", r, err)
	}
	_, err = b2.Append(ctx, tp, batch(1, 500, 0, 13))
	mustCode(t, err, kerr.OutOfOrderSequenceNumber)
	if r, err := b2.Append(ctx, tp, batch(1, 500, 0, 12)); err != nil || r.BaseOffset != 12 {
		t.Fatalf("next in order: %+v %v", r, err)
	}

	// Once expired, the producer is unknown: any sequence is accepted again.
	b2.mu.RLock()
	p := b2.parts[tp]
	b2.mu.RUnlock()
	if n := p.expireProducers(time.Now().Add(time.Hour).UnixMilli()); n != 1 {
		t.Fatalf("expired %d producers, want 1", n)
	}
	if _, err := b2.Append(ctx, tp, batch(1, 500, 0, 77)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// A new leader whose hot log is behind the tiered end starts at the tiered end.
func TestTakeoverStartsAtTieredEnd(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	tp := metadata.TopicPartition{Topic: "tiered"}
	if _, err := st.CreateTopic(ctx, metadata.Topic{Name: "tiered", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	l, err := st.AcquireLease(ctx, tp, 9)
	if err != nil {
		t.Fatal(err)
	}
	seg := metadata.SegmentRef{Key: "x/0.seg", BaseOffset: 0, NextOffset: 100, Size: 1, Epoch: l.Epoch, Records: 100}
	if err := st.RegisterSegment(ctx, tp, l.Epoch, seg); err != nil {
		t.Fatal(err)
	}
	if err := st.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	b := newBroker(t, st, 1, "")
	r, err := b.Append(ctx, tp, batch(1, -1, -1, -1))
	if err != nil || r.BaseOffset != 100 {
		t.Fatalf("first append after takeover: %+v %v", r, err)
	}
	if b.Epoch(tp) != l.Epoch+1 {
		t.Fatalf("epoch %d, want %d", b.Epoch(tp), l.Epoch+1)
	}
	off, _, err := b.ListOffset(ctx, tp, LatestTieredTimestamp)
	if err != nil || off != 99 {
		t.Fatalf("latest tiered: %d %v", off, err)
	}
}

// Two nodes split the partitions by rendezvous hash; when one leaves, the other takes them all.
// Runs on embedded NATS JetStream.
func TestTwoNodesSplitAndFailover(t *testing.T) {
	st := natsmetatest.Store(t)
	ctx := context.Background()
	b1 := newBroker(t, st, 1, "")
	b2 := newBroker(t, st, 2, "")
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "split", Partitions: 16, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Broker{b1, b2, b1} {
		if err := b.reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n1, n2 := len(b1.LedPartitions()), len(b2.LedPartitions())
	if n1+n2 != 16 || n1 == 0 || n2 == 0 {
		t.Fatalf("split %d + %d of 16", n1, n2)
	}
	for tp := range b1.LedPartitions() {
		if b2.Leads(tp) {
			t.Fatalf("%v led by both", tp)
		}
	}
	b2.Close() // releases its leases and deregisters
	if err := b1.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b1.LedPartitions()); n != 16 {
		t.Fatalf("after node 2 left node 1 leads %d of 16", n)
	}
	if c := b1.IsCoordinator("any-group"); !c {
		t.Fatal("the only node must coordinate every group")
	}
}
