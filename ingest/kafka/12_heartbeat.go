package kafka

// Heartbeat (key 12), versions 0–4.
//
// Keeps a group member's session alive and tells it about a pending rebalance
// (REBALANCE_IN_PROGRESS), served by ingest/group.Coordinator.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.Heartbeat.Int16(), minVersion: 0, maxVersion: 4, handle: func(ctx context.Context, s *Server, _ *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.groups.Heartbeat(ctx, req.(*kmsg.HeartbeatRequest)), nil
	}})
}
