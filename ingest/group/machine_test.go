package group

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A step is one input to the machine at a point in time, and what must come out of it.
type step struct {
	at      time.Duration // clock since the scenario started
	op      string        // join, sync, heartbeat, leave, commit, tick
	who     string        // the member's name in the scenario; its member id is learnt from replies
	inst    string        // group.instance.id, when static
	staleID string        // send this name's previous member id instead of the current one
	gen     int32         // generation for sync/heartbeat/commit; genCurrent means the machine's
	version int16         // request version; 0 means the newest
	protos  []string      // join protocols (metadata = "<who>:<name>"); default {"range"}
	assign  map[string]string

	// want lists every reply delivered by this step, by member name: for join/sync the error code
	// of a response to a blocked or immediate request; heartbeat/leave/commit add their own code.
	want     map[string]int16
	state    string            // group state after the step, if set
	gen2     int32             // generation after the step, if non-zero
	leader   string            // leader's name after the step, if set
	protocol string            // selected protocol after the step, if set
	members  int               // number of members in the leader's join response, if non-zero
	assigned map[string]string // assignments in sync replies of this step
}

const genCurrent = -100

type harness struct {
	t       *testing.T
	m       *machine
	start   time.Time
	ids     map[string]string // name → current member id
	old     map[string]string // name → previous member id
	waiters map[waiter]string
	next    waiter
	seq     int
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, start: time.Unix(1_700_000_000, 0), ids: map[string]string{}, old: map[string]string{}, waiters: map[waiter]string{}}
	h.m = newMachine(params{
		initialDelay: 300 * time.Millisecond,
		minSession:   time.Second,
		maxSession:   time.Minute,
		maxSize:      10,
		newID: func(prefix string) string {
			h.seq++
			return fmt.Sprintf("%s-%d", prefix, h.seq)
		},
	})
	return h
}

func (h *harness) wait(name string) waiter {
	h.next++
	h.waiters[h.next] = name
	return h.next
}

func (h *harness) setID(name, id string) {
	if cur, ok := h.ids[name]; ok && cur != id {
		h.old[name] = cur
	}
	h.ids[name] = id
}

func (h *harness) nameOf(id string) string {
	for n, i := range h.ids {
		if i == id {
			return n
		}
	}
	return "?" + id
}

func (h *harness) run(i int, s step) {
	t := h.t
	now := h.start.Add(s.at)
	v := s.version
	id := h.ids[s.who]
	if s.staleID != "" {
		id = h.old[s.staleID]
	}
	var inst *string
	if s.inst != "" {
		inst = kmsg.StringPtr(s.inst)
	}
	gen := s.gen
	if gen == genCurrent {
		gen = h.m.generation
	}
	got := map[string]int16{}
	switch s.op {
	case "join":
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = cmpOr(v, 9)
		req.Group, req.MemberID, req.InstanceID = "g", id, inst
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 20_000
		req.ProtocolType = "consumer"
		for _, p := range cmpOrSlice(s.protos, []string{"range"}) {
			req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte(s.who + ":" + p)})
		}
		h.m.join(now, req, clientInfo{clientID: s.who}, h.wait(s.who))
	case "sync":
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = cmpOr(v, 5)
		req.Group, req.MemberID, req.InstanceID, req.Generation = "g", id, inst, gen
		for _, n := range slices.Sorted(maps.Keys(s.assign)) {
			req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: h.ids[n], MemberAssignment: []byte(s.assign[n])})
		}
		h.m.sync(now, req, h.wait(s.who))
	case "heartbeat":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = cmpOr(v, 4)
		req.Group, req.MemberID, req.InstanceID, req.Generation = "g", id, inst, gen
		got[s.who] = h.m.heartbeat(now, req)
	case "leave":
		got[s.who] = h.m.leave(now, []leaveMember{{memberID: id, instanceID: inst}})[0]
	case "commit":
		got[s.who] = h.m.validateCommit(now, gen, id, inst)
	case "tick":
		h.m.advance(now)
	default:
		t.Fatalf("step %d: unknown op %q", i, s.op)
	}
	assigned := map[string]string{}
	for _, r := range h.m.drain() {
		name, ok := h.waiters[r.to]
		if !ok {
			t.Fatalf("step %d: reply to unknown waiter %d", i, r.to)
		}
		delete(h.waiters, r.to)
		if _, dup := got[name]; dup {
			t.Fatalf("step %d: two replies for %s", i, name)
		}
		switch {
		case r.join != nil:
			got[name] = r.join.ErrorCode
			if r.join.MemberID != "" {
				h.setID(name, r.join.MemberID)
			}
			if s.members != 0 && r.join.LeaderID == r.join.MemberID && r.join.ErrorCode == 0 && len(r.join.Members) != s.members {
				t.Errorf("step %d: leader %s got %d members, want %d", i, name, len(r.join.Members), s.members)
			}
		case r.sync != nil:
			got[name] = r.sync.ErrorCode
			if r.sync.ErrorCode == 0 {
				assigned[name] = string(r.sync.MemberAssignment)
			}
		}
	}
	if !maps.Equal(got, s.want) && !(len(got) == 0 && len(s.want) == 0) {
		t.Errorf("step %d (%s %s): replies %v, want %v", i, s.op, s.who, codes(got), codes(s.want))
	}
	if s.assigned != nil && !maps.Equal(assigned, s.assigned) {
		t.Errorf("step %d: assignments %v, want %v", i, assigned, s.assigned)
	}
	if s.state != "" && h.m.state.String() != s.state {
		t.Errorf("step %d: state %s, want %s", i, h.m.state, s.state)
	}
	if s.gen2 != 0 && h.m.generation != s.gen2 {
		t.Errorf("step %d: generation %d, want %d", i, h.m.generation, s.gen2)
	}
	if s.leader != "" && h.nameOf(h.m.leader) != s.leader {
		t.Errorf("step %d: leader %s, want %s", i, h.nameOf(h.m.leader), s.leader)
	}
	if s.protocol != "" && h.m.protocol != s.protocol {
		t.Errorf("step %d: protocol %q, want %q", i, h.m.protocol, s.protocol)
	}
}

