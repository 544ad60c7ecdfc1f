package group

import (
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// ConsumerState is a KIP-848 consumer group's state, named as Kafka names it on the wire.
type ConsumerState int8

const (
	ConsumerEmpty ConsumerState = iota
	ConsumerAssigning
	ConsumerReconciling
	ConsumerStable
)

var consumerStateNames = [...]string{"Empty", "Assigning", "Reconciling", "Stable"}

func (s ConsumerState) String() string { return consumerStateNames[s] }

// Member epochs with a meaning of their own (KIP-848).
const (
	epochJoin        = 0
	epochLeave       = -1
	epochLeaveStatic = -2
)

// topicInfo is what a consumer group needs of a topic.
type topicInfo struct {
	id         metadata.TopicID
	partitions int32
}

// topicSnapshot is every topic by name, as the metadata store listed it.
type topicSnapshot map[string]topicInfo

// cparams are a consumer group's fixed settings.
type cparams struct {
	session   time.Duration
	heartbeat time.Duration
	maxSize   int
}

// epochs maps each partition a member owns to the member epoch at which it was assigned to it.
type epochs map[metadata.TopicPartition]int32

// cmember is one member of a consumer group.
type cmember struct {
	id         string
	instanceID *string
	rackID     *string
	client     clientInfo
	rebalance  time.Duration
	assignor   string

	subNames []string // sorted; nil with a regex
	regex    string
	re       *regexp.Regexp

	epoch     int32 // -2 while a static member is away
	prevEpoch int32
	assigned  epochs // partitions it may consume
	revoking  epochs // partitions it was told to give up and still owns
	expires   time.Time
	revokeBy  time.Time // zero unless revoking
}

// consumerGroup is one KIP-848 group. Like machine it does no I/O and reads no clock.
type consumerGroup struct {
	p cparams

	epoch       int32 // group epoch: bumped by every change of members, subscriptions or topics
	changed     bool  // the heartbeat being applied changed something the epoch covers
	targetEpoch int32 // the group epoch target was computed at
	target      map[string]map[metadata.TopicPartition]struct{}
	assignor    string
	members     map[string]*cmember
	statics     map[string]string           // instance id → member id
	topics      topicSnapshot               // the subscribed topics at the group epoch
	names       map[metadata.TopicID]string // every topic id this group has seen
}

func newConsumerGroup(p cparams) *consumerGroup {
	return &consumerGroup{
		p:        p,
		target:   map[string]map[metadata.TopicPartition]struct{}{},
		assignor: AssignorUniform,
		members:  map[string]*cmember{},
		statics:  map[string]string{},
		topics:   topicSnapshot{},
		names:    map[metadata.TopicID]string{},
	}
}

func (g *consumerGroup) empty() bool { return len(g.members) == 0 }

func (g *consumerGroup) state() ConsumerState {
	switch {
	case len(g.members) == 0:
		return ConsumerEmpty
	case g.targetEpoch < g.epoch:
		return ConsumerAssigning
	}
	for _, m := range g.members {
		if m.epoch != g.targetEpoch || len(m.revoking) > 0 || len(m.assigned) != len(g.target[m.id]) {
			return ConsumerReconciling
		}
	}
	return ConsumerStable
}

// hbError is a heartbeat answered with an error code and message.
func hbError(version, code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
	r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	r.Version = version
	r.ErrorCode = code
	if msg != "" {
		r.ErrorMessage = kmsg.StringPtr(msg)
	}
	return r
}

// validateHeartbeat is Kafka's request check, before any group state is read.
func validateHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string) {
	switch {
	case req.MemberID == "" && (req.Version >= 1 || req.MemberEpoch > 0 || req.MemberEpoch == epochLeave):
		return kerr.InvalidRequest.Code, "MemberId can't be empty."
	case req.InstanceID != nil && *req.InstanceID == "":
		return kerr.InvalidRequest.Code, "InstanceId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return kerr.InvalidRequest.Code, "RackId can't be empty."
	case req.MemberEpoch == epochJoin && req.RebalanceTimeoutMillis == -1:
		return kerr.InvalidRequest.Code, "RebalanceTimeoutMs must be provided in first request."
	case req.MemberEpoch == epochJoin && (req.Topics == nil || len(req.Topics) > 0):
		return kerr.InvalidRequest.Code, "TopicPartitions must be empty when (re-)joining."
	case req.MemberEpoch == epochJoin && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return kerr.InvalidRequest.Code, "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
	case req.MemberEpoch == epochLeaveStatic && req.InstanceID == nil:
		return kerr.InvalidRequest.Code, "InstanceId can't be null."
	case req.MemberEpoch < epochLeaveStatic:
		return kerr.InvalidRequest.Code, "MemberEpoch is invalid."
	case req.ServerAssignor != nil && assignors[*req.ServerAssignor] == nil:
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: uniform, range."
	}
	if req.SubscribedTopicRegex != nil {
		if _, err := compileSubscription(*req.SubscribedTopicRegex); err != nil {
			return kerr.InvalidRegularExpression.Code, "SubscribedTopicRegex " + *req.SubscribedTopicRegex + " is invalid: " + err.Error()
		}
	}
	return 0, ""
}

