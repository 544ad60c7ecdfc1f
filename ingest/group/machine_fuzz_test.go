package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzMachine drives the state machine with arbitrary sequences of joins, syncs, heartbeats,
// leaves, commits and clock jumps from four clients, and checks its invariants after every step:
// it never panics, answers every blocked request exactly once, and keeps its indexes consistent.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 0, 9, 0, 0, 9, 0, 1, 3, 4, 0, 8, 1, 0, 0, 1, 1, 0, 2, 0, 0, 3, 1, 0, 4, 0, 250})
	f.Add([]byte{0, 0, 0x19, 0, 1, 0x13, 4, 0, 10, 1, 0, 0, 0, 0, 0x19, 2, 1, 0, 5, 0, 0, 4, 0, 255, 4, 0, 255})
	f.Add([]byte{0, 2, 0x33, 0, 3, 0x53, 4, 0, 12, 3, 2, 0, 0, 3, 0x73, 4, 0, 200, 1, 3, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t)
		now := h.start
		ids := [4]string{}
		outstanding := map[waiter]int{} // waiter → client index
		var next waiter
		for i := 0; i+2 < len(data); i += 3 {
			op, who, arg := data[i]%6, int(data[i+1]%4), data[i+2]
			var inst *string
			if who >= 2 { // clients 2 and 3 are static members
				inst = kmsg.StringPtr(fmt.Sprintf("i%d", who))
			}
			gen := h.m.generation
			if arg&0x80 != 0 {
				gen--
			}
			newWaiter := func() waiter {
				next++
				outstanding[next] = who
				return next
			}
			switch op {
			case 0:
				req := kmsg.NewPtrJoinGroupRequest()
				req.Version = int16(arg % 10)
				req.Group, req.MemberID, req.InstanceID, req.ProtocolType = "g", ids[who], inst, "consumer"
				req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, int32(arg%4)*5_000
				protos := [][]string{{"range"}, {"range", "sticky"}, {"sticky"}}[int(arg>>4)%3]
				for _, p := range protos {
					req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte{arg}})
				}
				h.m.join(now, req, clientInfo{clientID: "c"}, newWaiter())
			case 1:
				req := kmsg.NewPtrSyncGroupRequest()
				req.Version = int16(arg % 6)
				req.Group, req.MemberID, req.InstanceID, req.Generation = "g", ids[who], inst, gen
				for j, id := range ids {
					if id != "" {
						req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte{byte(j)}})
					}
				}
				h.m.sync(now, req, newWaiter())
			case 2:
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.InstanceID, req.Generation = "g", ids[who], inst, gen
				h.m.heartbeat(now, req)
			case 3:
				h.m.leave(now, []leaveMember{{memberID: ids[who], instanceID: inst}})
			case 4:
				now = now.Add(time.Duration(arg) * 100 * time.Millisecond)
				h.m.advance(now)
			case 5:
				h.m.validateCommit(now, gen, ids[who], inst)
			}
			for _, r := range h.m.drain() {
				client, ok := outstanding[r.to]
				if !ok {
					t.Fatalf("step %d: reply to waiter %d which is not waiting", i/3, r.to)
				}
				delete(outstanding, r.to)
				if r.join != nil && r.join.MemberID != "" {
					ids[client] = r.join.MemberID
				}
			}
			checkInvariants(t, h.m, outstanding)
		}
	})
}

func checkInvariants(t *testing.T, m *machine, outstanding map[waiter]int) {
	t.Helper()
	waiting := map[waiter]bool{}
	for id, mem := range m.members {
		if mem.id != id {
			t.Fatalf("member indexed as %s has id %s", id, mem.id)
		}
		for _, w := range []waiter{mem.joinW, mem.syncW} {
			if w == 0 {
				continue
			}
			if _, ok := outstanding[w]; !ok {
				t.Fatalf("member %s holds waiter %d that was already answered", id, w)
			}
			waiting[w] = true
		}
		if mem.instanceID != nil && m.statics[*mem.instanceID] != id {
			t.Fatalf("static member %s not indexed by its instance id", id)
		}
		if mem.syncW != 0 && m.state != StateCompletingRebalance {
			t.Fatalf("member %s waits for an assignment in state %s", id, m.state)
		}
		if mem.joinW != 0 && m.state != StatePreparingRebalance {
			t.Fatalf("member %s waits for a join in state %s", id, m.state)
		}
	}
	for w := range outstanding {
		if !waiting[w] {
			t.Fatalf("waiter %d is neither answered nor held by a member", w)
		}
	}
	for inst, id := range m.statics {
		if _, ok := m.members[id]; !ok {
			t.Fatalf("instance %s maps to missing member %s", inst, id)
		}
	}
	for id := range m.awaitingSync {
		if _, ok := m.members[id]; !ok {
			t.Fatalf("awaiting sync from missing member %s", id)
		}
	}
	switch m.state {
	case StateEmpty:
		if len(m.members) != 0 {
			t.Fatalf("Empty with %d members", len(m.members))
		}
	case StateCompletingRebalance, StateStable:
		if _, ok := m.members[m.leader]; !ok || m.protocol == "" {
			t.Fatalf("%s with leader %q protocol %q", m.state, m.leader, m.protocol)
		}
	}
}