func codes(m map[string]int16) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := "NONE"
		if e := kerr.ErrorForCode(m[k]); e != nil {
			name = e.(*kerr.Error).Message
		}
		parts = append(parts, k+":"+name)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func cmpOr(v, def int16) int16 {
	if v == 0 {
		return def
	}
	return v
}

func cmpOrSlice(v, def []string) []string {
	if v == nil {
		return def
	}
	return v
}

var (
	ok        = int16(0)
	idReq     = kerr.MemberIDRequired.Code
	rebalance = kerr.RebalanceInProgress.Code
	unknown   = kerr.UnknownMemberID.Code
	illegal   = kerr.IllegalGeneration.Code
	fenced    = kerr.FencedInstanceID.Code
)

func w(kv ...any) map[string]int16 {
	m := map[string]int16{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(int16)
	}
	return m
}

// stableAB brings members a (leader) and b to a Stable generation 1 with v3 joins (no
// MEMBER_ID_REQUIRED round trip). It ends at 1s.
var stableAB = []step{
	{at: 0, op: "join", who: "a", version: 3, want: w(), state: "PreparingRebalance"},
	{at: 100 * time.Millisecond, op: "join", who: "b", version: 3, want: w()},
	{at: 300 * time.Millisecond, op: "tick", want: w(), state: "PreparingRebalance"}, // b bought one more delay
	{at: 600 * time.Millisecond, op: "tick", want: w("a", ok, "b", ok), state: "CompletingRebalance", gen2: 1, leader: "a", members: 2},
	{at: 700 * time.Millisecond, op: "sync", who: "b", gen: 1, want: w()},
	{at: time.Second, op: "sync", who: "a", gen: 1, assign: map[string]string{"a": "A", "b": "B"},
		want: w("a", ok, "b", ok), state: "Stable", assigned: map[string]string{"a": "A", "b": "B"}},
}

func then(base []step, more ...step) []step { return append(slices.Clone(base), more...) }