// compileSubscription compiles a subscription regex; like Kafka (RE2/J) it must match a whole
// topic name.
func compileSubscription(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// heartbeat applies one ConsumerGroupHeartbeat. newID makes a member id for v0 joins without one.
func (g *consumerGroup) heartbeat(now time.Time, req *kmsg.ConsumerGroupHeartbeatRequest, topics topicSnapshot, ci clientInfo, newID func() string) *kmsg.ConsumerGroupHeartbeatResponse {
	if code, msg := validateHeartbeat(req); code != 0 {
		return hbError(req.Version, code, msg)
	}
	if req.MemberEpoch == epochLeave || req.MemberEpoch == epochLeaveStatic {
		return g.leave(now, req)
	}
	m, code, msg := g.memberFor(now, req, newID)
	if code != 0 {
		return hbError(req.Version, code, msg)
	}
	before := maps.Clone(m.assigned)
	g.update(now, m, req, ci)
	g.refreshTopics(topics)
	if g.changed {
		// One bump per heartbeat, however many things it changed, as in Kafka.
		g.epoch++
		g.changed = false
	}
	if g.targetEpoch < g.epoch {
		g.computeTarget()
	}
	g.reconcile(now, m, g.owned(req.Topics))

	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = kmsg.StringPtr(m.id)
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(g.p.heartbeat.Milliseconds())
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == epochJoin || full || !maps.Equal(before, m.assigned) {
		resp.Assignment = g.assignment(m)
	}
	return resp
}

// memberFor finds or admits the member a (non-leave) heartbeat is from.
func (g *consumerGroup) memberFor(now time.Time, req *kmsg.ConsumerGroupHeartbeatRequest, newID func() string) (*cmember, int16, string) {
	id := req.MemberID
	if req.MemberEpoch != epochJoin {
		m := g.members[id]
		if m == nil {
			return nil, kerr.UnknownMemberID.Code, "member " + id + " is not in group"
		}
		if req.InstanceID != nil && g.statics[*req.InstanceID] != id {
			return nil, kerr.FencedInstanceID.Code, "instance " + *req.InstanceID + " is owned by another member"
		}
		switch {
		case req.MemberEpoch > m.epoch:
			return nil, kerr.FencedMemberEpoch.Code, "member epoch is greater than the coordinator's; rejoin"
		case req.MemberEpoch < m.epoch:
			// The previous epoch with a subset of the assignment: the response that bumped the
			// epoch was lost.
			if req.MemberEpoch != m.prevEpoch || req.Topics == nil || !subset(g.owned(req.Topics), m.assigned) {
				return nil, kerr.FencedMemberEpoch.Code, "member epoch is smaller than the coordinator's; rejoin"
			}
		}
		return m, 0, ""
	}

	if id == "" {
		id = newID()
	}
	if req.InstanceID != nil {
		if cur, ok := g.statics[*req.InstanceID]; ok && cur != id && g.members[cur] != nil {
			old := g.members[cur]
			if old.epoch != epochLeaveStatic {
				return nil, kerr.UnreleasedInstanceID.Code, "instance " + *req.InstanceID + " is still in use by member " + cur
			}
			// The static member returns under a new member id and takes over its assignment.
			delete(g.members, cur)
			if t, ok := g.target[cur]; ok {
				delete(g.target, cur)
				g.target[id] = t
			}
			old.id = id
			old.epoch = old.prevEpoch
			g.members[id] = old
			g.statics[*req.InstanceID] = id
			return old, 0, ""
		}
	}
	if m := g.members[id]; m != nil {
		// A rejoin in place (epoch 0 with a known id): the member owns nothing now, and the
		// response delivers its assignment again.
		if len(m.assigned)+len(m.revoking) > 0 {
			m.assigned, m.revoking, m.revokeBy = epochs{}, nil, time.Time{}
		}
		m.prevEpoch, m.epoch = m.epoch, 0
		return m, 0, ""
	}
	if len(g.members) >= g.p.maxSize {
		return nil, kerr.GroupMaxSizeReached.Code, "the group is full"
	}
	m := &cmember{id: id, assigned: epochs{}, expires: now.Add(g.p.session)}
	if req.InstanceID != nil {
		m.instanceID = kmsg.StringPtr(*req.InstanceID)
		g.statics[*req.InstanceID] = id
	}
	g.members[id] = m
	g.changed = true
	return m, 0, ""
}

// update records what the heartbeat says about the member; a changed subscription or assignor
// bumps the group epoch.
func (g *consumerGroup) update(now time.Time, m *cmember, req *kmsg.ConsumerGroupHeartbeatRequest, ci clientInfo) {
	m.expires = now.Add(g.p.session)
	if ci != (clientInfo{}) {
		m.client = ci
	}
	if req.RackID != nil {
		m.rackID = kmsg.StringPtr(*req.RackID)
	}
	if req.RebalanceTimeoutMillis >= 0 {
		m.rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	changed := false
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.subNames) || m.re != nil {
			m.subNames, m.regex, m.re = names, "", nil
			changed = true
		}
	}
	if req.SubscribedTopicRegex != nil && (m.re == nil || *req.SubscribedTopicRegex != m.regex) {
		re, _ := compileSubscription(*req.SubscribedTopicRegex) // validated
		m.subNames, m.regex, m.re = nil, *req.SubscribedTopicRegex, re
		changed = true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		changed = true
	}
	if changed {
		g.changed = true
	}
}

