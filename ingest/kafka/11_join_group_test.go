package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// groupMember is one franz-go consumer in a group, polled on its own goroutine. It records what it
// is assigned and every record it consumes, and commits after each poll.
type groupMember struct {
	cl      *kgo.Client
	mu      sync.Mutex
	own     map[int32]bool
	assigns int            // OnPartitionsAssigned calls
	seen    map[string]int // value → times consumed
	stop    context.CancelFunc
	done    chan struct{}
}

func startMember(t *testing.T, n *testNode, group, topic string, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{own: map[int32]bool{}, seen: map[string]int{}, done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(n.addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.assigns++
			for _, p := range a[topic] {
				m.own[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			// Commit what was consumed before giving partitions away, as real consumers do.
			_ = cl.CommitUncommittedOffsets(ctx)
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.own, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range l[topic] {
				delete(m.own, p)
			}
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				m.mu.Lock()
				m.seen[string(r.Value)]++
				m.mu.Unlock()
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				t.Logf("commit: %v", err)
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

// close stops polling, commits, and leaves the group (kgo's Close sends LeaveGroup).
func (m *groupMember) close() {
	if m.stop == nil {
		return
	}
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.cl.CommitUncommittedOffsets(ctx)
	m.cl.Close()
	m.stop = nil
}

func (m *groupMember) owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.own))
}

func (m *groupMember) consumed() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.seen)
}

// produceRound writes one record per partition with values "<round>-<partition>".
func produceRound(t *testing.T, n *testNode, topic string, round, partitions int) []string {
	t.Helper()
	cl := n.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var values []string
	for p := range partitions {
		v := fmt.Sprintf("%d-%d", round, p)
		values = append(values, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	return values
}

// eventually polls cond; the bound only keeps a broken build from hanging the suite.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func consumedAll(members []*groupMember, values []string) bool {
	total := map[string]int{}
	for _, m := range members {
		for v, c := range m.consumed() {
			total[v] += c
		}
	}
	for _, v := range values {
		if total[v] == 0 {
			return false
		}
	}
	return true
}

func TestConsumerGroupEndToEnd(t *testing.T) {
	for _, balancer := range []struct {
		name string
		opt  kgo.Opt
	}{
		{"range", kgo.Balancers(kgo.RangeBalancer())},
		{"cooperative-sticky", kgo.Balancers(kgo.CooperativeStickyBalancer())},
	} {
		t.Run(balancer.name, func(t *testing.T) {
			n := startNode(t, nodeOpts{})
			const topic, group = "orders", "readers"
			n.createTopic(t, topic, 3, nil)
			round0 := produceRound(t, n, topic, 0, 3)

			// Two consumers split the three partitions.
			a := startMember(t, n, group, topic, balancer.opt)
			b := startMember(t, n, group, topic, balancer.opt)
			eventually(t, "a and b split the partitions", func() bool {
				oa, ob := a.owned(), b.owned()
				all := slices.Sorted(slices.Values(append(slices.Clone(oa), ob...)))
				return len(oa) > 0 && len(ob) > 0 && slices.Equal(all, []int32{0, 1, 2})
			})
			eventually(t, "round 0 consumed", func() bool { return consumedAll([]*groupMember{a, b}, round0) })

			// b leaves; a takes every partition and reads only what b had not committed.
			b.close()
			eventually(t, "a owns all partitions", func() bool { return slices.Equal(a.owned(), []int32{0, 1, 2}) })
			round1 := produceRound(t, n, topic, 1, 3)
			eventually(t, "round 1 consumed by a", func() bool { return consumedAll([]*groupMember{a}, round1) })

			// a restarts: its successor resumes from the committed offsets.
			a.close()
			c := startMember(t, n, group, topic, balancer.opt)
			round2 := produceRound(t, n, topic, 2, 3)
			eventually(t, "round 2 consumed by c", func() bool { return consumedAll([]*groupMember{c}, round2) })
			c.close()

			seen := map[string]int{}
			for _, m := range []*groupMember{a, b, c} {
				for v, k := range m.consumed() {
					seen[v] += k
				}
			}
			for _, v := range slices.Concat(round0, round1, round2) {
				if seen[v] != 1 {
					t.Errorf("record %s consumed %d times, want once", v, seen[v])
				}
			}
			if len(seen) != 9 {
				t.Errorf("consumed %d distinct records, want 9: %v", len(seen), seen)
			}
			if got := c.consumed(); len(got) != 3 {
				t.Errorf("the restarted consumer read %v, want only round 2", got)
			}

			ctx := context.Background()
			offs, err := n.admin(t).FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 3; p++ {
				o, ok := offs.Lookup(topic, p)
				if !ok || o.Err != nil || o.At != 3 {
					t.Errorf("committed offset of %s/%d: %+v (found %v), want 3", topic, p, o, ok)
				}
			}
		})
	}
}

// TestStaticMemberRestart: a consumer with a group.instance.id that restarts within its session
// timeout takes its partitions back without a rebalance; the other member is never disturbed.
func TestStaticMemberRestart(t *testing.T) {
	n := startNode(t, nodeOpts{})
	const topic, group = "static", "statics"
	n.createTopic(t, topic, 2, nil)
	opts := func(id string) []kgo.Opt {
		return []kgo.Opt{kgo.InstanceID(id), kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(30 * time.Second)}
	}
	a := startMember(t, n, group, topic, opts("inst-a")...)
	b := startMember(t, n, group, topic, opts("inst-b")...)
	eventually(t, "a and b split the partitions", func() bool { return len(a.owned()) == 1 && len(b.owned()) == 1 })
	a.mu.Lock()
	before := a.assigns
	a.mu.Unlock()
	ownedB := b.owned()

	b.close() // a static member does not send LeaveGroup
	b2 := startMember(t, n, group, topic, opts("inst-b")...)
	eventually(t, "the restarted b owns its old partition", func() bool { return slices.Equal(b2.owned(), ownedB) })
	round := produceRound(t, n, topic, 0, 2)
	eventually(t, "both consume", func() bool { return consumedAll([]*groupMember{a, b2}, round) })

	a.mu.Lock()
	after := a.assigns
	a.mu.Unlock()
	if after != before {
		t.Fatalf("a was reassigned %d times during b's restart, want no rebalance", after-before)
	}
	described, err := n.admin(t).DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	d := described[group]
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("describe after restart: state %s, %d members", d.State, len(d.Members))
	}
	for _, m := range d.Members {
		if m.InstanceID == nil {
			t.Fatalf("member %s lost its instance id", m.MemberID)
		}
	}
}
