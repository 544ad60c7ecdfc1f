package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// The share-group offset admin APIs (KIP-932): a share group's start offsets (SPSOs) as stored,
// or as this node's live share partitions have them.

// shareAdminCode is the group-level error for an offsets admin request on name: a group that is
// not a share group is GROUP_ID_NOT_FOUND; with mutate, a share group with members is
// NON_EMPTY_GROUP. An unknown group becomes an (empty) share group when mutate is set.
func (c *Coordinator) shareAdminCode(name string, mutate bool) int16 {
	if code := c.groupCode(name); code != 0 {
		return code
	}
	var code int16
	found := c.locked(name, mutate, func(g *groupEntry, now time.Time) {
		switch {
		case g.sg == nil && (g.cg != nil && !g.cg.empty() || !g.classicUnused()):
			code = kerr.GroupIDNotFound.Code
		case g.sg == nil && mutate:
			g.cg, g.sg = nil, newShareGroup()
		case mutate:
			g.sg.expire(now)
			if len(g.sg.members) > 0 {
				code = kerr.NonEmptyGroup.Code
			}
		}
	})
	if !found && c.isClosed() {
		return kerr.NotCoordinator.Code
	}
	return code
}

// DescribeShareGroupOffsets reports each group's SPSOs: the live share partition's where this node
// has one, else the stored one, else -1 (not initialized).
func (c *Coordinator) DescribeShareGroupOffsets(ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest) *kmsg.DescribeShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	var names []string
	for _, g := range req.Groups {
		for _, t := range g.Topics {
			names = append(names, t.Topic)
		}
	}
	topics, _ := c.topicsWith(ctx, names...)
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		if code := c.groupCode(rg.GroupID); code != 0 {
			g.ErrorCode = code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		stored, err := c.cfg.Store.FetchOffsets(ctx, rg.GroupID)
		if err != nil {
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		spso := map[metadata.TopicPartition]int64{}
		for tp, oc := range stored {
			spso[tp] = oc.Offset
		}
		c.shares.mu.Lock()
		for k, p := range c.shares.part {
			if k.group == rg.GroupID {
				spso[k.tp] = p.spso
			}
		}
		c.shares.mu.Unlock()
		want := rg.Topics
		if want == nil { // all the group's partitions
			byTopic := map[string][]int32{}
			for tp := range spso {
				byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
			}
			for _, t := range slices.Sorted(mapKeys(byTopic)) {
				ps := byTopic[t]
				slices.Sort(ps)
				want = append(want, kmsg.DescribeShareGroupOffsetsRequestGroupTopic{Topic: t, Partitions: ps})
			}
		}
		for _, rt := range want {
			t := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			t.Topic = rt.Topic
			ti, exists := topics[rt.Topic]
			t.TopicID = [16]byte(ti.id)
			for _, p := range rt.Partitions {
				sp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				sp.Partition, sp.LeaderEpoch, sp.Lag = p, -1, -1
				off, ok := spso[metadata.TopicPartition{Topic: rt.Topic, Partition: p}]
				switch {
				case !exists || p < 0 || p >= ti.partitions:
					sp.ErrorCode, sp.StartOffset = kerr.UnknownTopicOrPartition.Code, -1
				case ok:
					sp.StartOffset = off
				default:
					sp.StartOffset = -1
				}
				t.Partitions = append(t.Partitions, sp)
			}
			g.Topics = append(g.Topics, t)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

// AlterShareGroupOffsets sets the SPSOs of an empty share group (creating it), dropping the
// in-flight state of those partitions on this node.
func (c *Coordinator) AlterShareGroupOffsets(ctx context.Context, req *kmsg.AlterShareGroupOffsetsRequest) *kmsg.AlterShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	code := c.shareAdminCode(req.GroupID, true)
	var names []string
	for _, t := range req.Topics {
		names = append(names, t.Topic)
	}
	topics, err := c.topicsWith(ctx, names...)
	if code == 0 && err != nil {
		code = kerr.CoordinatorNotAvailable.Code
	}
	offs := map[metadata.TopicPartition]metadata.OffsetCommit{}
	for _, rt := range req.Topics {
		t := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		t.Topic = rt.Topic
		ti, exists := topics[rt.Topic]
		t.TopicID = [16]byte(ti.id)
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			p.Partition, p.ErrorCode = rp.Partition, code
			switch {
			case code != 0:
			case !exists || rp.Partition < 0 || rp.Partition >= ti.partitions:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.StartOffset < 0:
				p.ErrorCode = kerr.InvalidRequest.Code
			default:
				offs[metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = metadata.OffsetCommit{Offset: rp.StartOffset, LeaderEpoch: -1, CommittedAt: time.Now()}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	resp.ErrorCode = code
	if code != 0 || len(offs) == 0 {
		return resp
	}
	s := c.shares
	s.mu.Lock()
	for tp := range offs {
		delete(s.part, shareKey{req.GroupID, tp})
		delete(s.dirty, shareKey{req.GroupID, tp})
	}
	s.mu.Unlock()
	if err := c.cfg.Store.CommitOffsets(ctx, req.GroupID, offs); err != nil {
		c.log.Warn("alter share group offsets", "group", req.GroupID, "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
	}
	return resp
}

// DeleteShareGroupOffsets removes an empty share group's state for whole topics.
func (c *Coordinator) DeleteShareGroupOffsets(ctx context.Context, req *kmsg.DeleteShareGroupOffsetsRequest) *kmsg.DeleteShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	code := c.shareAdminCode(req.GroupID, true)
	var names []string
	for _, t := range req.Topics {
		names = append(names, t.Topic)
	}
	topics, err := c.topicsWith(ctx, names...)
	if code == 0 && err != nil {
		code = kerr.CoordinatorNotAvailable.Code
	}
	resp.ErrorCode = code
	var stored map[metadata.TopicPartition]metadata.OffsetCommit
	if code == 0 {
		if stored, err = c.cfg.Store.FetchOffsets(ctx, req.GroupID); err != nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
	}
	for _, rt := range req.Topics {
		t := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		t.Topic = rt.Topic
		ti, exists := topics[rt.Topic]
		t.TopicID = [16]byte(ti.id)
		switch {
		case resp.ErrorCode != 0:
			t.ErrorCode = resp.ErrorCode
		case !exists:
			t.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			var tps []metadata.TopicPartition
			for tp := range stored {
				if tp.Topic == rt.Topic {
					tps = append(tps, tp)
				}
			}
			c.shares.mu.Lock()
			for k := range c.shares.part {
				if k.group == req.GroupID && k.tp.Topic == rt.Topic {
					delete(c.shares.part, k)
					delete(c.shares.dirty, k)
				}
			}
			c.shares.mu.Unlock()
			if len(tps) > 0 {
				if err := c.cfg.Store.DeleteOffsets(ctx, req.GroupID, tps); err != nil {
					t.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
