package kafka

// ConsumerGroupHeartbeat (key 68), versions 0–1.
//
// The KIP-848 consumer group protocol, served by ingest/group.Coordinator: a member joins with
// epoch 0, leaves with -1 (-2: a static member that will return), and in between heartbeats its
// owned partitions and receives its assignment from a server-side assignor ("uniform", the
// default, or "range"). Partitions move to a member only after their previous owner reported them
// released. v0 joins without a member id get one from the coordinator; v1 clients make their own.
//
// Deviations from Apache Kafka: membership lives in the coordinator's memory, as for classic
// groups: after a coordinator move members hear UNKNOWN_MEMBER_ID and rejoin with epoch 0 (their
// committed offsets are kept). A classic member cannot join a consumer group, nor a consumer
// member a classic group with members (no online migration). Rack-aware assignment is not done.
// Subscription regexes are RE2, as in Kafka (RE2/J), matched against whole topic names.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
)

func init() {
	register(api{key: kmsg.ConsumerGroupHeartbeat.Int16(), minVersion: 0, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		return s.groups.ConsumerGroupHeartbeat(group.WithClient(ctx, requestClientID(ctx), clientHost(cc)), req.(*kmsg.ConsumerGroupHeartbeatRequest)), nil
	}})
}
