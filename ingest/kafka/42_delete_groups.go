package kafka

// DeleteGroups (key 42), versions 0–3.
//
// Removes empty groups and their committed offsets (NON_EMPTY_GROUP while members remain,
// GROUP_ID_NOT_FOUND for an unknown group), served by ingest/group.Coordinator.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.DeleteGroups.Int16(), minVersion: 0, maxVersion: 3, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.deleteGroups(ctx, cc, req.(*kmsg.DeleteGroupsRequest)), nil
	}})
}
