package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// KIP-932 share groups: membership (ShareGroupHeartbeat, ShareGroupDescribe). Every member is
// assigned every partition of the topics it subscribes to (records, not partitions, are what
// members share: share_partition.go decides who gets which). The group epoch is bumped whenever a
// member joins, leaves or its assignment changes; a member's epoch is the group epoch at which it
// last got its assignment.

// Share group defaults: Kafka's group.share.session.timeout.ms and heartbeat.interval.ms.
const (
	shareSessionTimeout    = 45 * time.Second
	shareHeartbeatInterval = 5 * time.Second
	groupTypeShare         = "share"
)

type shareMember struct {
	id, clientID, host string
	rack               *string
	epoch              int32
	topics             []string
	last               time.Time
	assigned           map[string][]int32 // topic → partitions, as last sent
}

type shareGroup struct {
	epoch   int32
	members map[string]*shareMember
}

func newShareGroup() *shareGroup { return &shareGroup{members: map[string]*shareMember{}} }

func (g *shareGroup) state() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

// expire removes members silent for longer than the session timeout and returns their ids.
func (g *shareGroup) expire(now time.Time) []string {
	var gone []string
	for id, m := range g.members {
		if now.Sub(m.last) > shareSessionTimeout {
			delete(g.members, id)
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		g.epoch++
	}
	return gone
}

// active reports whether g has members left once the silent ones expired; false for a nil g.
func (g *shareGroup) active(now time.Time) bool {
	if g == nil {
		return false
	}
	g.expire(now)
	return len(g.members) > 0
}

func shareHBError(code int16, msg string) *kmsg.ShareGroupHeartbeatResponse {
	resp := kmsg.NewPtrShareGroupHeartbeatResponse()
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = &msg
	}
	return resp
}

func (g *shareGroup) heartbeat(now time.Time, req *kmsg.ShareGroupHeartbeatRequest, topics topicSnapshot, ci clientInfo) *kmsg.ShareGroupHeartbeatResponse {
	m := g.members[req.MemberID]
	switch {
	case req.MemberEpoch == 0:
		if m == nil {
			if req.SubscribedTopicNames == nil {
				return shareHBError(kerr.InvalidRequest.Code, "SubscribedTopicNames must be set on join")
			}
			m = &shareMember{id: req.MemberID}
			g.members[req.MemberID] = m
		}
		m.assigned = nil // a (re)join is always answered with the assignment
	case m == nil:
		return shareHBError(kerr.UnknownMemberID.Code, "member "+req.MemberID+" is not in the share group")
	case req.MemberEpoch != m.epoch:
		return shareHBError(kerr.FencedMemberEpoch.Code, "member epoch does not match")
	}
	m.last, m.clientID, m.host = now, ci.clientID, ci.clientHost
	if req.RackID != nil {
		m.rack = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		m.topics = slices.Clone(req.SubscribedTopicNames)
		slices.Sort(m.topics)
		m.topics = slices.Compact(m.topics)
	}
	resp := kmsg.NewPtrShareGroupHeartbeatResponse()
	resp.MemberID = &m.id
	resp.HeartbeatIntervalMillis = int32(shareHeartbeatInterval / time.Millisecond)
	want := m.assignment(topics)
	if m.assigned == nil || !sameAssignment(want, m.assigned) {
		g.epoch++
		m.epoch, m.assigned = g.epoch, want
		a := kmsg.NewShareGroupHeartbeatResponseAssignment()
		for _, t := range slices.Sorted(mapKeys(want)) {
			tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = [16]byte(topics[t].id), want[t]
			a.TopicPartitions = append(a.TopicPartitions, tp)
		}
		resp.Assignment = &a
	}
	resp.MemberEpoch = m.epoch
	return resp
}

// assignment is every partition of every subscribed topic that exists.
func (m *shareMember) assignment(topics topicSnapshot) map[string][]int32 {
	out := map[string][]int32{}
	for _, t := range m.topics {
		ti, ok := topics[t]
		if !ok || ti.partitions <= 0 {
			continue
		}
		ps := make([]int32, ti.partitions)
		for i := range ps {
			ps[i] = int32(i)
		}
		out[t] = ps
	}
	return out
}

