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

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.Heartbeat.Int16(), minVersion: 0, maxVersion: 4, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		if resp := s.groupDenied(cc, metadata.OpRead, req.(*kmsg.HeartbeatRequest).Group, req); resp != nil {
			return resp, nil
		}
		return s.groups.Heartbeat(ctx, req.(*kmsg.HeartbeatRequest)), nil
	}})
}
