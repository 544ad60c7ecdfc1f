package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
)

// kip848Node is a node whose consumer groups heartbeat every 100ms, so rebalances take tests
// fractions of a second (Kafka's default interval is 5s).
func kip848Node(t *testing.T) *testNode {
	return startNode(t, nodeOpts{groupCfg: func(c *group.Config) {
		c.ConsumerHeartbeatInterval = 100 * time.Millisecond
		c.ConsumerSessionTimeout = 6 * time.Second
	}})
}

// ownLog records when each member owned each partition, from franz-go's callbacks: from the
// moment it was told of the partition to the end of its revoke callback (after its commit).
type ownLog struct {
	mu    sync.Mutex
	spans []ownSpan
}

type ownSpan struct {
	member   string
	tp       string
	from, to time.Time // to is zero while owned
}

func (l *ownLog) start(member string, a map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for t, ps := range a {
		for _, p := range ps {
			l.spans = append(l.spans, ownSpan{member: member, tp: fmt.Sprintf("%s/%d", t, p), from: now})
		}
	}
}

func (l *ownLog) end(member string, r map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for t, ps := range r {
		for _, p := range ps {
			tp := fmt.Sprintf("%s/%d", t, p)
			for i := range l.spans {
				if s := &l.spans[i]; s.member == member && s.tp == tp && s.to.IsZero() {
					s.to = now
				}
			}
		}
	}
}

// overlaps lists partitions two members owned at the same time.
func (l *ownLog) overlaps() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	far := time.Now().Add(time.Hour)
	end := func(s ownSpan) time.Time {
		if s.to.IsZero() {
			return far
		}
		return s.to
	}
	for i, a := range l.spans {
		for _, b := range l.spans[i+1:] {
			if a.tp == b.tp && a.member != b.member && a.from.Before(end(b)) && b.from.Before(end(a)) {
				out = append(out, fmt.Sprintf("%s: %s [%v, %v) and %s [%v, %v)", a.tp, a.member, a.from.Format("15:04:05.000"), end(a).Format("15:04:05.000"), b.member, b.from.Format("15:04:05.000"), end(b).Format("15:04:05.000")))
			}
		}
	}
	return out
}

// startConsumer starts a franz-go member of a KIP-848 group (ServerSideBalancer with balancer
// mapping to the server's assignor), sharing log, polled by a groupMember's loop.
func startConsumer(t *testing.T, n *testNode, name, grp string, balancer kgo.GroupBalancer, log *ownLog, opts ...kgo.Opt) *groupMember {
	t.Helper()
	return startMember(t, n, grp, "", append([]kgo.Opt{
		kgo.Balancers(balancer),
		kgo.ServerSideBalancer(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { log.start(name, a) }),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, r map[string][]int32) {
			_ = cl.CommitUncommittedOffsets(ctx)
			log.end(name, r)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { log.end(name, l) }),
	}, opts...)...)
}

