package kafka

// JoinGroup (key 11), versions 0–9.
//
// The classic group protocol's join phase, served by ingest/group.Coordinator. v4+ first joins
// without a member id get MEMBER_ID_REQUIRED (KIP-394); v5+ static members (group.instance.id) are
// supported; v9 SkipAssignment is set only for a static leader that rejoins a Stable group without
// changes (KIP-814).
//
// Deviations from Apache Kafka: the initial rebalance delay defaults to 300ms instead of 3s; a
// static member that rejoins outside the Stable state triggers a rebalance.

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.JoinGroup.Int16(), minVersion: 0, maxVersion: 9, handle: func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error) {
		if resp := s.groupDenied(cc, metadata.OpRead, req.(*kmsg.JoinGroupRequest).Group, req); resp != nil {
			return resp, nil
		}
		return s.groups.JoinGroup(group.WithClient(ctx, requestClientID(ctx), clientHost(cc)), req.(*kmsg.JoinGroupRequest)), nil
	}})
}

// clientHost is the member's host as Kafka shows it in DescribeGroups ("/" + IP).
func clientHost(cc *clientConn) string {
	if cc == nil || cc.nc == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(cc.nc.RemoteAddr().String())
	if err != nil {
		return ""
	}
	return "/" + host
}
