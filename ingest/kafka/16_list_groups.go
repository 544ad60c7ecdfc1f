package kafka

// ListGroups (key 16), versions 0–5.
//
// The groups this node coordinates, including groups known only from stored offsets (state Empty),
// served by ingest/group.Coordinator. v4 states and v5 types filters match case-insensitively.
//
// KIP-848 consumer groups are of type "consumer" with protocol type "consumer" and their own
// states (Empty, Assigning, Reconciling, Stable).
//
// Deviations from Apache Kafka: a group known only from stored offsets is "classic" (group types
// are not persisted).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.ListGroups.Int16(), minVersion: 0, maxVersion: 5, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.listGroups(ctx, cc, req.(*kmsg.ListGroupsRequest)), nil
	}})
}
