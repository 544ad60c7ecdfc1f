package group

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// cgHarness drives one consumerGroup with simulated clients that behave as franz-go does: a
// client owns what the last assignment it received says, gives up a partition the moment an
// assignment leaves it out, and reports what it owns in full heartbeats.
type cgHarness struct {
	t       testing.TB
	g       *consumerGroup
	now     time.Time
	topics  topicSnapshot
	clients map[string]*cgClient
	nextID  int
}

type cgClient struct {
	id       string
	instance *string
	epoch    int32
	sub      []string
	owned    map[metadata.TopicPartition]bool
	left     bool
}

func newCGHarness(t testing.TB, topics map[string]int32) *cgHarness {
	h := &cgHarness{
		t:       t,
		g:       newConsumerGroup(cparams{session: 10 * time.Second, heartbeat: time.Second, maxSize: 8}),
		now:     time.Unix(1_700_000_000, 0),
		topics:  topicSnapshot{},
		clients: map[string]*cgClient{},
	}
	for name, n := range topics {
		h.addTopic(name, n)
	}
	return h
}

func (h *cgHarness) addTopic(name string, partitions int32) {
	ti, ok := h.topics[name]
	if !ok {
		ti.id = metadata.NewTopicID()
	}
	ti.partitions = partitions
	h.topics[name] = ti
}

func (h *cgHarness) ownedTopics(c *cgClient) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	byTopic := map[string][]int32{}
	for tp := range c.owned {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	for _, name := range slices.Sorted(maps.Keys(byTopic)) {
		ps := byTopic[name]
		slices.Sort(ps)
		out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: h.topics[name].id, Partitions: ps})
	}
	return out
}

// join starts a client (a static member when instance is set) and sends its first heartbeat.
func (h *cgHarness) join(instance string, subscribe ...string) (*cgClient, *kmsg.ConsumerGroupHeartbeatResponse) {
	h.nextID++
	c := &cgClient{id: fmt.Sprintf("m%d", h.nextID), owned: map[metadata.TopicPartition]bool{}}
	if instance != "" {
		c.instance = kmsg.StringPtr(instance)
	}
	c.sub = subscribe
	h.clients[c.id] = c
	resp := h.send(c, h.req(c), true)
	if resp.ErrorCode != 0 {
		c.left = true
	}
	return c, resp
}

// advance moves the clock by d and applies the coordinator's deadlines. A client whose member was
// removed is taken to have stopped consuming (what the rebalance and session timeouts assume).
func (h *cgHarness) advance(d time.Duration) int {
	h.now = h.now.Add(d)
	n := h.g.advance(h.now)
	for _, c := range h.clients {
		if _, ok := h.g.members[c.id]; !ok && c.epoch > 0 {
			c.owned, c.epoch = map[metadata.TopicPartition]bool{}, 0
		}
	}
	h.check()
	return n
}

func (h *cgHarness) req(c *cgClient) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.InstanceID = "g", c.id, c.epoch, c.instance
	req.RebalanceTimeoutMillis = 5000
	req.SubscribedTopicNames = c.sub
	req.Topics = h.ownedTopics(c)
	return req
}

// heartbeat sends a full heartbeat, or a keepalive (nothing but id and epoch).
func (h *cgHarness) heartbeat(c *cgClient, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	req := h.req(c)
	if !full {
		req.RebalanceTimeoutMillis, req.Topics, req.SubscribedTopicNames = -1, nil, nil
	}
	return h.send(c, req, true)
}

// send delivers req and, unless the response is lost, applies it as a client would.
func (h *cgHarness) send(c *cgClient, req *kmsg.ConsumerGroupHeartbeatRequest, delivered bool) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := h.g.heartbeat(h.now, req, h.topics, clientInfo{clientID: "test"}, func() string { return "generated" })
	h.check()
	if !delivered {
		return resp
	}
	switch resp.ErrorCode {
	case 0:
	case kerr.FencedMemberEpoch.Code, kerr.UnknownMemberID.Code:
		c.owned, c.epoch = map[metadata.TopicPartition]bool{}, 0 // abandon and rejoin
		return resp
	default:
		return resp
	}
	if req.MemberEpoch < 0 {
		c.left, c.owned = true, map[metadata.TopicPartition]bool{}
		return resp
	}
	c.epoch = resp.MemberEpoch
	if resp.MemberID != nil {
		c.id = *resp.MemberID
	}
	if resp.Assignment != nil {
		c.owned = map[metadata.TopicPartition]bool{}
		for _, t := range resp.Assignment.Topics {
			name := h.g.names[t.TopicID]
			for _, p := range t.Partitions {
				c.owned[metadata.TopicPartition{Topic: name, Partition: p}] = true
			}
		}
	}
	h.check()
	return resp
}