// ownedIn is what log says member owns now, by partition number of topic.
func (l *ownLog) ownedIn(member, topic string) []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int32
	for _, s := range l.spans {
		var p int32
		if s.member == member && s.to.IsZero() {
			if _, err := fmt.Sscanf(s.tp, topic+"/%d", &p); err == nil {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

func describeConsumerGroup(t *testing.T, cl *kgo.Client, grp string) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{grp}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("describe %s: %d groups", grp, len(resp.Groups))
	}
	return resp.Groups[0]
}

// TestConsumerGroupProtocol: three franz-go consumers in a KIP-848 group share a 6-partition topic
// two partitions each; when one leaves its partitions move to the others; no partition is ever
// owned by two members at once, no record is consumed twice, and three new consumers resume from
// the committed offsets.
func TestConsumerGroupProtocol(t *testing.T) {
	for _, tc := range []struct {
		assignor string
		balancer kgo.GroupBalancer
	}{
		{group.AssignorUniform, kgo.StickyBalancer()},
		{group.AssignorRange, kgo.RangeBalancer()},
	} {
		t.Run(tc.assignor, func(t *testing.T) {
			n := kip848Node(t)
			const topic, grp = "events", "kip848"
			n.createTopic(t, topic, 6, nil)
			log := &ownLog{}
			cl := n.client(t)
			start := func(name string) *groupMember {
				return startConsumer(t, n, name, grp, tc.balancer, log, kgo.ConsumeTopics(topic))
			}
			allSix := []int32{0, 1, 2, 3, 4, 5}
			split := func(names []string, each int) func() bool {
				return func() bool {
					var all []int32
					for _, m := range names {
						own := log.ownedIn(m, topic)
						if len(own) != each {
							return false
						}
						all = append(all, own...)
					}
					slices.Sort(all)
					return slices.Equal(all, allSix)
				}
			}

			round0 := produceRound(t, n, topic, 0, 6)
			a, b, c := start("a"), start("b"), start("c")
			eventually(t, "a, b and c own two partitions each", split([]string{"a", "b", "c"}, 2))
			eventually(t, "round 0 consumed", func() bool { return consumedAll([]*groupMember{a, b, c}, round0) })

			d := describeConsumerGroup(t, cl, grp)
			if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 3 || d.AssignorName != tc.assignor {
				t.Fatalf("described %+v, want Stable with 3 members and assignor %s", d, tc.assignor)
			}
			for _, m := range d.Members {
				if m.MemberEpoch != d.AssignmentEpoch || len(m.Assignment.TopicPartitions) != 1 || len(m.Assignment.TopicPartitions[0].Partitions) != 2 {
					t.Errorf("member %s: epoch %d (group %d), assignment %+v", m.MemberID, m.MemberEpoch, d.AssignmentEpoch, m.Assignment)
				}
			}
			listed := kmsg.NewPtrListGroupsRequest()
			listed.TypesFilter = []string{"consumer"}
			lresp, err := listed.RequestWith(context.Background(), cl)
			if err != nil || len(lresp.Groups) != 1 || lresp.Groups[0].Group != grp || lresp.Groups[0].GroupType != "consumer" || lresp.Groups[0].GroupState != "Stable" {
				t.Fatalf("ListGroups(consumer) = %+v, %v", lresp, err)
			}
			listed.TypesFilter = []string{"classic"}
			if lresp, err = listed.RequestWith(context.Background(), cl); err != nil || len(lresp.Groups) != 0 {
				t.Fatalf("ListGroups(classic) = %+v, %v", lresp, err)
			}

			// c leaves; a and b take its partitions.
			c.close()
			eventually(t, "a and b own three partitions each", split([]string{"a", "b"}, 3))
			round1 := produceRound(t, n, topic, 1, 6)
			eventually(t, "round 1 consumed", func() bool { return consumedAll([]*groupMember{a, b}, round1) })

			// Every member restarts: the new ones resume from the committed offsets.
			a.close()
			b.close()
			e, f, g := start("e"), start("f"), start("g")
			eventually(t, "e, f and g own two partitions each", split([]string{"e", "f", "g"}, 2))
			round2 := produceRound(t, n, topic, 2, 6)
			eventually(t, "round 2 consumed", func() bool { return consumedAll([]*groupMember{e, f, g}, round2) })
			e.close()
			f.close()
			g.close()

			seen := map[string]int{}
			for _, m := range []*groupMember{a, b, c, e, f, g} {
				for v, k := range m.consumed() {
					seen[v] += k
				}
			}
			for _, v := range slices.Concat(round0, round1, round2) {
				if seen[v] != 1 {
					t.Errorf("record %s consumed %d times, want once", v, seen[v])
				}
			}
			if len(seen) != 18 {
				t.Errorf("consumed %d distinct records, want 18", len(seen))
			}
			for _, m := range []*groupMember{e, f, g} {
				for v := range m.consumed() {
					if v[0] != '2' {
						t.Errorf("a restarted consumer read %s, want only round 2", v)
					}
				}
			}
			if o := log.overlaps(); len(o) > 0 {
				t.Errorf("partitions owned by two members at once:\n%v", o)
			}
			offs, err := n.admin(t).FetchOffsets(context.Background(), grp)
			if err != nil {
				t.Fatal(err)
			}
			for p := range int32(6) {
				if o, ok := offs.Lookup(topic, p); !ok || o.Err != nil || o.At != 3 {
					t.Errorf("committed offset of %s/%d: %+v (found %v), want 3", topic, p, o, ok)
				}
			}
			if d := describeConsumerGroup(t, cl, grp); d.State != "Empty" || len(d.Members) != 0 {
				t.Errorf("after every member left: %+v", d)
			}
		})
	}
}

// TestConsumerGroupRegexAndTopicChanges: a member subscribed by regex is assigned a matching topic
// created later and partitions added to one it has.
func TestConsumerGroupRegexAndTopicChanges(t *testing.T) {
	n := kip848Node(t)
	const grp = "regex"
	n.createTopic(t, "logs-a", 2, nil)
	n.createTopic(t, "other", 2, nil)
	log := &ownLog{}
	cl := n.client(t)
	m := startConsumer(t, n, "m", grp, kgo.StickyBalancer(), log, kgo.ConsumeRegex(), kgo.ConsumeTopics("logs-.*"))
	eventually(t, "m owns logs-a", func() bool { return slices.Equal(log.ownedIn("m", "logs-a"), []int32{0, 1}) })
	epoch := describeConsumerGroup(t, cl, grp).Epoch

	n.createTopic(t, "logs-b", 3, nil)
	eventually(t, "m owns logs-b", func() bool { return slices.Equal(log.ownedIn("m", "logs-b"), []int32{0, 1, 2}) })
	if _, err := n.admin(t).CreatePartitions(context.Background(), 1, "logs-a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "m owns the new partition of logs-a", func() bool { return slices.Equal(log.ownedIn("m", "logs-a"), []int32{0, 1, 2}) })
	if len(log.ownedIn("m", "other")) != 0 {
		t.Fatal("m owns a topic its regex does not match")
	}
	d := describeConsumerGroup(t, cl, grp)
	if d.Epoch < epoch+2 || len(d.Members) != 1 || d.Members[0].SubscribedTopicRegex == nil || *d.Members[0].SubscribedTopicRegex == "" {
		t.Fatalf("after two topic changes the group is %+v (epoch was %d)", d, epoch)
	}
	values := produceRound(t, n, "logs-b", 0, 3)
	eventually(t, "m consumes logs-b", func() bool { return consumedAll([]*groupMember{m}, values) })
}

// TestConsumerAndClassicGroupsExclusive: a group id with consumer-protocol members refuses
// classic joins and the other way round, as Kafka without online migration.
func TestConsumerAndClassicGroupsExclusive(t *testing.T) {
	n := kip848Node(t)
	n.createTopic(t, "t", 1, nil)
	ctx := context.Background()
	cl := n.client(t)

	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch = "new-style", "member-1", 0
	hb.RebalanceTimeoutMillis = 5000
	hb.SubscribedTopicNames = []string{"t"}
	hb.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp, err := hb.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || resp.MemberEpoch < 1 || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 {
		t.Fatalf("join: %+v, %v", resp, err)
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType = "new-style", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	jresp, err := join.RequestWith(ctx, cl)
	if err != nil || jresp.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %+v, %v; want INCONSISTENT_GROUP_PROTOCOL", jresp, err)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"new-style"}
	dresp, err := dg.RequestWith(ctx, cl)
	if err != nil || dresp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: %+v, %v; want GROUP_ID_NOT_FOUND", dresp, err)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"new-style"}
	if delResp, err := del.RequestWith(ctx, cl); err != nil || delResp.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("DeleteGroups of a live consumer group: %+v, %v", delResp, err)
	}

	// The member leaves; the empty group may turn classic.
	hb.MemberEpoch, hb.Topics, hb.SubscribedTopicNames = -1, nil, nil
	if resp, err = hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v, %v", resp, err)
	}

	classic := startMember(t, n, "old-style", "t", kgo.Balancers(kgo.RangeBalancer()))
	eventually(t, "the classic member owns t/0", func() bool { return slices.Equal(classic.owned(), []int32{0}) })
	hb.Group, hb.MemberEpoch = "old-style", 0
	hb.SubscribedTopicNames, hb.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if resp, err = hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer heartbeat into a classic group: %+v, %v; want GROUP_ID_NOT_FOUND", resp, err)
	}
	if d := describeConsumerGroup(t, cl, "old-style"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("ConsumerGroupDescribe of a classic group: %+v", d)
	}
}

