package kafka

// ListOffsets (key 2), versions 0–11.
//
// Timestamps: -1 latest (high watermark), -2 earliest (the catalog's log start when tiered data
// reaches below the hot log), -3 max timestamp (v7+), -4 earliest local (v8+, the hot log's
// start), -5 latest tiered (v9+, the last offset in object storage, -1 when nothing is tiered, as
// Apache Kafka answers then), -6 earliest pending upload (v11+, the first offset not yet in object
// storage: the tiered end, or the log start when nothing is tiered), or a time in ms: the first record, tiered or hot, whose timestamp is
// ≥ it, and that record's timestamp, as Kafka answers. v0 returns one old-style offset whatever
// MaxNumOffsets asks. With isolation level 1 (read_committed, v2+) latest is the last stable
// offset (below any open transaction). CurrentLeaderEpoch (v4+) is checked against the lease epoch: older →
// FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH.
//
// Deviations from Apache Kafka: -3 (max timestamp) is answered over the hot log only, not over
// tiered data.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ListOffsets.Int16(), minVersion: 0, maxVersion: 11, handle: handleListOffsets})
}

func handleListOffsets(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		denied := !s.authorizedTopic(cc, metadata.OpDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition, sp.Offset, sp.Timestamp, sp.LeaderEpoch = rp.Partition, -1, -1, -1
			tp := metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if denied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else {
				sp.ErrorCode = listOffset(ctx, s, tp, rp, req.IsolationLevel == 1, &sp)
			}
			if req.Version == 0 && sp.ErrorCode == 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func listOffset(ctx context.Context, s *Server, tp metadata.TopicPartition, rp kmsg.ListOffsetsRequestTopicPartition,
	readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	if c := checkLeaderEpoch(s, tp, rp.CurrentLeaderEpoch); c != 0 {
		return c
	}
	off, ts, err := s.broker.ListOffset(ctx, tp, rp.Timestamp)
	if err == nil && readCommitted && rp.Timestamp == broker.LatestTimestamp {
		off, err = s.broker.LastStableOffset(ctx, tp)
	}
	if err != nil {
		return s.code(err, "list offsets", "partition", tp)
	}
	sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, ts, s.broker.Epoch(tp)
	return 0
}

// checkLeaderEpoch compares a client's idea of the leader epoch with the lease epoch (-1: no check).
func checkLeaderEpoch(s *Server, tp metadata.TopicPartition, clientEpoch int32) int16 {
	if clientEpoch < 0 {
		return 0
	}
	e := s.broker.Epoch(tp)
	switch {
	case e < 0:
		return 0 // not the leader: the broker call answers with the right error
	case clientEpoch < e:
		return kerr.FencedLeaderEpoch.Code
	case clientEpoch > e:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}