// check asserts the safety invariants: no partition is owned by two clients, nor held (assigned
// or being revoked) by two members on the coordinator.
func (h *cgHarness) check() {
	h.t.Helper()
	clientOwner := map[metadata.TopicPartition]string{}
	for _, c := range h.clients {
		for tp := range c.owned {
			if o, dup := clientOwner[tp]; dup {
				h.t.Fatalf("%v owned by clients %s and %s", tp, o, c.id)
			}
			clientOwner[tp] = c.id
		}
	}
	serverOwner := map[metadata.TopicPartition]string{}
	for id, m := range h.g.members {
		for _, set := range []epochs{m.assigned, m.revoking} {
			for tp, e := range set {
				if o, dup := serverOwner[tp]; dup {
					h.t.Fatalf("%v held by members %s and %s", tp, o, id)
				}
				serverOwner[tp] = id
				if e > m.epoch && m.epoch >= 0 {
					h.t.Fatalf("member %s (epoch %d) holds %v from a later epoch %d", id, m.epoch, tp, e)
				}
			}
		}
		if m.epoch > h.g.targetEpoch {
			h.t.Fatalf("member %s epoch %d above the target epoch %d", id, m.epoch, h.g.targetEpoch)
		}
	}
	if h.g.targetEpoch > h.g.epoch {
		h.t.Fatalf("target epoch %d above group epoch %d", h.g.targetEpoch, h.g.epoch)
	}
}

// settle heartbeats every live client in full until the group is Stable.
func (h *cgHarness) settle() {
	h.t.Helper()
	for range 20 {
		for _, id := range slices.Sorted(maps.Keys(h.clients)) {
			if c := h.clients[id]; !c.left {
				h.heartbeat(c, true)
			}
		}
		if h.g.state() == ConsumerStable {
			return
		}
	}
	h.t.Fatalf("group never became stable: %v", h.g.state())
}

func counts(cs ...*cgClient) []int {
	var out []int
	for _, c := range cs {
		out = append(out, len(c.owned))
	}
	return out
}

func TestConsumerGroupReconciliation(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"t": 6})
	a, resp := h.join("", "t")
	if resp.ErrorCode != 0 || resp.MemberEpoch != 1 || len(a.owned) != 6 || resp.HeartbeatIntervalMillis != 1000 {
		t.Fatalf("first join: %+v, owned %v", resp, a.owned)
	}
	b, resp := h.join("", "t")
	if resp.ErrorCode != 0 || len(b.owned) != 0 {
		t.Fatalf("b got partitions a still owns: %+v", b.owned)
	}
	// a is told to give up three partitions without an epoch bump; b gets them only after a
	// reported them released.
	resp = h.heartbeat(a, false)
	if resp.MemberEpoch != 1 || len(a.owned) != 3 {
		t.Fatalf("a after the rebalance: epoch %d owns %d", resp.MemberEpoch, len(a.owned))
	}
	h.heartbeat(b, true)
	if len(b.owned) != 0 {
		t.Fatalf("b got %d partitions before a released them", len(b.owned))
	}
	h.heartbeat(a, false) // a keepalive does not say what a released
	h.heartbeat(b, true)
	if len(b.owned) != 0 {
		t.Fatal("a keepalive released partitions")
	}
	resp = h.heartbeat(a, true)
	if resp.MemberEpoch != 2 {
		t.Fatalf("a's epoch after releasing: %d, want 2", resp.MemberEpoch)
	}
	resp = h.heartbeat(b, true)
	if len(b.owned) != 3 || resp.MemberEpoch != 2 || h.g.state() != ConsumerStable {
		t.Fatalf("b: owns %d at epoch %d, state %v", len(b.owned), resp.MemberEpoch, h.g.state())
	}

	c, _ := h.join("", "t")
	h.settle()
	if got := counts(a, b, c); !slices.Equal(got, []int{2, 2, 2}) {
		t.Fatalf("three members own %v", got)
	}
	// Sticky: a and b kept partitions they had.
	aBefore := maps.Clone(a.owned)
	resp = h.send(c, func() *kmsg.ConsumerGroupHeartbeatRequest { r := h.req(c); r.MemberEpoch = -1; return r }(), true)
	if resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", resp)
	}
	h.settle()
	if got := counts(a, b); !slices.Equal(got, []int{3, 3}) {
		t.Fatalf("after c left: %v", got)
	}
	for tp := range aBefore {
		if !a.owned[tp] {
			t.Errorf("a lost %v when c left", tp)
		}
	}
}

