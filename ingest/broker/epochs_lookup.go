package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101, KIP-320) for a partition this node
// leads: the largest epoch ≤ epoch that wrote to the log and the offset where the next epoch
// begins — the log end for the current lease epoch, (-1, -1) for an epoch above it; see
// tier.PartitionLog.EndOffsetForEpoch. currentEpoch is the client's idea of the leader epoch (-1:
// no check): older than the lease's is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH. Errors are
// Kafka errors (Code): NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, and for a failed read
// of the log KAFKA_STORAGE_ERROR or REQUEST_TIMED_OUT, which clients retry.
func (b *Broker) EndOffsetForEpoch(ctx context.Context, tp metadata.TopicPartition, epoch, currentEpoch int32) (leaderEpoch int32, end int64, err error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return -1, -1, err
	}
	cur := p.currentLease().Epoch
	switch {
	case currentEpoch >= 0 && currentEpoch < cur:
		return -1, -1, kafkaErr(kerr.FencedLeaderEpoch, "%s: leader epoch %d, client has %d", tp, cur, currentEpoch)
	case currentEpoch > cur:
		return -1, -1, kafkaErr(kerr.UnknownLeaderEpoch, "%s: leader epoch %d, client has %d", tp, cur, currentEpoch)
	}
	leaderEpoch, end, err = p.plog.EndOffsetForEpoch(ctx, epoch, cur)
	if err != nil {
		return -1, -1, failedRead(ctx, tp, fmt.Sprintf("end offset of epoch %d", epoch), err)
	}
	return leaderEpoch, end, nil
}
