package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sync handles SyncGroup. The response goes to w, now or when the leader's assignment arrives.
func (m *machine) sync(now time.Time, req *kmsg.SyncGroupRequest, w waiter) {
	defer m.advance(now)
	v := req.Version
	fail := func(code int16) { m.out = append(m.out, reply{to: w, sync: syncError(v, code)}) }
	if m.state == StateDead {
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	}
	if code := m.validateMember(req.MemberID, req.InstanceID); code != 0 {
		fail(code)
		return
	}
	if req.Generation != m.generation {
		fail(kerr.IllegalGeneration.Code)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != m.protocolType) ||
		(req.Protocol != nil && *req.Protocol != m.protocol) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	mem := m.members[req.MemberID]
	switch m.state {
	case StatePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case StateCompletingRebalance:
		if mem.syncW != 0 && mem.syncW != w {
			m.out = append(m.out, reply{to: mem.syncW, sync: syncError(mem.syncVersion, kerr.RebalanceInProgress.Code)})
		}
		mem.syncW, mem.syncVersion = w, v
		delete(m.awaitingSync, mem.id)
		if mem.id != m.leader {
			return
		}
		for _, a := range req.GroupAssignment {
			if o, ok := m.members[a.MemberID]; ok {
				o.assignment = a.MemberAssignment
			}
		}
		m.state = StateStable
		for _, o := range m.members {
			if o.syncW != 0 {
				m.out = append(m.out, reply{to: o.syncW, sync: m.syncResponse(o.syncVersion, o)})
				o.syncW = 0
				o.expires = now.Add(o.session)
			}
		}
	case StateStable:
		delete(m.awaitingSync, mem.id)
		mem.expires = now.Add(mem.session)
		m.out = append(m.out, reply{to: w, sync: m.syncResponse(v, mem)})
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}

func (m *machine) syncResponse(version int16, mem *member) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	pt, proto := m.protocolType, m.protocol
	r.ProtocolType, r.Protocol = &pt, &proto
	r.MemberAssignment = mem.assignment
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	return r
}

// heartbeat handles Heartbeat and returns its error code.
func (m *machine) heartbeat(now time.Time, req *kmsg.HeartbeatRequest) int16 {
	defer m.advance(now)
	if m.state == StateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if code := m.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != m.generation {
		return kerr.IllegalGeneration.Code
	}
	mem := m.members[req.MemberID]
	switch m.state {
	case StatePreparingRebalance:
		mem.expires = now.Add(mem.session)
		return kerr.RebalanceInProgress.Code
	case StateCompletingRebalance, StateStable:
		mem.expires = now.Add(mem.session)
		return 0
	default:
		return kerr.UnknownMemberID.Code
	}
}

// leaveMember is one member named by LeaveGroup.
type leaveMember struct {
	memberID   string
	instanceID *string
}

