package kafka

// CreateAcls (key 30), versions 1–3.
//
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED for every creation otherwise). Each
// creation is validated on its own (INVALID_REQUEST: an unknown or ANY/MATCH enum value, a
// cluster resource not named kafka-cluster, a principal that is not Type:name, an empty host);
// the valid ones are stored together. Creating an ACL that exists succeeds and stores nothing new.
// They apply on this node before the answer, and on the others within their watch's latency.
// Without an authorizer the answer is SECURITY_DISABLED, as in Kafka.
//
// Deviations from Apache Kafka: only the topic, group, cluster and transactional id resource
// types are accepted (delegation token and user ACLs answer INVALID_REQUEST: Strata has neither
// delegation tokens nor quotas).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.CreateACLs.Int16(), minVersion: 1, maxVersion: 3, handle: handleCreateACLs})
}

func handleCreateACLs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
	}
	if code := s.aclAPICheck(cc, metadata.OpAlter); code != 0 {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = code
		}
		return resp, nil
	}
	var valid []metadata.ACL
	var at []int
	for i, c := range req.Creations {
		a := metadata.ACL{ResourceType: metadata.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: metadata.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: metadata.ACLOperation(c.Operation), Permission: metadata.ACLPermission(c.PermissionType)}
		if err := a.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = aclErrCode(s, err, "create acls"), errMsg(err)
			continue
		}
		valid, at = append(valid, a), append(at, i)
	}
	if len(valid) == 0 {
		return resp, nil
	}
	if err := s.cfg.Authorizer.Create(ctx, valid); err != nil {
		code, msg := aclErrCode(s, err, "create acls"), errMsg(err)
		for _, i := range at {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
	}
	return resp, nil
}
