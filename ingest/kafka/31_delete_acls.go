package kafka

// DeleteAcls (key 31), versions 1–3.
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED for every filter otherwise). Filters
// match as DescribeAcls's; each filter's result lists the ACLs it deleted, and an ACL two
// filters match is reported by the first. The deletions apply on this node before the answer, and
// on the others within their watch's latency. Without an authorizer the answer is
// SECURITY_DISABLED, as in Kafka.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DeleteACLs.Int16(), minVersion: 1, maxVersion: 3, handle: handleDeleteACLs})
}

func handleDeleteACLs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	code := s.aclAPICheck(cc, metadata.OpAlter)
	for _, rf := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		if code != 0 {
			r.ErrorCode = code
			resp.Results = append(resp.Results, r)
			continue
		}
		f := metadata.ACLFilter{ResourceType: metadata.ResourceType(rf.ResourceType), ResourceName: rf.ResourceName,
			PatternType: metadata.PatternType(rf.ResourcePatternType), Principal: rf.Principal, Host: rf.Host,
			Operation: metadata.ACLOperation(rf.Operation), Permission: metadata.ACLPermission(rf.PermissionType)}
		deleted, err := s.cfg.Authorizer.Delete(ctx, f)
		if err != nil {
			r.ErrorCode, r.ErrorMessage = aclErrCode(s, err, "delete acls"), errMsg(err)
		}
		for _, a := range deleted {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			r.MatchingACLs = append(r.MatchingACLs, m)
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
