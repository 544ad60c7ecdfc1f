package group

import (
	"cmp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it on the wire.
type State int8

const (
	StateEmpty State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// waiter names one blocked JoinGroup or SyncGroup request; the driver maps it to a channel.
// Zero means "nobody is waiting".
type waiter uint64

// reply is a response the machine wants delivered to a blocked request.
type reply struct {
	to   waiter
	join *kmsg.JoinGroupResponse
	sync *kmsg.SyncGroupResponse
}

// clientInfo is what DescribeGroups reports about a member's connection.
type clientInfo struct {
	clientID   string
	clientHost string
}

// params are the machine's fixed settings.
type params struct {
	initialDelay time.Duration
	minSession   time.Duration
	maxSession   time.Duration
	maxSize      int
	// newID returns a fresh member id with the given prefix (client id or instance id).
	newID func(prefix string) string
}

type member struct {
	id         string
	instanceID *string
	client     clientInfo
	protocols  []kmsg.JoinGroupRequestProtocol
	session    time.Duration
	rebalance  time.Duration
	expires    time.Time // session deadline, checked only while not waiting in join or sync
	seq        uint64    // join order; the oldest joined member leads when the leader is gone

	joinW       waiter // non-zero while awaiting the join response of a rebalance
	joinVersion int16
	syncW       waiter // non-zero while awaiting the leader's assignment
	syncVersion int16
	assignment  []byte
}

// machine is one classic group. It does no I/O and reads no clock: every input carries now, and
// responses to blocked requests accumulate in out until the driver takes them.
type machine struct {
	p params

	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	statics      map[string]string    // group.instance.id → member id
	pending      map[string]time.Time // ids handed out by MEMBER_ID_REQUIRED → expiry
	seq          uint64

	// PreparingRebalance.
	joinDeadline  time.Time // the rebalance completes at the latest here
	initialDelay  bool      // first rebalance of an empty group: wait until delayUntil
	delayUntil    time.Time
	delayCap      time.Time
	newMemberSeen bool // a member joined during the current initial delay

	// CompletingRebalance and Stable: members that have not sent SyncGroup for this generation.
	awaitingSync map[string]struct{}
	syncDeadline time.Time

	rebalances uint64 // rebalances started, for metrics
	out        []reply
}

func newMachine(p params) *machine {
	return &machine{
		p:       p,
		members: map[string]*member{},
		statics: map[string]string{},
		pending: map[string]time.Time{},
	}
}

// drain returns and forgets the replies produced so far.
func (m *machine) drain() []reply {
	out := m.out
	m.out = nil
	return out
}

func joinError(version int16, code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.Generation = -1
	r.MemberID = memberID
	if version < 7 {
		r.Protocol = new(string)
	}
	return r
}

func syncError(version int16, code int16) *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = version
	r.ErrorCode = code
	return r
}

func (m *machine) replyJoinErr(w waiter, version, code int16, memberID string) {
	m.out = append(m.out, reply{to: w, join: joinError(version, code, memberID)})
}

// validateMember is Kafka's validateCurrentMember: an instance id must map to memberID, and
// memberID must be a member.
func (m *machine) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		cur, ok := m.statics[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case cur != memberID:
			return kerr.FencedInstanceID.Code
		}
		return 0
	}
	if _, ok := m.members[memberID]; !ok {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// supports reports whether a member with these protocols may be in the group.
func (m *machine) supports(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(m.members) == 0 {
		return true
	}
	if protocolType != m.protocolType {
		return false
	}
	for _, p := range protocols {
		if m.supportedByAll(p.Name) {
			return true
		}
	}
	return false
}

func (m *machine) supportedByAll(name string) bool {
	for _, mem := range m.members {
		if !slices.ContainsFunc(mem.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol picks the protocol every member supports that most members list first among
// those candidates; ties go to the oldest member's preference.
func (m *machine) selectProtocol() string {
	ordered := m.byJoinOrder()
	votes := map[string]int{}
	for _, mem := range ordered {
		for _, p := range mem.protocols {
			if m.supportedByAll(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	if len(ordered) > 0 {
		for _, p := range ordered[0].protocols {
			if v, ok := votes[p.Name]; ok && v > bestVotes {
				best, bestVotes = p.Name, v
			}
		}
	}
	return best
}

func (m *machine) byJoinOrder() []*member {
	out := make([]*member, 0, len(m.members))
	for _, mem := range m.members {
		out = append(out, mem)
	}
	slices.SortFunc(out, func(a, b *member) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

func protocolMetadata(protocols []kmsg.JoinGroupRequestProtocol, name string) []byte {
	for _, p := range protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && string(x.Metadata) == string(y.Metadata)
	})
}

func timeouts(req *kmsg.JoinGroupRequest) (session, rebalance time.Duration) {
	session = time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance = session
	if req.Version >= 1 && req.RebalanceTimeoutMillis > 0 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	return session, rebalance
}

// join handles JoinGroup. The response goes to w, now or when the rebalance completes.
func (m *machine) join(now time.Time, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	defer m.advance(now)
	v := req.Version
	session, _ := timeouts(req)
	switch {
	case m.state == StateDead:
		m.replyJoinErr(w, v, kerr.CoordinatorNotAvailable.Code, req.MemberID)
		return
	case session < m.p.minSession || session > m.p.maxSession:
		m.replyJoinErr(w, v, kerr.InvalidSessionTimeout.Code, req.MemberID)
		return
	case !m.supports(req.ProtocolType, req.Protocols):
		m.replyJoinErr(w, v, kerr.InconsistentGroupProtocol.Code, req.MemberID)
		return
	}
	if req.MemberID == "" {
		m.joinNew(now, req, ci, w)
	} else {
		m.joinKnown(now, req, ci, w)
	}
}

func (m *machine) joinNew(now time.Time, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	v := req.Version
	if req.InstanceID != nil {
		if old, ok := m.statics[*req.InstanceID]; ok {
			m.replaceStatic(now, old, req, ci, w)
			return
		}
	}
	if len(m.members)+len(m.pending) >= m.p.maxSize {
		m.replyJoinErr(w, v, kerr.GroupMaxSizeReached.Code, "")
		return
	}
	prefix := ci.clientID
	if req.InstanceID != nil {
		prefix = *req.InstanceID
	}
	id := m.p.newID(prefix)
	if req.InstanceID == nil && v >= 4 {
		// KIP-394: the client must come back with the id, so a lost response cannot leave a
		// phantom member holding up the rebalance.
		session, _ := timeouts(req)
		m.pending[id] = now.Add(session)
		m.replyJoinErr(w, v, kerr.MemberIDRequired.Code, id)
		return
	}
	m.addMember(now, id, req, ci, w)
}

func (m *machine) joinKnown(now time.Time, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	v := req.Version
	id := req.MemberID
	if _, ok := m.pending[id]; ok && req.InstanceID == nil {
		m.addMember(now, id, req, ci, w)
		return
	}
	if code := m.validateMember(id, req.InstanceID); code != 0 {
		m.replyJoinErr(w, v, code, id)
		return
	}
	mem := m.members[id]
	switch m.state {
	case StatePreparingRebalance:
		m.updateMember(mem, req, ci, w)
	case StateCompletingRebalance, StateStable:
		unchanged := sameProtocols(mem.protocols, req.Protocols)
		if unchanged && (m.state == StateCompletingRebalance || id != m.leader) {
			// Nothing changed: hand back the current generation so the member can SyncGroup.
			mem.expires = now.Add(mem.session)
			m.out = append(m.out, reply{to: w, join: m.joinResponse(v, mem, false)})
			return
		}
		m.updateMember(mem, req, ci, w)
		m.prepareRebalance(now)
	default:
		m.replyJoinErr(w, v, kerr.UnknownMemberID.Code, id)
	}
}

// replaceStatic gives a known group.instance.id a new member id, fencing the old one.
func (m *machine) replaceStatic(now time.Time, oldID string, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	old := m.members[oldID]
	if old.joinW != 0 {
		m.replyJoinErr(old.joinW, old.joinVersion, kerr.FencedInstanceID.Code, oldID)
		old.joinW = 0
	}
	if old.syncW != 0 {
		m.out = append(m.out, reply{to: old.syncW, sync: syncError(old.syncVersion, kerr.FencedInstanceID.Code)})
		old.syncW = 0
	}
	id := m.p.newID(*req.InstanceID)
	delete(m.members, oldID)
	old.id = id
	m.members[id] = old
	m.statics[*req.InstanceID] = id
	if m.leader == oldID {
		m.leader = id
	}
	if _, ok := m.awaitingSync[oldID]; ok {
		delete(m.awaitingSync, oldID)
		m.awaitingSync[id] = struct{}{}
	}
	if m.state == StateStable && sameProtocols(old.protocols, req.Protocols) {
		old.session, old.rebalance = timeouts(req)
		old.client = ci
		old.expires = now.Add(old.session)
		isLeader := id == m.leader
		resp := m.joinResponse(req.Version, old, isLeader)
		// The leader must not run the assignor again (KIP-814); older clients that cannot
		// read SkipAssignment still only get their stored assignment from SyncGroup.
		resp.SkipAssignment = isLeader
		m.out = append(m.out, reply{to: w, join: resp})
		return
	}
	m.updateMember(old, req, ci, w)
	if m.state != StatePreparingRebalance {
		m.prepareRebalance(now)
	}
}

func (m *machine) addMember(now time.Time, id string, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	delete(m.pending, id)
	m.seq++
	mem := &member{id: id, instanceID: req.InstanceID, seq: m.seq}
	m.updateMember(mem, req, ci, w)
	if len(m.members) == 0 {
		m.protocolType = req.ProtocolType
	}
	m.members[id] = mem
	if req.InstanceID != nil {
		m.statics[*req.InstanceID] = id
	}
	if m.leader == "" {
		m.leader = id
	}
	if m.state == StatePreparingRebalance {
		m.newMemberSeen = true
		return
	}
	m.prepareRebalance(now)
}

func (m *machine) updateMember(mem *member, req *kmsg.JoinGroupRequest, ci clientInfo, w waiter) {
	if mem.joinW != 0 && mem.joinW != w {
		// A newer join from the same member supersedes the old one (its client gave up on it).
		m.replyJoinErr(mem.joinW, mem.joinVersion, kerr.RebalanceInProgress.Code, mem.id)
	}
	mem.protocols = req.Protocols
	mem.session, mem.rebalance = timeouts(req)
	mem.client = ci
	mem.joinW = w
	mem.joinVersion = req.Version
}

// prepareRebalance starts a new rebalance: pending SyncGroups fail and every member must rejoin.
func (m *machine) prepareRebalance(now time.Time) {
	if m.state == StateCompletingRebalance {
		for _, mem := range m.members {
			if mem.syncW != 0 {
				m.out = append(m.out, reply{to: mem.syncW, sync: syncError(mem.syncVersion, kerr.RebalanceInProgress.Code)})
				mem.syncW = 0
			}
		}
	}
	for _, mem := range m.members {
		mem.assignment = nil
	}
	m.awaitingSync = nil
	maxRebalance := m.maxRebalanceTimeout()
	m.initialDelay = m.state == StateEmpty && m.p.initialDelay > 0
	if m.initialDelay {
		m.delayUntil = now.Add(min(m.p.initialDelay, maxRebalance))
		m.delayCap = now.Add(maxRebalance)
		m.newMemberSeen = false
	}
	m.joinDeadline = now.Add(maxRebalance)
	m.state = StatePreparingRebalance
	m.rebalances++
}

func (m *machine) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, mem := range m.members {
		d = max(d, mem.rebalance)
	}
	return d
}

// completeJoin ends PreparingRebalance: members that did not rejoin are dropped and a new
// generation starts (Empty when nobody is left).
func (m *machine) completeJoin(now time.Time) {
	for id, mem := range m.members {
		if mem.joinW == 0 {
			m.removeMember(now, id)
		}
	}
	m.initialDelay = false
	m.generation++
	if len(m.members) == 0 {
		m.state = StateEmpty
		m.protocol = ""
		m.leader = ""
		return
	}
	m.protocol = m.selectProtocol()
	if _, ok := m.members[m.leader]; !ok {
		m.leader = m.byJoinOrder()[0].id
	}
	m.state = StateCompletingRebalance
	m.awaitingSync = map[string]struct{}{}
	m.syncDeadline = now.Add(m.maxRebalanceTimeout())
	for id, mem := range m.members {
		m.awaitingSync[id] = struct{}{}
		m.out = append(m.out, reply{to: mem.joinW, join: m.joinResponse(mem.joinVersion, mem, id == m.leader)})
		mem.joinW = 0
		mem.expires = now.Add(mem.session)
	}
}

// joinResponse describes the current generation to mem; the leader also gets every member.
func (m *machine) joinResponse(version int16, mem *member, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = m.generation
	pt, proto := m.protocolType, m.protocol
	r.ProtocolType = &pt
	r.Protocol = &proto
	r.LeaderID = m.leader
	r.MemberID = mem.id
	if withMembers {
		for _, o := range m.byJoinOrder() {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = protocolMetadata(o.protocols, m.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// removeMember drops a member, failing its blocked requests, and starts a rebalance if the group
// had settled. In PreparingRebalance, advance decides whether the join can now complete.
func (m *machine) removeMember(now time.Time, id string) {
	mem, ok := m.members[id]
	if !ok {
		return
	}
	if mem.joinW != 0 {
		m.replyJoinErr(mem.joinW, mem.joinVersion, kerr.UnknownMemberID.Code, id)
	}
	if mem.syncW != 0 {
		m.out = append(m.out, reply{to: mem.syncW, sync: syncError(mem.syncVersion, kerr.UnknownMemberID.Code)})
	}
	delete(m.members, id)
	delete(m.awaitingSync, id)
	if mem.instanceID != nil && m.statics[*mem.instanceID] == id {
		delete(m.statics, *mem.instanceID)
	}
	if m.leader == id {
		m.leader = ""
		if next := m.byJoinOrder(); len(next) > 0 {
			m.leader = next[0].id
		}
	}
	if m.state == StateStable || m.state == StateCompletingRebalance {
		m.prepareRebalance(now)
	}
}
