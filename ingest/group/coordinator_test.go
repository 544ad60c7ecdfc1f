package group

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
)

// storeFactories lists the metadata.Store backends the coordinator is tested against. Files that
// need extra servers add theirs in init.
var storeFactories = map[string]func(t testing.TB) metadata.Store{
	"memmeta": func(t testing.TB) metadata.Store {
		s, err := memmeta.New(memmeta.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	},
}

func forEachStore(t *testing.T, fn func(t *testing.T, store metadata.Store)) {
	for name, f := range storeFactories {
		t.Run(name, func(t *testing.T) { fn(t, f(t)) })
	}
}

func newTestCoordinator(t testing.TB, store metadata.Store, mod func(*Config)) *Coordinator {
	t.Helper()
	cfg := Config{
		Store:             store,
		RebalanceDelay:    20 * time.Millisecond,
		MinSessionTimeout: 50 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func createTopic(t *testing.T, store metadata.Store, name string, partitions int32) {
	t.Helper()
	if _, err := store.CreateTopic(context.Background(), metadata.Topic{Name: name, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func joinReq(group, memberID string, session time.Duration, topics ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.ProtocolType = group, memberID, "consumer"
	r.SessionTimeoutMillis = int32(session / time.Millisecond)
	r.RebalanceTimeoutMillis = int32(10 * time.Second / time.Millisecond)
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta(topics...)}}
	return r
}

// join runs the two-step KIP-394 join and returns the response that ends the rebalance.
func join(t testing.TB, c *Coordinator, group string, session time.Duration, topics ...string) *kmsg.JoinGroupResponse {
	t.Helper()
	ctx := context.Background()
	r := c.JoinGroup(ctx, joinReq(group, "", session, topics...))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Errorf("first join: code %d member %q, want MEMBER_ID_REQUIRED with an id", r.ErrorCode, r.MemberID)
		return r
	}
	return c.JoinGroup(ctx, joinReq(group, r.MemberID, session, topics...))
}

func syncReq(group, memberID string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for id, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return r
}

func heartbeat(c *Coordinator, group, memberID string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	return c.Heartbeat(context.Background(), r).ErrorCode
}

// joinTogether joins n members concurrently and returns their responses, leader first.
func joinTogether(t testing.TB, c *Coordinator, group string, n int, session time.Duration, topics ...string) []*kmsg.JoinGroupResponse {
	t.Helper()
	out := make([]*kmsg.JoinGroupResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = join(t, c, group, session, topics...) })
	}
	wg.Wait()
	for i, r := range out {
		if r.ErrorCode != 0 {
			t.Fatalf("member %d join: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
		if r.LeaderID == r.MemberID {
			out[0], out[i] = out[i], out[0]
		}
	}
	if out[0].LeaderID != out[0].MemberID || len(out[0].Members) != n {
		t.Fatalf("leader response has %d members (leader %q), want %d", len(out[0].Members), out[0].LeaderID, n)
	}
	for _, r := range out {
		if r.Generation != out[0].Generation || *r.Protocol != "range" {
			t.Fatalf("member %s: generation %d protocol %q, leader generation %d", r.MemberID, r.Generation, *r.Protocol, out[0].Generation)
		}
	}
	return out
}

// syncAll syncs every member, the leader last, and returns the assignments received.
func syncAll(t testing.TB, c *Coordinator, group string, joined []*kmsg.JoinGroupResponse) map[string]string {
	t.Helper()
	assign := map[string]string{}
	for _, r := range joined {
		assign[r.MemberID] = "assignment-of-" + r.MemberID
	}
	got := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := len(joined) - 1; i >= 0; i-- {
		r := joined[i]
		var a map[string]string
		if i == 0 {
			a = assign // followers are already blocked in SyncGroup (waitFor below)
		}
		wg.Go(func() {
			resp := c.SyncGroup(context.Background(), syncReq(group, r.MemberID, r.Generation, a))
			if resp.ErrorCode != 0 {
				t.Errorf("sync %s: %v", r.MemberID, kerr.ErrorForCode(resp.ErrorCode))
			}
			mu.Lock()
			got[r.MemberID] = string(resp.MemberAssignment)
			mu.Unlock()
		})
		if i != 0 {
			waitFor(t, func() bool { return syncWaiting(c, group, r.MemberID) })
		}
	}
	wg.Wait()
	for id, a := range assign {
		if got[id] != a {
			t.Errorf("member %s got assignment %q, want %q", id, got[id], a)
		}
	}
	return got
}

// syncWaiting reports whether memberID is blocked in SyncGroup.
func syncWaiting(c *Coordinator, group, memberID string) bool {
	g := c.entry(group, false)
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.m.members[memberID]
	return ok && m.syncW != 0
}

// waitFor polls cond; the bound only keeps a broken build from hanging.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition never became true")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCoordinatorRebalanceFlow(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) {
		cfg.Registerer = reg
		cfg.RebalanceDelay = 500 * time.Millisecond // every concurrent joiner makes the first generation
	})
	const group = "flow"
	joined := joinTogether(t, c, group, 3, 10*time.Second, "t")
	syncAll(t, c, group, joined)
	gen := joined[0].Generation

	d := c.DescribeGroups(context.Background(), &kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{group}})
	if g := d.Groups[0]; g.State != "Stable" || g.Protocol != "range" || g.ProtocolType != "consumer" || len(g.Members) != 3 {
		t.Fatalf("describe: %+v", g)
	}
	for _, m := range d.Groups[0].Members {
		if string(m.MemberAssignment) != "assignment-of-"+m.MemberID || len(m.ProtocolMetadata) == 0 {
			t.Fatalf("describe member %s: assignment %q metadata %d bytes", m.MemberID, m.MemberAssignment, len(m.ProtocolMetadata))
		}
	}
	if got := testutil.ToFloat64(c.met.members.WithLabelValues(group)); got != 3 {
		t.Fatalf("members gauge %v, want 3", got)
	}

	// One member leaves: the others hear about the rebalance through their heartbeats.
	leaver := joined[2]
	lr := c.LeaveGroup(context.Background(), &kmsg.LeaveGroupRequest{Version: 5, Group: group,
		Members: []kmsg.LeaveGroupRequestMember{{MemberID: leaver.MemberID}, {MemberID: "nobody"}}})
	if lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr)
	}
	for _, r := range joined[:2] {
		if code := heartbeat(c, group, r.MemberID, gen); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat after leave: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
		}
	}
	if code := heartbeat(c, group, leaver.MemberID, gen); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of the member that left: %v", kerr.ErrorForCode(code))
	}

	// The rest rejoin with their ids and get the next generation.
	var wg sync.WaitGroup
	var rejoined [2]*kmsg.JoinGroupResponse
	for i, r := range joined[:2] {
		wg.Go(func() {
			rejoined[i] = c.JoinGroup(context.Background(), joinReq(group, r.MemberID, 10*time.Second, "t"))
		})
	}
	wg.Wait()
	for _, r := range rejoined {
		if r.ErrorCode != 0 || r.Generation != gen+1 {
			t.Fatalf("rejoin: code %d generation %d, want generation %d", r.ErrorCode, r.Generation, gen+1)
		}
	}
	if rejoined[0].LeaderID != joined[0].MemberID {
		t.Fatalf("leader changed from %s to %s though it rejoined", joined[0].MemberID, rejoined[0].LeaderID)
	}
	if got := testutil.ToFloat64(c.met.rebalances); got != 2 {
		t.Fatalf("rebalances %v, want 2", got)
	}
}

