package kafka

// ShareGroupDescribe (key 77), version 1.
//
// KIP-932 share groups' state, epoch, assignor ("simple") and members with their subscriptions
// and assignments, served by ingest/group.Coordinator. Any other group answers GROUP_ID_NOT_FOUND;
// a group cc may not DESCRIBE answers GROUP_AUTHORIZATION_FAILED.
//
// Deviations from Apache Kafka: authorized operations are never filled in; v0 is not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ShareGroupDescribe.Int16(), minVersion: 1, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.ShareGroupDescribeRequest)
		allowed := *req
		allowed.GroupIDs = nil
		var denied []string
		for _, g := range req.GroupIDs {
			if s.authorizedGroup(cc, metadata.OpDescribe, g) {
				allowed.GroupIDs = append(allowed.GroupIDs, g)
			} else {
				denied = append(denied, g)
			}
		}
		resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
		if len(allowed.GroupIDs) > 0 {
			resp = s.groups.ShareGroupDescribe(ctx, &allowed)
		}
		for _, g := range denied {
			rg := kmsg.NewShareGroupDescribeResponseGroup()
			rg.GroupID, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	}})
}
