package kafka

// LeaveGroup (key 13), versions 0–5.
//
// One member (v0–v2) or a batch of members by member id and/or group.instance.id (v3+, KIP-345),
// served by ingest/group.Coordinator.
//
// Deviations from Apache Kafka: the v5 reason is accepted and not logged.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.LeaveGroup.Int16(), minVersion: 0, maxVersion: 5, handle: func(ctx context.Context, s *Server, _ *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.groups.LeaveGroup(ctx, req.(*kmsg.LeaveGroupRequest)), nil
	}})
}
