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

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.LeaveGroup.Int16(), minVersion: 0, maxVersion: 5, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		if resp := s.groupDenied(cc, metadata.OpRead, req.(*kmsg.LeaveGroupRequest).Group, req); resp != nil {
			return resp, nil
		}
		return s.groups.LeaveGroup(ctx, req.(*kmsg.LeaveGroupRequest)), nil
	}})
}