// TestConsumerGroupCoordinatorRestart: membership lives in the coordinator's memory, so after the
// coordinator restarts members hear UNKNOWN_MEMBER_ID, rejoin with epoch 0, and resume from
// their committed offsets.
func TestConsumerGroupCoordinatorRestart(t *testing.T) {
	st := startNode(t, nodeOpts{}) // only for its NATS store
	store := st.store
	st.stop()
	kip848 := func(c *group.Config) {
		c.ConsumerHeartbeatInterval = 100 * time.Millisecond
		c.ConsumerSessionTimeout = 6 * time.Second
	}
	n1 := startNode(t, nodeOpts{store: store, groupCfg: kip848})
	const topic, grp = "restarted", "survivors"
	n1.createTopic(t, topic, 4, nil)
	log := &ownLog{}
	start := func(name string) *groupMember {
		return startConsumer(t, n1, name, grp, kgo.StickyBalancer(), log, kgo.ConsumeTopics(topic))
	}
	a, b := start("a"), start("b")
	round0 := produceRound(t, n1, topic, 0, 4)
	eventually(t, "round 0 consumed", func() bool { return consumedAll([]*groupMember{a, b}, round0) })
	eventually(t, "round 0 committed", func() bool {
		offs, err := n1.admin(t).FetchOffsets(context.Background(), grp)
		if err != nil {
			return false
		}
		for p := range int32(4) {
			if o, ok := offs.Lookup(topic, p); !ok || o.At != 1 {
				return false
			}
		}
		return true
	})
	before := describeConsumerGroup(t, n1.client(t), grp)

	n1.stop()
	n2 := startNode(t, nodeOpts{store: store, dataDir: n1.dir, listenAddr: n1.addr, groupCfg: kip848})
	cl := n2.client(t)
	eventually(t, "a and b rejoined the new coordinator", func() bool {
		d := describeConsumerGroup(t, cl, grp)
		if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 2 {
			return false
		}
		for _, m := range d.Members {
			for _, old := range before.Members {
				if m.MemberID == old.MemberID {
					return false // rejoined members come back under fresh ids
				}
			}
		}
		return len(log.ownedIn("a", topic)) == 2 && len(log.ownedIn("b", topic)) == 2
	})
	round1 := produceRound(t, n2, topic, 1, 4)
	eventually(t, "round 1 consumed", func() bool { return consumedAll([]*groupMember{a, b}, round1) })
	a.close()
	b.close()
	seen := map[string]int{}
	for _, m := range []*groupMember{a, b} {
		for v, k := range m.consumed() {
			seen[v] += k
		}
	}
	for _, v := range slices.Concat(round0, round1) {
		if seen[v] != 1 {
			t.Errorf("record %s consumed %d times, want once", v, seen[v])
		}
	}
}
