package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// GroupSummary is one row of the group list.
type GroupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

// GroupsView answers GET /v1/groups: every live node's groups; Errors names the nodes that did not
// answer.
type GroupsView struct {
	Groups []GroupSummary `json:"groups"`
	Errors []string       `json:"errors,omitempty"`
}

// MemberView is a group member and its assignment.
type MemberView struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	ClientID   string             `json:"client_id"`
	ClientHost string             `json:"client_host"`
	Assignment map[string][]int32 `json:"assignment"` // topic → partitions (consumer protocol)
}

// OffsetView is a group's committed offset of one partition and its lag behind the high watermark
// (-1 when the leader did not answer).
type OffsetView struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Committed     int64  `json:"committed"`
	HighWatermark int64  `json:"high_watermark"`
	Lag           int64  `json:"lag"`
	Member        string `json:"member,omitempty"` // the member assigned the partition
	Error         string `json:"error,omitempty"`
}

// GroupView answers GET /v1/groups/{group}.
type GroupView struct {
	Group        string       `json:"group"`
	State        string       `json:"state"`
	ProtocolType string       `json:"protocol_type"`
	Protocol     string       `json:"protocol"`
	Coordinator  int32        `json:"coordinator"`
	Members      []MemberView `json:"members"`
	Offsets      []OffsetView `json:"offsets"`
	TotalLag     int64        `json:"total_lag"`
}

func (s *Server) localGroups(ctx context.Context) ([]GroupSummary, error) {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 4
	resp := s.cfg.Groups.ListGroups(ctx, req)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := make([]GroupSummary, 0, len(resp.Groups))
	for _, g := range resp.Groups {
		out = append(out, GroupSummary{Group: g.Group, State: g.GroupState, ProtocolType: g.ProtocolType, Coordinator: s.cfg.Broker.NodeID()})
	}
	return out, nil
}

func (s *Server) listGroups(ctx context.Context, r *http.Request) (any, error) {
	mine, err := s.localGroups(ctx)
	if err != nil {
		return nil, err
	}
	mine = slices.DeleteFunc(mine, func(g GroupSummary) bool {
		return !s.allowed(r, metadata.OpDescribe, metadata.ResourceGroup, g.Group)
	})
	if local(r) {
		return GroupsView{Groups: mine}, nil
	}
	nodes, err := s.cfg.Broker.LiveNodes(ctx)
	if err != nil {
		return nil, err
	}
	v := GroupsView{Groups: mine}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, n := range nodes {
		if n.ID == s.cfg.Broker.NodeID() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got GroupsView
			err := s.askPeer(ctx, r, n, "/v1/groups", nil, &got)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				v.Errors = append(v.Errors, err.Error())
				return
			}
			v.Groups = append(v.Groups, got.Groups...)
		}()
	}
	wg.Wait()
	sort.Slice(v.Groups, func(i, j int) bool { return v.Groups[i].Group < v.Groups[j].Group })
	sort.Strings(v.Errors)
	return v, nil
}

func (s *Server) getGroup(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("group")
	if name == "" {
		return nil, errorf(http.StatusBadRequest, "group name is empty")
	}
	if err := s.requireGroup(r, name); err != nil {
		return nil, err
	}
	if !s.cfg.Broker.IsCoordinator(name) {
		if local(r) {
			return nil, errorf(http.StatusServiceUnavailable, "node %d does not coordinate group %q", s.cfg.Broker.NodeID(), name)
		}
		n, err := s.cfg.Broker.CoordinatorFor(ctx, name)
		if err != nil {
			return nil, err
		}
		if n.ID != s.cfg.Broker.NodeID() {
			var v GroupView
			if err := s.askPeer(ctx, r, n, "/v1/groups/"+url.PathEscape(name), nil, &v); err != nil {
				return nil, asHTTP(err)
			}
			return v, nil
		}
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{name}
	resp := s.cfg.Groups.DescribeGroups(ctx, req)
	if len(resp.Groups) != 1 {
		return nil, errorf(http.StatusInternalServerError, "describe %q: %d groups answered", name, len(resp.Groups))
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return nil, err
	}
	committed, err := s.cfg.Groups.Committed(ctx, name)
	if err != nil {
		return nil, err
	}
	if g.State == "Dead" && len(committed) == 0 {
		return nil, errorf(http.StatusNotFound, "no group %q", name)
	}
	v := GroupView{Group: name, State: g.State, ProtocolType: g.ProtocolType, Protocol: g.Protocol,
		Coordinator: s.cfg.Broker.NodeID(), Members: []MemberView{}, Offsets: []OffsetView{}}
	owner := map[metadata.TopicPartition]string{}
	for _, m := range g.Members {
		mv := MemberView{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignment: map[string][]int32{}}
		if m.InstanceID != nil {
			mv.InstanceID = *m.InstanceID
		}
		if g.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(m.MemberAssignment); err == nil {
				for _, t := range a.Topics {
					mv.Assignment[t.Topic] = append(mv.Assignment[t.Topic], t.Partitions...)
					for _, p := range t.Partitions {
						owner[metadata.TopicPartition{Topic: t.Topic, Partition: p}] = m.MemberID
					}
				}
			}
		}
		v.Members = append(v.Members, mv)
	}
	// Lag needs each partition's high watermark, which its leader knows: one partition request
	// per topic, answered here and by the leaders as the topic page's is.
	byTopic := map[string]map[int32]bool{}
	for tp := range committed {
		if byTopic[tp.Topic] == nil {
			byTopic[tp.Topic] = map[int32]bool{}
		}
		byTopic[tp.Topic][tp.Partition] = true
	}
	hws := map[metadata.TopicPartition]PartitionView{}
	topicErr := map[string]string{}
	for topic, want := range byTopic {
		t, err := s.cfg.Topics.Topic(ctx, topic)
		if err != nil {
			topicErr[topic] = err.Error()
			continue
		}
		views, err := s.partitionViews(ctx, r, t, want)
		if err != nil {
			topicErr[topic] = err.Error()
			continue
		}
		for _, pv := range views {
			hws[metadata.TopicPartition{Topic: topic, Partition: pv.Partition}] = pv
		}
	}
	for tp, off := range committed {
		o := OffsetView{Topic: tp.Topic, Partition: tp.Partition, Committed: off, HighWatermark: -1, Lag: -1, Member: owner[tp]}
		if pv, ok := hws[tp]; ok && pv.HighWatermark >= 0 {
			o.HighWatermark = pv.HighWatermark
			o.Lag = max(0, pv.HighWatermark-off)
			v.TotalLag += o.Lag
		} else if ok {
			o.Error = pv.Error
		} else {
			o.Error = topicErr[tp.Topic]
		}
		v.Offsets = append(v.Offsets, o)
	}
	sort.Slice(v.Offsets, func(i, j int) bool {
		a, b := v.Offsets[i], v.Offsets[j]
		return a.Topic < b.Topic || a.Topic == b.Topic && a.Partition < b.Partition
	})
	return v, nil
}
