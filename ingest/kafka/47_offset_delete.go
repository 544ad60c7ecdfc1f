package kafka

// OffsetDelete (key 47), version 0.
//
// Removes committed offsets of partitions that no member of the group subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise; NON_EMPTY_GROUP for a non-empty group whose protocol type
// is not "consumer"), served by ingest/group.Coordinator.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.OffsetDelete.Int16(), minVersion: 0, maxVersion: 0, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.offsetDelete(ctx, cc, req.(*kmsg.OffsetDeleteRequest)), nil
	}})
}
