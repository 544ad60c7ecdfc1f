package kafka

// DescribeGroups (key 15), versions 0–6.
//
// State, protocol and members (metadata and assignment once Stable) of each group, served by
// ingest/group.Coordinator. A group known only from stored offsets is Empty; an unknown group is
// Dead, with GROUP_ID_NOT_FOUND from v6; so is a KIP-848 consumer group, as in Kafka (its describe
// is ConsumerGroupDescribe).
//
// Deviations from Apache Kafka: authorized operations (v3+) are filled in only with an
// authorizer; a group's protocol type is not persisted, so after a restart an offsets-only group
// shows "".

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.DescribeGroups.Int16(), minVersion: 0, maxVersion: 6, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.describeGroups(ctx, cc, req.(*kmsg.DescribeGroupsRequest)), nil
	}})
}
