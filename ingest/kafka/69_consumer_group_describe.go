package kafka

// ConsumerGroupDescribe (key 69), versions 0–1.
//
// KIP-848 consumer groups' state, epochs, assignor and members (subscriptions, current and target
// assignments), served by ingest/group.Coordinator. A classic or unknown group answers
// GROUP_ID_NOT_FOUND, as in Kafka.
//
// Deviations from Apache Kafka: authorized operations are never filled in.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.ConsumerGroupDescribe.Int16(), minVersion: 0, maxVersion: 1, handle: func(ctx context.Context, s *Server, _ *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.groups.ConsumerGroupDescribe(ctx, req.(*kmsg.ConsumerGroupDescribeRequest)), nil
	}})
}