func TestMachine(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"member id required, initial delay, stable", []step{
			{op: "join", who: "a", want: w("a", idReq), state: "Empty"},
			{at: 10 * time.Millisecond, op: "join", who: "a", want: w(), state: "PreparingRebalance"},
			{at: 200 * time.Millisecond, op: "tick", want: w()},
			{at: 310 * time.Millisecond, op: "tick", want: w("a", ok), state: "CompletingRebalance", gen2: 1, leader: "a", members: 1, protocol: "range"},
			{at: 400 * time.Millisecond, op: "heartbeat", who: "a", gen: 1, want: w("a", ok)},
			{at: 500 * time.Millisecond, op: "sync", who: "a", gen: 1, assign: map[string]string{"a": "x"}, want: w("a", ok), state: "Stable", assigned: map[string]string{"a": "x"}},
		}},
		{"two members share the first generation", stableAB},
		{"new member: heartbeats answer REBALANCE_IN_PROGRESS until all rejoin", then(stableAB,
			step{at: 2 * s, op: "join", who: "c", version: 3, want: w(), state: "PreparingRebalance"},
			step{at: 3 * s, op: "heartbeat", who: "a", gen: 1, want: w("a", rebalance)},
			step{at: 3 * s, op: "heartbeat", who: "b", gen: 1, want: w("b", rebalance)},
			step{at: 4 * s, op: "join", who: "a", version: 3, want: w()},
			step{at: 5 * s, op: "join", who: "b", version: 3, want: w("a", ok, "b", ok, "c", ok), state: "CompletingRebalance", gen2: 2, leader: "a", members: 3},
			step{at: 6 * s, op: "heartbeat", who: "c", gen: 1, want: w("c", illegal)},
			step{at: 6 * s, op: "sync", who: "a", gen: 1, want: w("a", illegal)},
		)},
		{"session timeout removes a member and rebalances", then(stableAB,
			step{at: 8 * s, op: "heartbeat", who: "a", gen: 1, want: w("a", ok)},
			step{at: 11*s - time.Millisecond, op: "tick", want: w(), state: "Stable"},
			step{at: 11 * s, op: "tick", want: w(), state: "PreparingRebalance"}, // b last seen at 1s
			step{at: 11 * s, op: "heartbeat", who: "b", gen: 1, want: w("b", unknown)},
			step{at: 12 * s, op: "join", who: "a", version: 3, want: w("a", ok), state: "CompletingRebalance", gen2: 2, members: 1},
		)},
		{"rebalance timeout drops members that do not rejoin", then(stableAB,
			step{at: 2 * s, op: "join", who: "a", version: 3, want: w(), state: "PreparingRebalance"}, // the leader rejoins
			step{at: 9 * s, op: "heartbeat", who: "b", gen: 1, want: w("b", rebalance)},
			step{at: 18 * s, op: "heartbeat", who: "b", gen: 1, want: w("b", rebalance)},
			step{at: 22*s - time.Millisecond, op: "tick", want: w(), state: "PreparingRebalance"},
			step{at: 22 * s, op: "tick", want: w("a", ok), state: "CompletingRebalance", gen2: 2, members: 1},
			step{at: 23 * s, op: "heartbeat", who: "b", gen: 1, want: w("b", unknown)},
		)},
		{"follower rejoining unchanged gets the current generation", then(stableAB,
			step{at: 2 * s, op: "join", who: "b", version: 3, want: w("b", ok), state: "Stable", gen2: 1},
			step{at: 2 * s, op: "sync", who: "b", gen: 1, want: w("b", ok), assigned: map[string]string{"b": "B"}},
		)},
		{"follower rejoining with new metadata rebalances", then(stableAB,
			step{at: 2 * s, op: "join", who: "b", version: 3, protos: []string{"range", "sticky"}, want: w(), state: "PreparingRebalance"},
			step{at: 3 * s, op: "join", who: "a", version: 3, want: w("a", ok, "b", ok), gen2: 2, protocol: "range"},
		)},
		{"sync timeout removes members that never sync", []step{
			{op: "join", who: "a", version: 3, want: w()},
			{at: 10 * time.Millisecond, op: "join", who: "b", version: 3, want: w()},
			{at: 600 * time.Millisecond, op: "tick", want: w("a", ok, "b", ok), state: "CompletingRebalance", gen2: 1},
			{at: time.Second, op: "sync", who: "a", gen: 1, assign: map[string]string{"a": "A", "b": "B"}, want: w("a", ok), state: "Stable"},
			{at: 9 * time.Second, op: "heartbeat", who: "a", gen: 1, want: w("a", ok)},
			{at: 9 * time.Second, op: "heartbeat", who: "b", gen: 1, want: w("b", ok)}, // heartbeats do not count as sync
			{at: 18 * time.Second, op: "heartbeat", who: "a", gen: 1, want: w("a", ok)},
			{at: 18 * time.Second, op: "heartbeat", who: "b", gen: 1, want: w("b", ok)},
			{at: 20*time.Second + 599*time.Millisecond, op: "tick", want: w(), state: "Stable"},
			{at: 20*time.Second + 600*time.Millisecond, op: "tick", want: w(), state: "PreparingRebalance"},
			{at: 21 * time.Second, op: "heartbeat", who: "b", gen: 1, want: w("b", unknown)},
		}},
		{"leaves: rebalance, then empty", then(stableAB,
			step{at: 2 * s, op: "leave", who: "b", want: w("b", ok), state: "PreparingRebalance"},
			step{at: 2 * s, op: "leave", who: "b", want: w("b", unknown)},
			step{at: 3 * s, op: "join", who: "a", version: 3, want: w("a", ok), gen2: 2, state: "CompletingRebalance"},
			step{at: 4 * s, op: "leave", who: "a", want: w("a", ok), state: "Empty", gen2: 3},
			step{at: 5 * s, op: "heartbeat", who: "a", gen: 3, want: w("a", unknown)},
		)},
		{"leader leaving while followers wait for sync", []step{
			{op: "join", who: "a", version: 3, want: w()},
			{at: 10 * time.Millisecond, op: "join", who: "b", version: 3, want: w()},
			{at: 600 * time.Millisecond, op: "tick", want: w("a", ok, "b", ok), state: "CompletingRebalance", leader: "a"},
			{at: 700 * time.Millisecond, op: "sync", who: "b", gen: 1, want: w()},
			{at: 800 * time.Millisecond, op: "leave", who: "a", want: w("a", ok, "b", rebalance), state: "PreparingRebalance", leader: "b"},
			{at: 900 * time.Millisecond, op: "join", who: "b", version: 3, want: w("b", ok), gen2: 2, leader: "b", members: 1},
		}},
		{"a member id handed out but never used holds the rebalance only until its session ends", then(stableAB,
			step{at: 2 * s, op: "join", who: "c", want: w("c", idReq), state: "Stable"},
			step{at: 3 * s, op: "join", who: "a", version: 3, want: w(), state: "PreparingRebalance"},
			step{at: 4 * s, op: "join", who: "b", version: 3, want: w(), state: "PreparingRebalance"},
			step{at: 12*s - time.Millisecond, op: "tick", want: w(), state: "PreparingRebalance"},
			step{at: 12 * s, op: "tick", want: w("a", ok, "b", ok), state: "CompletingRebalance", gen2: 2, members: 2},
			step{at: 13 * s, op: "join", who: "c", want: w("c", unknown)},
		)},
		{"generation and member checks", then(stableAB,
			step{at: 2 * s, op: "heartbeat", who: "a", gen: 7, want: w("a", illegal)},
			step{at: 2 * s, op: "heartbeat", who: "zz", gen: 1, want: w("zz", unknown)},
			step{at: 2 * s, op: "sync", who: "b", gen: 0, want: w("b", illegal)},
			step{at: 2 * s, op: "sync", who: "zz", gen: 1, want: w("zz", unknown)},
			step{at: 2 * s, op: "join", who: "zz", version: 3, protos: []string{"roundrobin"}, want: w("zz", kerr.InconsistentGroupProtocol.Code)},
		)},
		{"offset commit rules", []step{
			{op: "commit", who: "x", gen: -1, want: w("x", ok)}, // simple consumer, empty group
			{op: "join", who: "a", version: 3, want: w()},
			{op: "commit", who: "x", gen: -1, want: w("x", unknown)}, // group has members now
			{at: 300 * time.Millisecond, op: "tick", want: w("a", ok), state: "CompletingRebalance"},
			{at: 400 * time.Millisecond, op: "commit", who: "a", gen: 1, want: w("a", rebalance)},
			{at: 500 * time.Millisecond, op: "sync", who: "a", gen: 1, want: w("a", ok)},
			{at: 600 * time.Millisecond, op: "commit", who: "a", gen: 1, want: w("a", ok)},
			{at: 600 * time.Millisecond, op: "commit", who: "a", gen: 2, want: w("a", illegal)},
			{at: 600 * time.Millisecond, op: "commit", who: "zz", gen: 1, want: w("zz", unknown)},
		}},
		{"protocol chosen by vote among common protocols", []step{
			{op: "join", who: "a", version: 3, protos: []string{"range", "roundrobin", "sticky"}, want: w()},
			{op: "join", who: "b", version: 3, protos: []string{"roundrobin", "range"}, want: w()},
			{op: "join", who: "c", version: 3, protos: []string{"roundrobin", "range"}, want: w()},
			{at: 600 * time.Millisecond, op: "tick", want: w("a", ok, "b", ok, "c", ok), protocol: "roundrobin", members: 3},
		}},
		{"static member rejoins without a rebalance and fences its old id", []step{
			{op: "join", who: "s", inst: "i1", want: w(), state: "PreparingRebalance"}, // static: no MEMBER_ID_REQUIRED
			{at: 10 * time.Millisecond, op: "join", who: "b", version: 3, want: w()},
			{at: 600 * time.Millisecond, op: "tick", want: w("s", ok, "b", ok), leader: "s"},
			{at: 700 * time.Millisecond, op: "sync", who: "s", inst: "i1", gen: 1, assign: map[string]string{"s": "S", "b": "B"}, want: w("s", ok), state: "Stable"},
			{at: 800 * time.Millisecond, op: "sync", who: "b", gen: 1, want: w("b", ok)},
			// The process restarts: no member id, same instance id, same protocols.
			{at: 2 * s, op: "join", who: "s", staleID: "nobody", inst: "i1", want: w("s", ok), state: "Stable", gen2: 1, leader: "s"},
			{at: 2 * s, op: "heartbeat", who: "s", staleID: "s", inst: "i1", gen: 1, want: w("s", fenced)},
			{at: 2 * s, op: "sync", who: "s", inst: "i1", gen: 1, want: w("s", ok), assigned: map[string]string{"s": "S"}},
			{at: 3 * s, op: "leave", who: "s", staleID: "s", inst: "i1", want: w("s", fenced), state: "Stable"},
			{at: 3 * s, op: "leave", who: "s", inst: "i1", want: w("s", ok), state: "PreparingRebalance"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			for i, st := range tc.steps {
				h.run(i, st)
			}
		})
	}
}

