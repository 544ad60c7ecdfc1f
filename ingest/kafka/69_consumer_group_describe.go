package kafka

// ConsumerGroupDescribe (key 69), versions 0–1.
//
// KIP-848 consumer groups' state, epochs, assignor and members (subscriptions, current and target
// assignments), served by ingest/group.Coordinator. A classic or unknown group answers
// GROUP_ID_NOT_FOUND, as in Kafka.
//
// Deviations from Apache Kafka: authorized operations are never filled in.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ConsumerGroupDescribe.Int16(), minVersion: 0, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		// Groups cc may not DESCRIBE answer GROUP_AUTHORIZATION_FAILED; the rest are described.
		req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
		allowed := *req
		allowed.Groups = nil
		var denied []string
		for _, g := range req.Groups {
			if s.authorizedGroup(cc, metadata.OpDescribe, g) {
				allowed.Groups = append(allowed.Groups, g)
			} else {
				denied = append(denied, g)
			}
		}
		resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		if len(allowed.Groups) > 0 {
			resp = s.groups.ConsumerGroupDescribe(ctx, &allowed)
		}
		for _, g := range denied {
			rg := kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	}})
}