// leave handles LeaveGroup and returns one error code per member.
func (m *machine) leave(now time.Time, who []leaveMember) []int16 {
	defer m.advance(now)
	codes := make([]int16, len(who))
	for i, l := range who {
		if m.state == StateDead {
			codes[i] = kerr.CoordinatorNotAvailable.Code
			continue
		}
		if l.instanceID != nil {
			cur, ok := m.statics[*l.instanceID]
			switch {
			case !ok:
				codes[i] = kerr.UnknownMemberID.Code
			case l.memberID != "" && l.memberID != cur:
				codes[i] = kerr.FencedInstanceID.Code
			default:
				m.removeMember(now, cur)
			}
			continue
		}
		if _, ok := m.pending[l.memberID]; ok {
			delete(m.pending, l.memberID)
			continue
		}
		if _, ok := m.members[l.memberID]; !ok {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		m.removeMember(now, l.memberID)
	}
	return codes
}

// validateCommit is Kafka's classic-group OffsetCommit check. A commit by a member counts as a
// heartbeat.
func (m *machine) validateCommit(now time.Time, generation int32, memberID string, instanceID *string) int16 {
	switch {
	case m.state == StateDead:
		return kerr.CoordinatorNotAvailable.Code
	case generation < 0 && memberID == "" && instanceID == nil:
		// A consumer that assigns partitions itself, or an admin tool: only while nobody is a
		// member.
		if m.state != StateEmpty {
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	if code := m.validateMember(memberID, instanceID); code != 0 {
		return code
	}
	if generation != m.generation {
		return kerr.IllegalGeneration.Code
	}
	if m.state == StateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	if mem, ok := m.members[memberID]; ok {
		mem.expires = now.Add(mem.session)
	}
	return 0
}

// advance applies every deadline that has passed at now and completes what can complete.
func (m *machine) advance(now time.Time) {
	if m.state == StateDead {
		return
	}
	for id, exp := range m.pending {
		if !now.Before(exp) {
			delete(m.pending, id)
		}
	}
	for id, mem := range m.members {
		if mem.joinW == 0 && mem.syncW == 0 && !now.Before(mem.expires) {
			m.removeMember(now, id)
		}
	}
	switch m.state {
	case StatePreparingRebalance:
		if m.initialDelay {
			// Kafka's InitialDelayedJoin: a newcomer during a delay buys one more delay, within
			// the rebalance timeout.
			for len(m.members) > 0 && !now.Before(m.delayUntil) && m.newMemberSeen && m.delayUntil.Before(m.delayCap) {
				m.newMemberSeen = false
				m.delayUntil = minTime(m.delayUntil.Add(m.p.initialDelay), m.delayCap)
			}
			if len(m.members) > 0 && now.Before(m.delayUntil) {
				return
			}
			m.completeJoin(now)
			return
		}
		if m.allJoined() || !now.Before(m.joinDeadline) {
			m.completeJoin(now)
		}
	case StateCompletingRebalance, StateStable:
		if len(m.awaitingSync) > 0 && !now.Before(m.syncDeadline) {
			// Members that never asked for their assignment are gone; start over without them.
			for id := range m.awaitingSync {
				m.removeMember(now, id)
			}
			m.advance(now)
		}
	}
}

func (m *machine) allJoined() bool {
	if len(m.pending) > 0 {
		return false
	}
	for _, mem := range m.members {
		if mem.joinW == 0 {
			return false
		}
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// nextDeadline is the earliest time at which advance would change something; zero if none.
func (m *machine) nextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if m.state == StateDead {
		return next
	}
	for _, exp := range m.pending {
		consider(exp)
	}
	for _, mem := range m.members {
		if mem.joinW == 0 && mem.syncW == 0 {
			consider(mem.expires)
		}
	}
	switch m.state {
	case StatePreparingRebalance:
		if m.initialDelay {
			consider(m.delayUntil)
		} else {
			consider(m.joinDeadline)
		}
	case StateCompletingRebalance, StateStable:
		if len(m.awaitingSync) > 0 {
			consider(m.syncDeadline)
		}
	}
	return next
}

// kill marks the group Dead and fails every blocked request with code.
func (m *machine) kill(code int16) {
	for _, mem := range m.members {
		if mem.joinW != 0 {
			m.replyJoinErr(mem.joinW, mem.joinVersion, code, mem.id)
			mem.joinW = 0
		}
		if mem.syncW != 0 {
			m.out = append(m.out, reply{to: mem.syncW, sync: syncError(mem.syncVersion, code)})
			mem.syncW = 0
		}
	}
	m.state = StateDead
}

// describe is Kafka's group summary: member metadata and assignments only once Stable.
func (m *machine) describe() kmsg.DescribeGroupsResponseGroup {
	g := kmsg.NewDescribeGroupsResponseGroup()
	g.State = m.state.String()
	g.ProtocolType = m.protocolType
	stable := m.state == StateStable
	if stable {
		g.Protocol = m.protocol
	}
	for _, mem := range m.byJoinOrder() {
		d := kmsg.NewDescribeGroupsResponseGroupMember()
		d.MemberID = mem.id
		d.InstanceID = mem.instanceID
		d.ClientID = mem.client.clientID
		d.ClientHost = mem.client.clientHost
		d.ProtocolMetadata, d.MemberAssignment = []byte{}, []byte{}
		if stable {
			d.ProtocolMetadata = protocolMetadata(mem.protocols, m.protocol)
			if mem.assignment != nil {
				d.MemberAssignment = mem.assignment
			}
		}
		g.Members = append(g.Members, d)
	}
	return g
}

// subscribed reports whether a member of a non-empty "consumer" group subscribes to topic. When
// a member's metadata cannot be read the answer is conservatively true.
func (m *machine) subscribed(topic string) bool {
	for _, mem := range m.members {
		raw := protocolMetadata(mem.protocols, m.protocol)
		if m.protocol == "" {
			raw = nil
			if len(mem.protocols) > 0 {
				raw = mem.protocols[0].Metadata
			}
		}
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(raw); err != nil {
			return true
		}
		for _, t := range meta.Topics {
			if t == topic {
				return true
			}
		}
	}
	return false
}