func sameAssignment(a, b map[string][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (g *shareGroup) describe(name string, topics topicSnapshot) kmsg.ShareGroupDescribeResponseGroup {
	d := kmsg.NewShareGroupDescribeResponseGroup()
	d.GroupID, d.GroupState, d.GroupEpoch, d.AssignmentEpoch, d.Assignor = name, g.state(), g.epoch, g.epoch, "simple"
	d.AuthorizedOperations = -2147483648
	ids := slices.Sorted(mapKeys(g.members))
	for _, id := range ids {
		m := g.members[id]
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID, dm.RackID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.rack, m.epoch, m.clientID, m.host
		dm.SubscribedTopicNames = m.topics
		for _, t := range slices.Sorted(mapKeys(m.assigned)) {
			tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = [16]byte(topics[t].id), t, m.assigned[t]
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
		}
		d.Members = append(d.Members, dm)
	}
	return d
}

// ShareGroupHeartbeat answers a KIP-932 heartbeat: a join (epoch 0), a leave (-1), or a
// heartbeat that keeps the member alive and returns its assignment when it changed.
func (c *Coordinator) ShareGroupHeartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest) *kmsg.ShareGroupHeartbeatResponse {
	if code := c.groupCode(req.GroupID); code != 0 {
		return shareHBError(code, "")
	}
	if req.MemberID == "" || req.MemberEpoch < -1 {
		return shareHBError(kerr.InvalidRequest.Code, "MemberID must be set and MemberEpoch at least -1")
	}
	topics, err := c.topicsWith(ctx, req.SubscribedTopicNames...)
	if err != nil {
		c.log.Warn("share group heartbeat: list topics", "group", req.GroupID, "err", err)
		return shareHBError(kerr.CoordinatorNotAvailable.Code, "")
	}
	join := req.MemberEpoch == 0
	resp := shareHBError(kerr.UnknownMemberID.Code, "member "+req.MemberID+" is not in the share group")
	var gone []string
	found := c.locked(req.GroupID, join, func(g *groupEntry, now time.Time) {
		if g.sg == nil {
			// A group id is one kind of group while it has members; an empty one turns share.
			if g.cg != nil && !g.cg.empty() || !g.classicUnused() {
				resp = shareHBError(kerr.GroupIDNotFound.Code, "Group "+req.GroupID+" is not a share group.")
				return
			}
			if !join {
				return
			}
			g.cg, g.sg = nil, newShareGroup()
		}
		gone = g.sg.expire(now)
		if req.MemberEpoch == -1 {
			if _, ok := g.sg.members[req.MemberID]; ok {
				delete(g.sg.members, req.MemberID)
				g.sg.epoch++
				gone = append(gone, req.MemberID)
				resp = kmsg.NewPtrShareGroupHeartbeatResponse()
				resp.MemberID, resp.MemberEpoch = &req.MemberID, -1
			}
			return
		}
		resp = g.sg.heartbeat(now, req, topics, clientFrom(ctx))
	})
	if !found && c.isClosed() {
		return shareHBError(kerr.NotCoordinator.Code, "")
	}
	for _, id := range gone {
		c.shares.memberGone(req.GroupID, id)
	}
	return resp
}

// ShareGroupDescribe describes share groups; any other group is GROUP_ID_NOT_FOUND.
func (c *Coordinator) ShareGroupDescribe(ctx context.Context, req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	topics, _ := c.topics(ctx)
	for _, name := range req.GroupIDs {
		d := kmsg.NewShareGroupDescribeResponseGroup()
		d.GroupID = name
		if code := c.groupCode(name); code != 0 {
			d.ErrorCode = code
			resp.Groups = append(resp.Groups, d)
			continue
		}
		d.ErrorCode = kerr.GroupIDNotFound.Code
		c.locked(name, false, func(g *groupEntry, now time.Time) {
			if g.sg != nil {
				g.sg.expire(now)
				d = g.sg.describe(name, topics)
			}
		})
		if d.ErrorCode == kerr.GroupIDNotFound.Code {
			d.ErrorMessage = kmsg.StringPtr("Group " + name + " not found.")
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// isShare reports whether g is a share group.
func (g *groupEntry) isShare() bool { return g.sg != nil }

// topicsWith is the topic list, read again from the store when one of names is missing from the
// cached one (a topic created within the last topicRefresh).
func (c *Coordinator) topicsWith(ctx context.Context, names ...string) (topicSnapshot, error) {
	topics, err := c.topics(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := topics[n]; !ok {
			c.topicList.mu.Lock()
			c.topicList.snap = nil
			c.topicList.mu.Unlock()
			return c.topics(ctx)
		}
	}
	return topics, nil
}

// ShareTopicName is the name of the topic with id, for the share APIs, which name topics by id.
// An id missing from the cached topic list is looked up again in the store (a new topic).
func (c *Coordinator) ShareTopicName(ctx context.Context, id metadata.TopicID) (string, bool) {
	for fresh := range 2 {
		if fresh == 1 {
			c.topicList.mu.Lock()
			c.topicList.snap = nil
			c.topicList.mu.Unlock()
		}
		topics, err := c.topics(ctx)
		if err != nil {
			return "", false
		}
		for name, t := range topics {
			if t.id == id {
				return name, true
			}
		}
	}
	return "", false
}

// ShareTopicID is the id of topic, if it exists.
func (c *Coordinator) ShareTopicID(ctx context.Context, topic string) (metadata.TopicID, bool) {
	topics, err := c.topicsWith(ctx, topic)
	if err != nil {
		return metadata.TopicID{}, false
	}
	t, ok := topics[topic]
	return t.id, ok
}
