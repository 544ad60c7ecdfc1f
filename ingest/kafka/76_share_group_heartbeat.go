package kafka

// ShareGroupHeartbeat (key 76), version 1.
//
// KIP-932 share group membership, served by ingest/group.Coordinator: a member joins with epoch 0
// and its subscription, leaves with -1, and in between heartbeats to stay in the group and hear
// its assignment when it changes. Every member is assigned every partition of the topics it
// subscribes to (records are shared, not partitions). Needs READ on the group and DESCRIBE on each
// subscribed topic (TOPIC_AUTHORIZATION_FAILED otherwise), as Kafka.
//
// Deviations from Apache Kafka: membership lives in the coordinator's memory (after a coordinator
// move members hear UNKNOWN_MEMBER_ID and rejoin); Kafka's simple assignor spreads partitions over
// members when there are more partitions than members, this one gives each member all of them; v0
// (early access) is not served.

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ShareGroupHeartbeat.Int16(), minVersion: 1, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.ShareGroupHeartbeatRequest)
		if resp := s.groupDenied(cc, metadata.OpRead, req.GroupID, req); resp != nil {
			return resp, nil
		}
		var denied []string
		for _, t := range req.SubscribedTopicNames {
			if !s.authorizedTopic(cc, metadata.OpDescribe, t) {
				denied = append(denied, t)
			}
		}
		if len(denied) > 0 {
			resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.ErrorMessage = strp("not authorized to describe the subscribed topics " + strings.Join(denied, ", "))
			return resp, nil
		}
		return s.groups.ShareGroupHeartbeat(group.WithClient(ctx, requestClientID(ctx), clientHost(cc)), req), nil
	}})
}
