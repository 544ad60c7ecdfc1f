package kafka

// OffsetForLeaderEpoch (key 23), versions 0–4.
//
// For each partition, the end offset of the requested leader epoch on the partition's leader
// (KIP-101; consumers use it after a leader change to detect a truncated log, KIP-320): the
// largest epoch ≤ LeaderEpoch that wrote to the log, and the offset where the next epoch begins;
// the log end for the current epoch; UNDEFINED_EPOCH_OFFSET (epoch -1, offset -1) for an epoch
// above the current one; for an epoch below every epoch left in the log, that epoch and the first
// remaining offset. The epochs are read from the batches' PartitionLeaderEpoch, which the leader
// stamps on every append. CurrentLeaderEpoch (v2+) is checked against the lease epoch: older →
// FENCED_LEADER_EPOCH, newer → UNKNOWN_LEADER_EPOCH. A node that does not lead the partition
// answers NOT_LEADER_OR_FOLLOWER. ReplicaID (v3+) is not used, as in Kafka, whose leader answers
// consumers and followers alike.
//
// Deviations from Apache Kafka: versions 0–1, which Kafka 4 no longer serves, are still answered
// (v0 carries no epoch in the response). An epoch whose leader wrote nothing leaves no trace in
// the log, as in Kafka once a later epoch begins at the same offset.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.OffsetForLeaderEpoch.Int16(), minVersion: 0, maxVersion: 4, handle: handleOffsetForLeaderEpoch})
}

func handleOffsetForLeaderEpoch(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			tp := metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			current := rp.CurrentLeaderEpoch
			if req.Version < 2 {
				current = -1 // not in the request before v2
			}
			if !s.authorizedTopic(cc, metadata.OpDescribe, rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			epoch, end, err := s.broker.EndOffsetForEpoch(ctx, tp, rp.LeaderEpoch, current)
			if err != nil {
				sp.ErrorCode = s.code(err, "offset for leader epoch", "partition", tp)
			} else {
				sp.LeaderEpoch, sp.EndOffset = epoch, end
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