func TestConsumerGroupFencing(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"t": 2})
	a, _ := h.join("", "t")
	for _, tc := range []struct {
		name  string
		epoch int32
		id    string
		want  int16
	}{
		{"epoch ahead", a.epoch + 1, a.id, kerr.FencedMemberEpoch.Code},
		{"unknown member", a.epoch, "nobody", kerr.UnknownMemberID.Code},
		{"current", a.epoch, a.id, 0},
	} {
		req := h.req(a)
		req.MemberEpoch, req.MemberID = tc.epoch, tc.id
		if got := h.g.heartbeat(h.now, req, h.topics, clientInfo{}, nil).ErrorCode; got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}

	// A lost response: the member comes back with its previous epoch and a subset of its
	// partitions, which is accepted; with partitions it was never given it is fenced.
	b, _ := h.join("", "t")
	h.settle()
	stale := h.req(a)
	stale.MemberEpoch = h.g.members[a.id].prevEpoch
	if got := h.g.heartbeat(h.now, stale, h.topics, clientInfo{}, nil); got.ErrorCode != 0 || got.MemberEpoch != a.epoch {
		t.Fatalf("previous epoch with a subset: %+v", got)
	}
	stale.Topics = h.ownedTopics(b)
	if got := h.g.heartbeat(h.now, stale, h.topics, clientInfo{}, nil); got.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("previous epoch with another member's partitions: %+v", got)
	}

	// Rejoining in place (epoch 0, same id) redelivers the assignment.
	rejoin := h.req(a)
	rejoin.MemberEpoch, rejoin.Topics, rejoin.SubscribedTopicNames = 0, []kmsg.ConsumerGroupHeartbeatRequestTopic{}, []string{"t"}
	got := h.g.heartbeat(h.now, rejoin, h.topics, clientInfo{}, nil)
	if got.ErrorCode != 0 || got.Assignment == nil || len(got.Assignment.Topics) != 1 || len(got.Assignment.Topics[0].Partitions) != 1 {
		t.Fatalf("rejoin in place: %+v", got)
	}
}

func TestConsumerGroupStaticMember(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"t": 4})
	a, _ := h.join("inst-a", "t")
	b, _ := h.join("inst-b", "t")
	h.settle()
	owned := maps.Clone(a.owned)
	epoch := h.g.epoch

	// inst-a is still in use: a second process with that instance id is refused.
	_, resp := h.join("inst-a", "t")
	if resp.ErrorCode != kerr.UnreleasedInstanceID.Code {
		t.Fatalf("duplicate instance: %+v", resp)
	}
	// a leaves temporarily (-2); its partitions stay reserved, and it returns under a new member id.
	leave := h.req(a)
	leave.MemberEpoch = -2
	if resp := h.send(a, leave, true); resp.ErrorCode != 0 || resp.MemberEpoch != -2 {
		t.Fatalf("static leave: %+v", resp)
	}
	h.heartbeat(b, true)
	if len(b.owned) != 2 {
		t.Fatalf("b took partitions of an away static member: %v", b.owned)
	}
	a2, resp := h.join("inst-a", "t")
	if resp.ErrorCode != 0 || !maps.Equal(a2.owned, owned) || h.g.epoch != epoch {
		t.Fatalf("returning static member: %+v owns %v (was %v), group epoch %d (was %d)", resp, a2.owned, owned, h.g.epoch, epoch)
	}
	if _, ok := h.g.members[a.id]; ok {
		t.Fatal("the old member id is still in the group")
	}

	// Away past the session timeout, the member is removed and b takes everything.
	leave = h.req(a2)
	leave.MemberEpoch = -2
	h.send(a2, leave, true)
	h.advance(6 * time.Second)
	h.heartbeat(b, true)
	if n := h.advance(5 * time.Second); n != 1 {
		t.Fatalf("%d members expired, want the away static member", n)
	}
	h.settle()
	if len(b.owned) != 4 {
		t.Fatalf("after the static member expired b owns %v", b.owned)
	}
}

