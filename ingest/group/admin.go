package group

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group types as ListGroups v5 names them.
const (
	groupTypeClassic  = "classic"
	groupTypeConsumer = "consumer"
)

// DescribeGroups reports each group's state, protocol and members. A group known only from
// stored offsets is Empty; an unknown group is Dead (GROUP_ID_NOT_FOUND from v6 on).
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, name := range req.Groups {
		d := kmsg.NewDescribeGroupsResponseGroup()
		if code := c.groupCode(name); code != 0 {
			d.Group, d.ErrorCode = name, code
			resp.Groups = append(resp.Groups, d)
			continue
		}
		consumer := false
		found := c.locked(name, false, func(g *groupEntry, _ time.Time) {
			if consumer = g.isConsumer() || g.isShare(); !consumer {
				d = g.m.describe()
			}
		})
		d.Group = name
		if consumer {
			// As in Kafka: DescribeGroups is for classic groups, ConsumerGroupDescribe for these.
			d.State = StateDead.String()
			if req.Version >= 6 {
				d.ErrorCode = kerr.GroupIDNotFound.Code
				d.ErrorMessage = kmsg.StringPtr("Group " + name + " is not a classic group.")
			}
		}
		if !found {
			d.State = StateDead.String()
			committed, err := c.cfg.Store.FetchOffsets(ctx, name)
			switch {
			case c.isClosed():
				d.ErrorCode = kerr.NotCoordinator.Code
			case err != nil:
				d.ErrorCode = kerr.CoordinatorNotAvailable.Code
			case len(committed) > 0:
				d.State = StateEmpty.String()
			case req.Version >= 6:
				d.ErrorCode = kerr.GroupIDNotFound.Code
				d.ErrorMessage = kmsg.StringPtr("group " + name + " not found")
			}
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// ListGroups lists the groups this node coordinates, including groups known only from stored
// offsets (state Empty). States and types filters (v4+, v5+) match case-insensitively.
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	c.mu.Lock()
	entries := make([]*groupEntry, 0, len(c.groups))
	for _, g := range c.groups {
		entries = append(entries, g)
	}
	c.mu.Unlock()

	seen := map[string]bool{}
	var out []kmsg.ListGroupsResponseGroup
	add := func(name, state, protocolType, groupType string) {
		if seen[name] || !c.cfg.IsCoordinator(name) {
			return
		}
		seen[name] = true
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.GroupState, lg.ProtocolType, lg.GroupType = name, state, protocolType, groupType
		out = append(out, lg)
	}
	for _, g := range entries {
		g.mu.Lock()
		state, pt, typ := g.m.state.String(), g.m.protocolType, groupTypeClassic
		dead := g.m.state == StateDead
		if g.cg != nil {
			state, pt, typ = g.cg.state().String(), groupTypeConsumer, groupTypeConsumer
		}
		if g.sg != nil {
			state, pt, typ = g.sg.state(), groupTypeShare, groupTypeShare
		}
		g.mu.Unlock()
		if !dead {
			add(g.name, state, pt, typ)
		}
	}
	names, err := c.cfg.Store.ListGroups(ctx)
	if err != nil {
		c.log.Warn("list groups failed", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	for _, name := range names {
		add(name, StateEmpty.String(), "", groupTypeClassic)
	}
	for _, lg := range out {
		if matches(req.StatesFilter, lg.GroupState) && (req.Version < 5 || matches(req.TypesFilter, lg.GroupType)) {
			resp.Groups = append(resp.Groups, lg)
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

func matches(filter []string, v string) bool {
	return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
}

// DeleteGroups removes empty groups and their committed offsets.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	for _, name := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		if dg.ErrorCode = c.groupCode(name); dg.ErrorCode == 0 {
			dg.ErrorCode = c.deleteGroup(ctx, name)
		}
		if dg.ErrorCode != 0 && req.Version >= 3 {
			if e := kerr.ErrorForCode(dg.ErrorCode); e != nil {
				dg.ErrorMessage = kmsg.StringPtr(e.Error())
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, name string) int16 {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return kerr.NotCoordinator.Code
	}
	g := c.groups[name]
	if g != nil {
		g.mu.Lock()
		if g.sg != nil {
			g.sg.expire(time.Now())
		}
		if g.m.state != StateEmpty || g.cg != nil && !g.cg.empty() || g.sg != nil && len(g.sg.members) > 0 {
			g.mu.Unlock()
			c.mu.Unlock()
			return kerr.NonEmptyGroup.Code
		}
		g.m.kill(kerr.GroupIDNotFound.Code)
		c.settle(g, g.m.rebalances)
		delete(c.groups, name)
		g.mu.Unlock()
	}
	c.mu.Unlock()
	c.shares.dropGroup(name)

	committed, err := c.cfg.Store.FetchOffsets(ctx, name)
	if err != nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	if len(committed) == 0 {
		if g == nil {
			return kerr.GroupIDNotFound.Code
		}
		return 0
	}
	if err := c.cfg.Store.DeleteOffsets(ctx, name, nil); err != nil {
		c.log.Warn("delete group offsets failed", "group", name, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	c.log.Info("group deleted", "group", name)
	return 0
}
