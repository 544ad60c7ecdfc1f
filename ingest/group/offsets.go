package group

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func (c *Coordinator) isClosed() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// topicCache looks each topic up once per request.
type topicCache struct {
	store  Store
	topics map[string]topicLookup
}

type topicLookup struct {
	t   metadata.Topic
	err error
}

// check returns the error code for committing or deleting tp.
func (tc *topicCache) check(ctx context.Context, tp metadata.TopicPartition) int16 {
	if tc.topics == nil {
		tc.topics = map[string]topicLookup{}
	}
	l, ok := tc.topics[tp.Topic]
	if !ok {
		l.t, l.err = tc.store.GetTopic(ctx, tp.Topic)
		tc.topics[tp.Topic] = l
	}
	switch {
	case errors.Is(l.err, metadata.ErrNotFound):
		return kerr.UnknownTopicOrPartition.Code
	case l.err != nil:
		return kerr.CoordinatorNotAvailable.Code
	case tp.Partition < 0 || tp.Partition >= l.t.Partitions:
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

// OffsetCommit validates the committer against the group and stores the offsets.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return resp
	}
	if code := c.groupCode(req.Group); code != 0 {
		return setAll(code)
	}
	gen, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version == 0 {
		gen, memberID, instanceID = -1, "", nil
	}
	var code int16
	found := c.locked(req.Group, false, func(g *groupEntry, now time.Time) {
		if g.cg != nil {
			var tps []metadata.TopicPartition
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					tps = append(tps, metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition})
				}
			}
			code = g.cg.validateCommit(memberID, gen, req.Version, false, tps)
			return
		}
		code = g.m.validateCommit(now, gen, memberID, instanceID)
	})
	switch {
	case !found && c.isClosed():
		return setAll(kerr.NotCoordinator.Code)
	case !found && (gen >= 0 || memberID != "" || instanceID != nil):
		// A member of a group this coordinator does not know (lost on a move or restart).
		if req.Version >= 9 {
			return setAll(kerr.GroupIDNotFound.Code)
		}
		return setAll(kerr.IllegalGeneration.Code)
	case code != 0:
		return setAll(code)
	}

	tc := topicCache{store: c.cfg.Store}
	offsets := map[metadata.TopicPartition]metadata.OffsetCommit{}
	now := time.Now()
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			tp := metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			rp := &resp.Topics[i].Partitions[j]
			if rp.ErrorCode = tc.check(ctx, tp); rp.ErrorCode != 0 {
				continue
			}
			var meta string
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			if len(meta) > c.cfg.OffsetMetadataMaxBytes {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = p.LeaderEpoch
			}
			offsets[tp] = metadata.OffsetCommit{Offset: p.Offset, LeaderEpoch: epoch, Metadata: meta, CommittedAt: now}
		}
	}
	if len(offsets) == 0 {
		return resp
	}
	if err := c.cfg.Store.CommitOffsets(ctx, req.Group, offsets); err != nil {
		c.log.Warn("offset commit failed", "group", req.Group, "err", err)
		for i, t := range req.Topics {
			for j, p := range t.Partitions {
				if _, ok := offsets[metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition}]; ok {
					resp.Topics[i].Partitions[j].ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
		}
		return resp
	}
	c.met.commits.Add(float64(len(offsets)))
	return resp
}

// fetchedTopic is one topic of an OffsetFetch answer, before it takes a versioned shape.
type fetchedTopic struct {
	topic      string
	partitions []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  string
	code      int16 // UNSTABLE_OFFSET_COMMIT for a partition a transaction has pending offsets for
}

// fetchGroup reads a group's committed offsets: the requested partitions (-1 where nothing is
// committed), or everything committed when topics is nil.
//
// With requireStable (OffsetFetch v7+), a requested partition for which an ongoing transaction has
// staged offsets (Config.PendingOffsets) answers UNSTABLE_OFFSET_COMMIT: the client retries once
// the transaction ended.
func (c *Coordinator) fetchGroup(ctx context.Context, group string, topics []fetchedTopic, all, requireStable bool) ([]fetchedTopic, int16) {
	if code := c.groupCode(group); code != 0 {
		return nil, code
	}
	if c.isClosed() {
		return nil, kerr.NotCoordinator.Code
	}
	committed, err := c.cfg.Store.FetchOffsets(ctx, group)
	if err != nil {
		c.log.Warn("offset fetch failed", "group", group, "err", err)
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	if all {
		byTopic := map[string][]fetchedPartition{}
		for tp, oc := range committed {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], fetchedPartition{partition: tp.Partition, offset: oc.Offset, epoch: oc.LeaderEpoch, metadata: oc.Metadata})
		}
		for t, ps := range byTopic {
			slices.SortFunc(ps, func(a, b fetchedPartition) int { return cmp.Compare(a.partition, b.partition) })
			topics = append(topics, fetchedTopic{topic: t, partitions: ps})
		}
		slices.SortFunc(topics, func(a, b fetchedTopic) int { return cmp.Compare(a.topic, b.topic) })
		return topics, 0
	}
	var pending map[metadata.TopicPartition]bool
	if requireStable && c.cfg.PendingOffsets != nil {
		if pending, err = c.cfg.PendingOffsets(ctx, group); err != nil {
			c.log.Warn("pending transactional offsets", "group", group, "err", err)
			return nil, kerr.CoordinatorNotAvailable.Code
		}
	}
	for i := range topics {
		for j := range topics[i].partitions {
			p := &topics[i].partitions[j]
			p.offset, p.epoch = -1, -1
			tp := metadata.TopicPartition{Topic: topics[i].topic, Partition: p.partition}
			if oc, ok := committed[tp]; ok {
				p.offset, p.epoch, p.metadata = oc.Offset, oc.LeaderEpoch, oc.Metadata
			}
			if pending[tp] {
				p.offset, p.epoch, p.code = -1, -1, kerr.UnstableOffsetCommit.Code
			}
		}
	}
	return topics, 0
}