// subscribedTopics is the topics of topics the member subscribes to.
func (m *cmember) subscribedTopics(topics topicSnapshot) []string {
	var out []string
	if m.re != nil {
		for name := range topics {
			if m.re.MatchString(name) {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	for _, name := range m.subNames {
		if _, ok := topics[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// refreshTopics bumps the group epoch when a subscribed topic appeared, vanished, or changed
// partition count or id since the group epoch's snapshot.
func (g *consumerGroup) refreshTopics(all topicSnapshot) {
	subscribed := topicSnapshot{}
	for _, m := range g.members {
		for _, name := range m.subscribedTopics(all) {
			subscribed[name] = all[name]
		}
	}
	for name, ti := range subscribed {
		g.names[ti.id] = name
	}
	if !maps.Equal(subscribed, g.topics) {
		g.topics = subscribed
		g.changed = true
	}
}

// computeTarget runs the group's assignor at the group epoch.
func (g *consumerGroup) computeTarget() {
	in := assignInput{
		subscribed: map[string][]string{},
		partitions: map[string]int32{},
		previous:   g.target,
	}
	var named []string
	for id, m := range g.members {
		in.members = append(in.members, id)
		in.subscribed[id] = m.subscribedTopics(g.topics)
		named = append(named, m.assignor)
	}
	slices.Sort(in.members)
	for name, ti := range g.topics {
		in.partitions[name] = ti.partitions
	}
	g.assignor = preferredAssignor(named)
	target := map[string]map[metadata.TopicPartition]struct{}{}
	for id, tps := range assignors[g.assignor](in) {
		set := make(map[metadata.TopicPartition]struct{}, len(tps))
		for _, tp := range tps {
			set[tp] = struct{}{}
		}
		target[id] = set
	}
	g.target, g.targetEpoch = target, g.epoch
}

// owned resolves a heartbeat's owned partitions to names; nil when the request left them out.
// Partitions of topic ids this group never saw are dropped: no member can have owned them.
func (g *consumerGroup) owned(topics []kmsg.ConsumerGroupHeartbeatRequestTopic) map[metadata.TopicPartition]struct{} {
	if topics == nil {
		return nil
	}
	out := map[metadata.TopicPartition]struct{}{}
	for _, t := range topics {
		name, ok := g.names[t.TopicID]
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			out[metadata.TopicPartition{Topic: name, Partition: p}] = struct{}{}
		}
	}
	return out
}

func subset(owned map[metadata.TopicPartition]struct{}, of epochs) bool {
	for tp := range owned {
		if _, ok := of[tp]; !ok {
			return false
		}
	}
	return true
}

// reconcile moves m toward its target assignment. A member first gives up what it must lose
// (revoking, its epoch unchanged); only once it reports them released does it move to the
// target epoch, and it takes a target partition only after every other member released it.
// owned is what the member reports owning, nil if it did not say.
func (g *consumerGroup) reconcile(now time.Time, m *cmember, owned map[metadata.TopicPartition]struct{}) {
	if len(m.revoking) > 0 {
		if owned == nil {
			return
		}
		for tp := range m.revoking {
			if _, still := owned[tp]; still {
				return
			}
		}
		m.revoking, m.revokeBy = nil, time.Time{}
	}
	target := g.target[m.id]
	for tp, e := range m.assigned {
		if _, keep := target[tp]; !keep {
			if m.revoking == nil {
				m.revoking = epochs{}
			}
			m.revoking[tp] = e
			delete(m.assigned, tp)
		}
	}
	if len(m.revoking) > 0 {
		m.revokeBy = now.Add(m.rebalance)
		return
	}
	if m.epoch != g.targetEpoch {
		m.prevEpoch, m.epoch = m.epoch, g.targetEpoch
	}
	if len(m.assigned) == len(target) {
		return
	}
	taken := g.ownedByOthers(m.id)
	for tp := range target {
		if _, have := m.assigned[tp]; have {
			continue
		}
		if _, busy := taken[tp]; !busy {
			m.assigned[tp] = m.epoch
		}
	}
}

// ownedByOthers is every partition a member other than id may still be consuming.
func (g *consumerGroup) ownedByOthers(id string) map[metadata.TopicPartition]struct{} {
	out := map[metadata.TopicPartition]struct{}{}
	for oid, o := range g.members {
		if oid == id {
			continue
		}
		for tp := range o.assigned {
			out[tp] = struct{}{}
		}
		for tp := range o.revoking {
			out[tp] = struct{}{}
		}
	}
	return out
}

// assignment is m's assigned partitions by topic id.
func (g *consumerGroup) assignment(m *cmember) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	a := new(kmsg.ConsumerGroupHeartbeatResponseAssignment)
	a.Default()
	for _, tt := range g.byTopic(m.assigned) {
		at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		at.TopicID, at.Partitions = tt.id, tt.partitions
		a.Topics = append(a.Topics, at)
	}
	return a
}

type topicPartitions struct {
	name       string
	id         metadata.TopicID
	partitions []int32
}

// byTopic groups tps by topic, in name order, with ids from the group's topics.
func (g *consumerGroup) byTopic(tps map[metadata.TopicPartition]int32) []topicPartitions {
	idx := map[string]int{}
	var out []topicPartitions
	for tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(out)
			idx[tp.Topic] = i
			out = append(out, topicPartitions{name: tp.Topic, id: g.idOf(tp.Topic)})
		}
		out[i].partitions = append(out[i].partitions, tp.Partition)
	}
	for i := range out {
		slices.Sort(out[i].partitions)
	}
	slices.SortFunc(out, func(a, b topicPartitions) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

func (g *consumerGroup) idOf(topic string) metadata.TopicID {
	if ti, ok := g.topics[topic]; ok {
		return ti.id
	}
	for id, name := range g.names {
		if name == topic {
			return id
		}
	}
	return metadata.TopicID{}
}

// leave handles member epoch -1 (leave) and -2 (a static member that will return).
func (g *consumerGroup) leave(now time.Time, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	id := req.MemberID
	if req.InstanceID != nil {
		cur, ok := g.statics[*req.InstanceID]
		switch {
		case !ok:
			return hbError(req.Version, kerr.UnknownMemberID.Code, "instance "+*req.InstanceID+" is not in group")
		case cur != id:
			return hbError(req.Version, kerr.FencedInstanceID.Code, "instance "+*req.InstanceID+" is owned by another member")
		}
	}
	m := g.members[id]
	if m == nil {
		return hbError(req.Version, kerr.UnknownMemberID.Code, "member "+id+" is not in group")
	}
	if req.MemberEpoch == epochLeaveStatic {
		// Kept, assignment and all, until the session expires or the instance returns.
		if m.epoch != epochLeaveStatic {
			m.prevEpoch, m.epoch = m.epoch, epochLeaveStatic
		}
		m.expires = now.Add(g.p.session)
	} else {
		g.remove(id)
	}
	resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
	resp.Version = req.Version
	resp.MemberID = kmsg.StringPtr(id)
	resp.MemberEpoch = req.MemberEpoch
	return resp
}

// remove drops a member; its partitions are free at once.
func (g *consumerGroup) remove(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	delete(g.members, id)
	delete(g.target, id)
	if m.instanceID != nil && g.statics[*m.instanceID] == id {
		delete(g.statics, *m.instanceID)
	}
	g.epoch++
}

// advance removes members whose session expired or who did not release partitions within their
// rebalance timeout. It reports how many it removed.
func (g *consumerGroup) advance(now time.Time) int {
	n := 0
	for id, m := range g.members {
		if !now.Before(m.expires) || !m.revokeBy.IsZero() && !now.Before(m.revokeBy) {
			g.remove(id)
			n++
		}
	}
	return n
}

// nextDeadline is the earliest time advance has work; zero if none.
func (g *consumerGroup) nextDeadline() time.Time {
	var d time.Time
	for _, m := range g.members {
		for _, t := range []time.Time{m.expires, m.revokeBy} {
			if !t.IsZero() && (d.IsZero() || t.Before(d)) {
				d = t
			}
		}
	}
	return d
}

// validateCommit is Kafka's consumer-group OffsetCommit check, with KIP-1251's allowance: a
// member may commit with an older epoch the partitions it has owned since that epoch (a commit in
// flight while a heartbeat bumped the epoch is not stale).
func (g *consumerGroup) validateCommit(memberID string, memberEpoch int32, version int16, transactional bool, tps []metadata.TopicPartition) int16 {
	if memberEpoch < 0 && len(g.members) == 0 {
		return 0
	}
	m := g.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case !transactional && version < 9:
		return kerr.UnsupportedVersion.Code
	case memberEpoch == m.epoch:
		return 0
	case memberEpoch > m.epoch || memberEpoch < 0:
		return g.staleCode(transactional)
	}
	for _, tp := range tps {
		e, ok := m.assigned[tp]
		if !ok {
			e, ok = m.revoking[tp]
		}
		if !ok || e > memberEpoch {
			return g.staleCode(transactional)
		}
	}
	return 0
}

// staleCode: TxnOffsetCommit has no STALE_MEMBER_EPOCH and answers as for a classic generation.
func (g *consumerGroup) staleCode(transactional bool) int16 {
	if transactional {
		return kerr.IllegalGeneration.Code
	}
	return kerr.StaleMemberEpoch.Code
}

// validateFetch is Kafka's consumer-group OffsetFetch check (v9+ member id and epoch).
func (g *consumerGroup) validateFetch(memberID *string, memberEpoch int32) int16 {
	if memberID == nil && memberEpoch < 0 {
		return 0
	}
	var m *cmember
	if memberID != nil {
		m = g.members[*memberID]
	}
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case memberEpoch != m.epoch:
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// describe is the group as ConsumerGroupDescribe shows it.
func (g *consumerGroup) describe() kmsg.ConsumerGroupDescribeResponseGroup {
	d := kmsg.NewConsumerGroupDescribeResponseGroup()
	d.State = g.state().String()
	d.Epoch, d.AssignmentEpoch, d.AssignorName = g.epoch, g.targetEpoch, g.assignor
	ids := slices.Sorted(maps.Keys(g.members))
	for _, id := range ids {
		m := g.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = id, m.instanceID, m.rackID, m.epoch
		dm.ClientID, dm.ClientHost = m.client.clientID, m.client.clientHost
		dm.SubscribedTopics = slices.Clone(m.subNames)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.re != nil {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.regex)
		}
		dm.Assignment = g.describeAssignment(m.assigned)
		target := epochs{}
		for tp := range g.target[id] {
			target[tp] = 0
		}
		dm.TargetAssignment = g.describeAssignment(target)
		dm.MemberType = 1
		d.Members = append(d.Members, dm)
	}
	return d
}

func (g *consumerGroup) describeAssignment(tps epochs) kmsg.Assignment {
	a := kmsg.NewAssignment()
	for _, tt := range g.byTopic(tps) {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Topic, at.Partitions = tt.id, tt.name, tt.partitions
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}