func TestMachineRejectsBadJoins(t *testing.T) {
	tests := []struct {
		name    string
		session int32
		ptype   string
		protos  []string
		want    int16
	}{
		{"session below min", 500, "consumer", []string{"range"}, kerr.InvalidSessionTimeout.Code},
		{"session above max", 120_000, "consumer", []string{"range"}, kerr.InvalidSessionTimeout.Code},
		{"no protocol type", 10_000, "", []string{"range"}, kerr.InconsistentGroupProtocol.Code},
		{"no protocols", 10_000, "consumer", nil, kerr.InconsistentGroupProtocol.Code},
		{"good", 10_000, "consumer", []string{"range"}, kerr.MemberIDRequired.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			req := kmsg.NewPtrJoinGroupRequest()
			req.Version, req.Group, req.SessionTimeoutMillis, req.ProtocolType = 9, "g", tc.session, tc.ptype
			for _, p := range tc.protos {
				req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p})
			}
			h.m.join(h.start, req, clientInfo{}, 1)
			out := h.m.drain()
			if len(out) != 1 || out[0].join == nil || out[0].join.ErrorCode != tc.want {
				t.Fatalf("replies %+v, want one join reply with code %d", out, tc.want)
			}
			if h.m.state != StateEmpty || len(h.m.members) != 0 {
				t.Fatalf("state %s with %d members after a rejected join", h.m.state, len(h.m.members))
			}
		})
	}
}