func TestConsumerGroupRebalanceTimeout(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"t": 2})
	a, _ := h.join("", "t")
	b, _ := h.join("", "t")
	h.heartbeat(a, false) // told to revoke; never reports it
	if len(h.g.members[a.id].revoking) != 1 {
		t.Fatal("a is not revoking")
	}
	if d := h.g.nextDeadline(); !d.Equal(h.now.Add(5 * time.Second)) {
		t.Fatalf("next deadline %v, want the rebalance timeout", d)
	}
	if n := h.advance(5 * time.Second); n != 1 {
		t.Fatalf("advance removed %d members, want a", n)
	}
	h.heartbeat(b, true)
	if len(b.owned) != 2 {
		t.Fatalf("b owns %v after a was fenced", b.owned)
	}
	a.epoch = 2 // as if a still believed it was in
	if resp := h.heartbeat(a, true); resp.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("the fenced member heartbeats: %+v", resp)
	}
}

func TestConsumerGroupTopicChanges(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"a": 1, "other": 3})
	c, _ := h.join("", "a", "b")
	epoch := h.g.epoch
	h.heartbeat(c, true)
	if h.g.epoch != epoch || len(c.owned) != 1 {
		t.Fatalf("a steady heartbeat moved the epoch %d → %d or owns %v", epoch, h.g.epoch, c.owned)
	}
	h.addTopic("b", 2)
	h.heartbeat(c, true)
	h.addTopic("a", 2)
	h.heartbeat(c, true)
	if h.g.epoch != epoch+2 || len(c.owned) != 4 {
		t.Fatalf("after a new topic and a new partition: epoch %d (was %d), owns %v", h.g.epoch, epoch, c.owned)
	}
	delete(h.topics, "b")
	h.settle()
	if len(c.owned) != 2 {
		t.Fatalf("after b was deleted c owns %v", c.owned)
	}
}

func TestConsumerGroupRegex(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"logs-a": 1, "logs": 1, "xlogs-b": 1})
	c := &cgClient{id: "r", owned: map[metadata.TopicPartition]bool{}}
	h.clients[c.id] = c
	req := h.req(c)
	req.SubscribedTopicRegex = kmsg.StringPtr("logs-.*")
	h.send(c, req, true)
	if !maps.Equal(c.owned, map[metadata.TopicPartition]bool{{Topic: "logs-a"}: true}) {
		t.Fatalf("regex owns %v, want only logs-a (whole-name match)", c.owned)
	}
}

func TestValidateHeartbeat(t *testing.T) {
	base := func() *kmsg.ConsumerGroupHeartbeatRequest {
		r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		r.Version, r.Group, r.MemberID, r.RebalanceTimeoutMillis = 1, "g", "m", 1000
		r.SubscribedTopicNames, r.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return r
	}
	for _, tc := range []struct {
		name string
		mod  func(r *kmsg.ConsumerGroupHeartbeatRequest)
		want int16
	}{
		{"valid join", func(*kmsg.ConsumerGroupHeartbeatRequest) {}, 0},
		{"v0 join without id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Version, r.MemberID = 0, "" }, 0},
		{"v1 join without id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "" }, kerr.InvalidRequest.Code},
		{"join without rebalance timeout", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }, kerr.InvalidRequest.Code},
		{"join owning partitions", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{Partitions: []int32{0}}}
		}, kerr.InvalidRequest.Code},
		{"join without subscription", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicNames = nil }, kerr.InvalidRequest.Code},
		{"empty instance id", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = kmsg.StringPtr("") }, kerr.InvalidRequest.Code},
		{"static leave without instance", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -2 }, kerr.InvalidRequest.Code},
		{"epoch below -2", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = -3 }, kerr.InvalidRequest.Code},
		{"unknown assignor", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = kmsg.StringPtr("sticky") }, kerr.UnsupportedAssignor.Code},
		{"bad regex", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("(") }, kerr.InvalidRegularExpression.Code},
	} {
		r := base()
		tc.mod(r)
		if got, msg := validateHeartbeat(r); got != tc.want {
			t.Errorf("%s: code %d (%s), want %d", tc.name, got, msg, tc.want)
		}
	}
}