// OffsetFetch answers an OffsetFetch request: one group (v0-v7) or many (v8+).
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var want []fetchedTopic
			for _, t := range rg.Topics {
				want = append(want, wantTopic(t.Topic, t.Partitions))
			}
			var got []fetchedTopic
			code := c.groupCode(rg.Group)
			if code == 0 && req.Version >= 9 {
				code = c.consumerFetchCode(rg.Group, rg.MemberID, rg.MemberEpoch)
			}
			if code == 0 {
				got, code = c.fetchGroup(ctx, rg.Group, want, rg.Topics == nil, req.RequireStable)
			}
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			for _, t := range got {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.topic
				for _, p := range t.partitions {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata = p.partition, p.offset, p.epoch, kmsg.StringPtr(p.metadata)
					gp.ErrorCode = p.code
					gt.Partitions = append(gt.Partitions, gp)
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var want []fetchedTopic
	for _, t := range req.Topics {
		want = append(want, wantTopic(t.Topic, t.Partitions))
	}
	got, code := c.fetchGroup(ctx, req.Group, want, req.Topics == nil && req.Version >= 2, req.Version >= 7 && req.RequireStable)
	if code != 0 && req.Version < 2 {
		// No top-level error field before v2: the error goes on every requested partition.
		got = want
	}
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, t := range got {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.topic
		for _, p := range t.partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.offset, p.epoch, kmsg.StringPtr(p.metadata)
			rp.ErrorCode = p.code
			if code != 0 {
				rp.Offset, rp.LeaderEpoch, rp.ErrorCode = -1, -1, code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func wantTopic(topic string, partitions []int32) fetchedTopic {
	t := fetchedTopic{topic: topic}
	for _, p := range partitions {
		t.partitions = append(t.partitions, fetchedPartition{partition: p, offset: -1, epoch: -1})
	}
	return t
}

// Committed returns the group's committed offsets, for consumer-lag reporting.
func (c *Coordinator) Committed(ctx context.Context, group string) (map[metadata.TopicPartition]int64, error) {
	if c == nil {
		return nil, ErrNoCoordinator
	}
	committed, err := c.cfg.Store.FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	out := make(map[metadata.TopicPartition]int64, len(committed))
	for tp, oc := range committed {
		out[tp] = oc.Offset
	}
	return out, nil
}

// OffsetDelete removes committed offsets of partitions no member subscribes to.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp
	}
	subscribed := map[string]bool{}
	found := c.locked(req.Group, false, func(g *groupEntry, _ time.Time) {
		if len(g.m.members) == 0 {
			return
		}
		if g.m.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return
		}
		for _, t := range req.Topics {
			subscribed[t.Topic] = g.m.subscribed(t.Topic)
		}
	})
	if resp.ErrorCode != 0 {
		return resp
	}
	if c.isClosed() {
		resp.ErrorCode = kerr.NotCoordinator.Code
		return resp
	}
	if !found {
		committed, err := c.cfg.Store.FetchOffsets(ctx, req.Group)
		switch {
		case err != nil:
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		case len(committed) == 0:
			resp.ErrorCode = kerr.GroupIDNotFound.Code
			return resp
		}
	}
	tc := topicCache{store: c.cfg.Store}
	var del []metadata.TopicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			tp := metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			switch {
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if rp.ErrorCode = tc.check(ctx, tp); rp.ErrorCode == 0 {
					del = append(del, tp)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(del) == 0 { // an empty list would delete the whole group
		return resp
	}
	if err := c.cfg.Store.DeleteOffsets(ctx, req.Group, del); err != nil {
		c.log.Warn("offset delete failed", "group", req.Group, "err", err)
		resp.Topics = nil
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	return resp
}
