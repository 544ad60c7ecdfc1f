package kafka

// DescribeAcls (key 29), versions 1–3.
//
// Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise). The filter matches as in
// Kafka: resource type, name and pattern (ANY, MATCH, LITERAL, PREFIXED), principal, host,
// operation and permission, null and ANY matching everything; an unknown enum value is
// INVALID_REQUEST. ACLs are read from the metadata service and grouped by resource pattern.
// Without an authorizer the answer is SECURITY_DISABLED, as in Kafka.
//
// No deviations from Apache Kafka.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DescribeACLs.Int16(), minVersion: 1, maxVersion: 3, handle: handleDescribeACLs})
}

func handleDescribeACLs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if resp.ErrorCode = s.aclAPICheck(cc, metadata.OpDescribe); resp.ErrorCode != 0 {
		return resp, nil
	}
	f := metadata.ACLFilter{ResourceType: metadata.ResourceType(req.ResourceType), ResourceName: req.ResourceName,
		PatternType: metadata.PatternType(req.ResourcePatternType), Principal: req.Principal, Host: req.Host,
		Operation: metadata.ACLOperation(req.Operation), Permission: metadata.ACLPermission(req.PermissionType)}
	acls, err := s.cfg.Authorizer.Describe(ctx, f)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = aclErrCode(s, err, "describe acls"), errMsg(err)
		return resp, nil
	}
	// acls are ordered by resource type, name and pattern: each run is one resource.
	for _, a := range acls {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.ResourceType) ||
			resp.Resources[n-1].ResourceName != a.ResourceName ||
			resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.PatternType) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
			r.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host = a.Principal, a.Host
		e.Operation, e.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp, nil
}

// aclAPICheck is the error code of an ACL API call before it runs: SECURITY_DISABLED without an
// authorizer, CLUSTER_AUTHORIZATION_FAILED without op on the cluster, else 0.
func (s *Server) aclAPICheck(cc *clientConn, op metadata.ACLOperation) int16 {
	switch {
	case s.cfg.Authorizer == nil:
		return kerr.SecurityDisabled.Code
	case !s.authorizedCluster(cc, op):
		return kerr.ClusterAuthorizationFailed.Code
	}
	return 0
}

// aclErrCode maps an ACL store error: INVALID_REQUEST for an invalid ACL or filter, else the
// broker's mapping (UNKNOWN_SERVER_ERROR, logged, for a failed metadata service).
func aclErrCode(s *Server, err error, what string) int16 {
	if errors.Is(err, metadata.ErrInvalidACL) {
		return kerr.InvalidRequest.Code
	}
	return s.code(err, what)
}
