package kafka

// OffsetFetch (key 9), versions 0–10.
//
// A group's committed offsets (v0–v7 one group, v8+ many), served by ingest/group.Coordinator. A
// partition with no commit answers offset -1; a null topic list (v2+) returns everything committed.
// With require_stable (v7+), a requested partition for which an ongoing transaction has staged
// offsets answers UNSTABLE_OFFSET_COMMIT (clients retry).
//
// The v9 member id and epoch are checked against a KIP-848 consumer group (UNKNOWN_MEMBER_ID,
// STALE_MEMBER_EPOCH); without them (an admin) nothing is checked.
//
// v10 names topics by ID (topic_ids.go): an ID that names no topic answers UNKNOWN_TOPIC_ID, and
// of the "all topics" answer the topics that no longer exist are left out.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.OffsetFetch.Int16(), minVersion: 0, maxVersion: 10, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.offsetFetchByID(ctx, cc, req.(*kmsg.OffsetFetchRequest)), nil
	}})
}
