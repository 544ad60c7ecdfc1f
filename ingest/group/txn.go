package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// TxnOffsetCommit checks a transactional offset commit as this group's coordinator and returns
// the offsets to stage in the producer's transaction (ingest/txn stages them; they reach the
// store only when the transaction commits) with the response, whose per-partition codes are set
// for what failed here. A member id (v3+) is checked against the group's generation as
// OffsetCommit checks it; without one (a producer outside the group, or v0–2) nothing is checked,
// as in Kafka. An unknown topic or partition, or oversized metadata, fails that partition only.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) ([]metadata.TxnOffset, *kmsg.TxnOffsetCommitResponse) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) ([]metadata.TxnOffset, *kmsg.TxnOffsetCommitResponse) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
		return nil, resp
	}
	if code := c.groupCode(req.Group); code != 0 {
		return setAll(code)
	}
	if req.Version >= 3 && req.MemberID != "" {
		var code int16
		found := c.locked(req.Group, false, func(g *groupEntry, now time.Time) {
			if g.cg != nil {
				var tps []metadata.TopicPartition
				for _, t := range req.Topics {
					for _, p := range t.Partitions {
						tps = append(tps, metadata.TopicPartition{Topic: t.Topic, Partition: p.Partition})
					}
				}
				code = g.cg.validateCommit(req.MemberID, req.Generation, req.Version, true, tps)
				return
			}
			code = g.m.validateCommit(now, req.Generation, req.MemberID, req.InstanceID)
		})
		switch {
		case !found:
			return setAll(kerr.UnknownMemberID.Code)
		case code != 0:
			return setAll(code)
		}
	}
	tc := topicCache{store: c.cfg.Store}
	var out []metadata.TxnOffset
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
			if req.Version >= 2 {
				epoch = p.LeaderEpoch
			}
			out = append(out, metadata.TxnOffset{Group: req.Group, TopicPartition: tp,
				OffsetCommit: metadata.OffsetCommit{Offset: p.Offset, LeaderEpoch: epoch, Metadata: meta, CommittedAt: now}})
		}
	}
	return out, resp
}