func TestConsumerGroupCommitValidation(t *testing.T) {
	h := newCGHarness(t, map[string]int32{"t": 2})
	if code := h.g.validateCommit("", -1, 9, false, nil); code != 0 {
		t.Fatalf("a simple commit to an empty group: %d", code)
	}
	a, _ := h.join("", "t")
	old := a.epoch
	oldTP := slices.Collect(maps.Keys(a.owned))[0]
	b, _ := h.join("", "t")
	h.settle()
	kept := slices.Collect(maps.Keys(a.owned))[0]
	var lost metadata.TopicPartition
	for tp := range b.owned {
		lost = tp
	}
	_ = oldTP
	for _, tc := range []struct {
		name    string
		member  string
		epoch   int32
		version int16
		txn     bool
		tps     []metadata.TopicPartition
		want    int16
	}{
		{"current epoch", a.id, a.epoch, 9, false, []metadata.TopicPartition{kept}, 0},
		{"older epoch, partition owned since", a.id, old, 9, false, []metadata.TopicPartition{kept}, 0},
		{"older epoch, partition since moved", a.id, old, 9, false, []metadata.TopicPartition{lost}, kerr.StaleMemberEpoch.Code},
		{"epoch ahead", a.id, a.epoch + 1, 9, false, nil, kerr.StaleMemberEpoch.Code},
		{"epoch ahead, transactional", a.id, a.epoch + 1, 3, true, nil, kerr.IllegalGeneration.Code},
		{"unknown member", "x", 1, 9, false, nil, kerr.UnknownMemberID.Code},
		{"simple commit to a live group", "", -1, 9, false, nil, kerr.UnknownMemberID.Code},
		{"old OffsetCommit version", a.id, a.epoch, 8, false, nil, kerr.UnsupportedVersion.Code},
		{"b at its epoch for a partition it gained", b.id, b.epoch, 9, false, []metadata.TopicPartition{lost}, 0},
	} {
		if got := h.g.validateCommit(tc.member, tc.epoch, tc.version, tc.txn, tc.tps); got != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
		}
	}
	if code := h.g.validateFetch(kmsg.StringPtr(a.id), a.epoch-1); code != kerr.StaleMemberEpoch.Code {
		t.Errorf("fetch with an old epoch: %d", code)
	}
	if code := h.g.validateFetch(nil, -1); code != 0 {
		t.Errorf("admin fetch: %d", code)
	}
}

func TestAssignors(t *testing.T) {
	in := assignInput{
		members:    []string{"a", "b", "c"},
		subscribed: map[string][]string{"a": {"x", "y"}, "b": {"x", "y"}, "c": {"y"}},
		partitions: map[string]int32{"x": 4, "y": 5},
	}
	r := assignRange(in)
	want := map[string][]metadata.TopicPartition{
		"a": {{Topic: "x", Partition: 0}, {Topic: "x", Partition: 1}, {Topic: "y", Partition: 0}, {Topic: "y", Partition: 1}},
		"b": {{Topic: "x", Partition: 2}, {Topic: "x", Partition: 3}, {Topic: "y", Partition: 2}, {Topic: "y", Partition: 3}},
		"c": {{Topic: "y", Partition: 4}},
	}
	for m, tps := range want {
		if !slices.Equal(r[m], tps) {
			t.Errorf("range %s = %v, want %v", m, r[m], tps)
		}
	}

	u := assignUniform(in)
	total := 0
	for _, m := range in.members {
		total += len(u[m])
		if n := len(u[m]); n != 3 {
			t.Errorf("uniform gives %s %d partitions, want 3 of 9: %v", m, n, u)
		}
		for _, tp := range u[m] {
			if !slices.Contains(in.subscribed[m], tp.Topic) {
				t.Errorf("uniform gives %s %v it does not subscribe to", m, tp)
			}
		}
	}
	if total != 9 {
		t.Errorf("uniform assigned %d of 9", total)
	}
	// Sticky: a fourth member takes partitions without moving any other between old members.
	in.previous = map[string]map[metadata.TopicPartition]struct{}{}
	for m, tps := range u {
		in.previous[m] = map[metadata.TopicPartition]struct{}{}
		for _, tp := range tps {
			in.previous[m][tp] = struct{}{}
		}
	}
	in.members = append(in.members, "d")
	in.subscribed["d"] = []string{"x", "y"}
	u2 := assignUniform(in)
	for _, m := range []string{"a", "b", "c"} {
		for _, tp := range u2[m] {
			if _, had := in.previous[m][tp]; !had {
				t.Errorf("uniform moved %v to %s, which had not owned it", tp, m)
			}
		}
	}
	if len(u2["d"]) < 2 {
		t.Errorf("the new member got %v", u2["d"])
	}
	if got := preferredAssignor([]string{"", "range", "uniform", "range"}); got != AssignorRange {
		t.Errorf("preferred assignor %s", got)
	}
	if got := preferredAssignor(nil); got != AssignorUniform {
		t.Errorf("default assignor %s", got)
	}
}
