package group

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicRefresh bounds how stale the topic list a consumer group heartbeat reads may be: a topic
// created or grown reaches subscribed groups' assignments within it (plus a heartbeat interval).
const topicRefresh = time.Second

// topicList caches the store's topic list for consumer group heartbeats.
type topicList struct {
	mu   sync.Mutex
	at   time.Time
	snap topicSnapshot
}

// topics returns every topic, listing them from the store at most once per topicRefresh.
func (c *Coordinator) topics(ctx context.Context) (topicSnapshot, error) {
	c.topicList.mu.Lock()
	defer c.topicList.mu.Unlock()
	if c.topicList.snap != nil && time.Since(c.topicList.at) < topicRefresh {
		return c.topicList.snap, nil
	}
	ts, err := c.cfg.Store.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	snap := make(topicSnapshot, len(ts))
	for _, t := range ts {
		snap[t.Name] = topicInfo{id: t.ID, partitions: t.Partitions}
	}
	c.topicList.snap, c.topicList.at = snap, time.Now()
	return snap, nil
}

func (c *Coordinator) cparams() cparams {
	return cparams{session: c.cfg.ConsumerSessionTimeout, heartbeat: c.cfg.ConsumerHeartbeatInterval, maxSize: c.cfg.MaxGroupSize}
}

// classicUnused reports whether g's classic machine has nobody in it, so the group may become
// a consumer group.
func (g *groupEntry) classicUnused() bool {
	m := g.m
	return m.state == StateEmpty && len(m.members) == 0 && len(m.pending) == 0
}

// isConsumer reports whether g is a KIP-848 consumer group.
func (g *groupEntry) isConsumer() bool { return g.cg != nil }

// ConsumerGroupHeartbeat answers a KIP-848 heartbeat: joins (epoch 0), leaves (-1, or -2 for a
// static member that will return), and the heartbeats between that carry the member's owned
// partitions and return its assignment.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	if code := c.groupCode(req.Group); code != 0 {
		return hbError(req.Version, code, "")
	}
	if code, msg := validateHeartbeat(req); code != 0 {
		return hbError(req.Version, code, msg)
	}
	topics, err := c.topics(ctx)
	if err != nil {
		c.log.Warn("consumer group heartbeat: list topics", "group", req.Group, "err", err)
		return hbError(req.Version, kerr.CoordinatorNotAvailable.Code, "")
	}
	ci := clientFrom(ctx)
	join := req.MemberEpoch == epochJoin
	resp := hbError(req.Version, kerr.UnknownMemberID.Code, "member "+req.MemberID+" is not in group")
	var created *groupEntry
	found := c.locked(req.Group, join, func(g *groupEntry, now time.Time) {
		if g.cg == nil {
			if !g.classicUnused() || g.sg.active(now) {
				resp = hbError(req.Version, kerr.GroupIDNotFound.Code, "Group "+req.Group+" is not a consumer group.")
				return
			}
			if !join {
				return
			}
			g.cg, g.sg = newConsumerGroup(c.cparams()), nil
			created = g
		}
		target := g.cg.targetEpoch
		resp = g.cg.heartbeat(now, req, topics, ci, func() string { return newMemberID("consumer") })
		if g.cg.targetEpoch != target {
			// A new target assignment is the consumer protocol's rebalance.
			c.met.rebalances.Inc()
		}
	})
	switch {
	case !found && c.isClosed():
		return hbError(req.Version, kerr.NotCoordinator.Code, "")
	case created != nil && resp.ErrorCode != 0:
		c.dropIfUnused(created)
	}
	return resp
}

// ConsumerGroupDescribe describes KIP-848 consumer groups. A classic group, or a group known only
// from stored offsets, is GROUP_ID_NOT_FOUND, as in Kafka.
func (c *Coordinator) ConsumerGroupDescribe(_ context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, name := range req.Groups {
		d := kmsg.NewConsumerGroupDescribeResponseGroup()
		if code := c.groupCode(name); code != 0 {
			d.Group, d.ErrorCode = name, code
			resp.Groups = append(resp.Groups, d)
			continue
		}
		d.ErrorCode = kerr.GroupIDNotFound.Code
		c.locked(name, false, func(g *groupEntry, _ time.Time) {
			if g.cg != nil {
				d = g.cg.describe()
			}
		})
		d.Group = name
		if d.ErrorCode == kerr.GroupIDNotFound.Code {
			d.ErrorMessage = kmsg.StringPtr("Group " + name + " not found.")
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// consumerFetchCode checks an OffsetFetch v9+ member id and epoch against a consumer group; a
// classic or unknown group is not checked here.
func (c *Coordinator) consumerFetchCode(group string, memberID *string, memberEpoch int32) int16 {
	var code int16
	c.locked(group, false, func(g *groupEntry, _ time.Time) {
		if g.cg != nil {
			code = g.cg.validateFetch(memberID, memberEpoch)
		}
	})
	return code
}
