package kafka

// OffsetCommit (key 8), versions 0–10.
//
// Stores a group's consumed positions in the metadata store, served by ingest/group.Coordinator.
// Members are checked by generation and member id; a simple consumer (generation -1, no member id)
// may commit while the group has no members. In a KIP-848 consumer group the generation is the
// member epoch: members must use v9+ (UNSUPPORTED_VERSION before), and a commit with an older epoch
// is accepted for the partitions the member has owned since that epoch (Kafka 4.3), else
// STALE_MEMBER_EPOCH.
//
// v10 names topics by ID (topic_ids.go): an ID that names no topic answers UNKNOWN_TOPIC_ID.
//
// Deviations from Apache Kafka: the v1 commit timestamp and the v2–v4 retention time are ignored
// (offsets do not expire).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.OffsetCommit.Int16(), minVersion: 0, maxVersion: 10, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.offsetCommitByID(ctx, cc, req.(*kmsg.OffsetCommitRequest)), nil
	}})
}
