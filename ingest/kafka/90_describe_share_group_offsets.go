package kafka

// DescribeShareGroupOffsets (key 90), versions 0–1.
//
// A share group's start offsets (SPSO) per partition, served by ingest/group.Coordinator: the live
// share partition's on this node, else the stored one, else -1 (not initialized). Null topics
// describe every partition the group has state for. Needs DESCRIBE on the group
// (GROUP_AUTHORIZATION_FAILED) and on each topic (TOPIC_AUTHORIZATION_FAILED), as Kafka.
//
// Deviations from Apache Kafka: v1's lag is -1 (unknown); leader epochs are -1.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DescribeShareGroupOffsets.Int16(), minVersion: 0, maxVersion: 1, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
		allowed := *req
		allowed.Groups = nil
		var denied []string
		for _, g := range req.Groups {
			if s.authorizedGroup(cc, metadata.OpDescribe, g.GroupID) {
				allowed.Groups = append(allowed.Groups, g)
			} else {
				denied = append(denied, g.GroupID)
			}
		}
		resp := s.groups.DescribeShareGroupOffsets(ctx, &allowed)
		resp.Version = req.Version
		for gi := range resp.Groups {
			for ti := range resp.Groups[gi].Topics {
				t := &resp.Groups[gi].Topics[ti]
				if s.authorizedTopic(cc, metadata.OpDescribe, t.Topic) {
					continue
				}
				for pi := range t.Partitions {
					t.Partitions[pi].ErrorCode, t.Partitions[pi].StartOffset = kerr.TopicAuthorizationFailed.Code, -1
				}
			}
		}
		for _, g := range denied {
			rg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
			rg.GroupID, rg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil
	}})
}