func TestCoordinatorSessionExpiry(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) { cfg.RebalanceDelay = 500 * time.Millisecond })
	const group = "expiry"
	// Two members with different session timeouts; only the long one keeps heartbeating.
	var wg sync.WaitGroup
	var long, short *kmsg.JoinGroupResponse
	wg.Go(func() { long = join(t, c, group, 20*time.Second) })
	wg.Go(func() { short = join(t, c, group, time.Second) })
	wg.Wait()
	if long.ErrorCode != 0 || short.ErrorCode != 0 {
		t.Fatalf("join: %d %d", long.ErrorCode, short.ErrorCode)
	}
	leader := long
	if short.LeaderID == short.MemberID {
		leader = short
	}
	joined := []*kmsg.JoinGroupResponse{leader}
	if leader == long {
		joined = append(joined, short)
	} else {
		joined = append(joined, long)
	}
	syncAll(t, c, group, joined)
	waitFor(t, func() bool {
		return heartbeat(c, group, long.MemberID, long.Generation) == kerr.RebalanceInProgress.Code
	})
	if code := heartbeat(c, group, short.MemberID, short.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member's heartbeat: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	r := c.JoinGroup(context.Background(), joinReq(group, long.MemberID, 20*time.Second))
	if r.ErrorCode != 0 || len(r.Members) != 1 || r.LeaderID != long.MemberID {
		t.Fatalf("rejoin alone: code %d members %d leader %s", r.ErrorCode, len(r.Members), r.LeaderID)
	}
}

