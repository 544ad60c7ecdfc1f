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
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ConsumerGroupHeartbeat.Int16(), minVersion: 0, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
		if resp := s.groupDenied(cc, metadata.OpRead, req.Group, req); resp != nil {
			return resp, nil
		}
		if resp := s.subscriptionDenied(cc, req); resp != nil {
			return resp, nil
		}
		return s.groups.ConsumerGroupHeartbeat(group.WithClient(ctx, requestClientID(ctx), clientHost(cc)), req), nil
	}})
}

// subscriptionDenied is the TOPIC_AUTHORIZATION_FAILED answer to a heartbeat subscribing to topics
// by name when cc may not DESCRIBE one of them (as Kafka answers), else nil. Topics a regex
// subscription matches are not filtered by the member's ACLs.
func (s *Server) subscriptionDenied(cc *clientConn, req *kmsg.ConsumerGroupHeartbeatRequest) kmsg.Response {
	var denied []string
	for _, t := range req.SubscribedTopicNames {
		if !s.authorizedTopic(cc, metadata.OpDescribe, t) {
			denied = append(denied, t)
		}
	}
	if len(denied) == 0 {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
	msg := "not authorized to describe the subscribed topics " + strings.Join(denied, ", ")
	resp.ErrorMessage = &msg
	return resp
}
