package kafka

// SyncGroup (key 14), versions 0–5.
//
// The leader hands out the assignment and every member gets its own, served by
// ingest/group.Coordinator. v5 protocol type/name are checked against the group's
// (INCONSISTENT_GROUP_PROTOCOL on a mismatch).
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.SyncGroup.Int16(), minVersion: 0, maxVersion: 5, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		if resp := s.groupDenied(cc, metadata.OpRead, req.(*kmsg.SyncGroupRequest).Group, req); resp != nil {
			return resp, nil
		}
		return s.groups.SyncGroup(ctx, req.(*kmsg.SyncGroupRequest)), nil
	}})
}