func TestCoordinatorCloseReleasesWaiters(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) { cfg.RebalanceDelay = time.Hour })
	first := c.JoinGroup(context.Background(), joinReq("g", "", time.Second))
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- c.JoinGroup(context.Background(), joinReq("g", first.MemberID, time.Second)) }()
	waitFor(t, func() bool {
		g := c.entry("g", false)
		if g == nil {
			return false
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.waiters) == 1
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("blocked join after Close: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.ErrorCode))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if r := c.JoinGroup(context.Background(), joinReq("g", "", time.Second)); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("join after Close: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestCoordinatorJoinContextCancel(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) { cfg.RebalanceDelay = time.Hour })
	first := c.JoinGroup(context.Background(), joinReq("g", "", time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *kmsg.JoinGroupResponse)
	go func() { done <- c.JoinGroup(ctx, joinReq("g", first.MemberID, time.Second)) }()
	waitFor(t, func() bool { return c.entry("g", false) != nil })
	cancel()
	if r := <-done; r.ErrorCode == 0 {
		t.Fatal("join with a cancelled context reported success")
	}
}

func TestNotCoordinator(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) {
		cfg.IsCoordinator = func(g string) bool { return g != "elsewhere" }
	})
	ctx := context.Background()
	nc := kerr.NotCoordinator.Code
	if r := c.JoinGroup(ctx, joinReq("elsewhere", "", time.Second)); r.ErrorCode != nc {
		t.Errorf("join: %d", r.ErrorCode)
	}
	if code := heartbeat(c, "elsewhere", "m", 1); code != nc {
		t.Errorf("heartbeat: %d", code)
	}
	oc := c.OffsetCommit(ctx, commitReq(8, "elsewhere", -1, "", "t", 0, 5))
	if oc.Topics[0].Partitions[0].ErrorCode != nc {
		t.Errorf("commit: %+v", oc)
	}
	of := c.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{{Group: "elsewhere"}, {Group: "here"}}})
	if of.Groups[0].ErrorCode != nc || of.Groups[1].ErrorCode != 0 {
		t.Errorf("fetch: %+v", of.Groups)
	}
	if r := c.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 1, Group: "elsewhere", Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}}); r.Topics[0].Partitions[0].ErrorCode != nc {
		t.Errorf("fetch v1: %+v", r.Topics)
	}
	d := c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"elsewhere"}})
	if d.Groups[0].ErrorCode != nc {
		t.Errorf("describe: %+v", d.Groups[0])
	}

	var none *Coordinator
	if r := none.JoinGroup(ctx, joinReq("g", "", time.Second)); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("nil coordinator join: %d", r.ErrorCode)
	}
	if r := none.ListGroups(ctx, &kmsg.ListGroupsRequest{}); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("nil coordinator list: %d", r.ErrorCode)
	}
	if _, err := none.Committed(ctx, "g"); err == nil {
		t.Error("nil coordinator Committed: no error")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"no store", Config{}, false},
		{"defaults", Config{Store: storeFactories["memmeta"](t)}, true},
		{"min above max", Config{Store: storeFactories["memmeta"](t), MinSessionTimeout: time.Minute, MaxSessionTimeout: time.Second}, false},
		{"negative metadata bound", Config{Store: storeFactories["memmeta"](t), OffsetMetadataMaxBytes: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v, want ok=%v", err, tc.ok)
			}
			_ = c.Close()
		})
	}
}