// TestMachineNextDeadline checks that the driver is woken exactly when something is due.
func TestMachineNextDeadline(t *testing.T) {
	h := newHarness(t)
	for i, s := range stableAB {
		h.run(i, s)
	}
	// Stable: the earliest session expiry (b synced at 1s... a at 1s too; 10s sessions).
	want := h.start.Add(time.Second + 10*time.Second)
	if got := h.m.nextDeadline(); !got.Equal(want) {
		t.Fatalf("next deadline %v, want %v", got.Sub(h.start), want.Sub(h.start))
	}
	h.m.advance(want.Add(-time.Nanosecond))
	if h.m.state != StateStable {
		t.Fatalf("state %s before the deadline", h.m.state)
	}
	h.m.advance(want)
	if h.m.state != StateEmpty {
		t.Fatalf("state %s after both sessions expired, want Empty", h.m.state)
	}
	if got := h.m.nextDeadline(); !got.IsZero() {
		t.Fatalf("empty group still has a deadline at %v", got.Sub(h.start))
	}
}

func TestMachineMaxGroupSize(t *testing.T) {
	h := newHarness(t)
	h.m.p.maxSize = 1
	h.run(0, step{op: "join", who: "a", version: 3, want: w(), state: "PreparingRebalance"})
	h.run(1, step{op: "join", who: "b", version: 3, want: w("b", kerr.GroupMaxSizeReached.Code)})
	h.run(2, step{op: "join", who: "c", want: w("c", kerr.GroupMaxSizeReached.Code)})
	h.run(3, step{at: time.Second, op: "tick", want: w("a", ok), gen2: 1, members: 1})
}