func TestRejectedJoinLeavesNoGroup(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), nil)
	r := c.JoinGroup(context.Background(), joinReq("junk", "", time.Millisecond))
	if r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if l := c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{}); len(l.Groups) != 0 {
		t.Fatalf("a rejected join left groups behind: %+v", l.Groups)
	}
	// A MEMBER_ID_REQUIRED answer keeps the group: the member is expected back.
	r = c.JoinGroup(context.Background(), joinReq("kept", "", time.Second))
	if r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if l := c.ListGroups(context.Background(), &kmsg.ListGroupsRequest{}); len(l.Groups) != 1 {
		t.Fatalf("groups after MEMBER_ID_REQUIRED: %+v", l.Groups)
	}
}

// TestCoordinatorMove: when this node stops coordinating a group, blocked members are told
// NOT_COORDINATOR, and the next coordinator serves the committed offsets from the shared store.
func TestCoordinatorMove(t *testing.T) {
	forEachStore(t, func(t *testing.T, store metadata.Store) {
		ctx := context.Background()
		createTopic(t, store, "t", 1)
		var mine atomic.Bool
		mine.Store(true)
		c := newTestCoordinator(t, store, func(cfg *Config) { cfg.IsCoordinator = func(string) bool { return mine.Load() } })
		r := join(t, c, "g", 10*time.Second, "t")
		syncAll(t, c, "g", []*kmsg.JoinGroupResponse{r})
		if code := commitCode(t, c.OffsetCommit(ctx, commitReq(8, "g", r.Generation, r.MemberID, "t", 0, 5))); code != 0 {
			t.Fatalf("commit: %v", kerr.ErrorForCode(code))
		}
		// A second member is blocked in a rebalance when the group moves away.
		second := c.JoinGroup(ctx, joinReq("g", "", 10*time.Second, "t"))
		blocked := make(chan *kmsg.JoinGroupResponse)
		go func() { blocked <- c.JoinGroup(ctx, joinReq("g", second.MemberID, 10*time.Second, "t")) }()
		waitFor(t, func() bool { return heartbeat(c, "g", r.MemberID, r.Generation) == kerr.RebalanceInProgress.Code })
		mine.Store(false)
		if got := <-blocked; got.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("blocked join after the move: %v, want NOT_COORDINATOR", kerr.ErrorForCode(got.ErrorCode))
		}
		if code := heartbeat(c, "g", r.MemberID, r.Generation); code != kerr.NotCoordinator.Code {
			t.Fatalf("heartbeat after the move: %v", kerr.ErrorForCode(code))
		}

		next := newTestCoordinator(t, store, nil)
		if code := heartbeat(next, "g", r.MemberID, r.Generation); code != kerr.UnknownMemberID.Code {
			t.Fatalf("heartbeat at the new coordinator: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
		}
		if code := commitCode(t, next.OffsetCommit(ctx, commitReq(8, "g", r.Generation, r.MemberID, "t", 0, 6))); code != kerr.IllegalGeneration.Code {
			t.Fatalf("commit by a member of the old coordinator: %v, want ILLEGAL_GENERATION", kerr.ErrorForCode(code))
		}
		got, err := next.Committed(ctx, "g")
		if err != nil || got[metadata.TopicPartition{Topic: "t"}] != 5 {
			t.Fatalf("offsets at the new coordinator: %v %v", got, err)
		}
	})
}
