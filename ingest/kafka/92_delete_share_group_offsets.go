package kafka

// DeleteShareGroupOffsets (key 92), version 0.
//
// Removes an empty share group's state for whole topics (NON_EMPTY_GROUP while it has members),
// served by ingest/group.Coordinator: the stored start offsets and the in-flight state. Needs
// DELETE on the group and READ on each topic, as Kafka.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DeleteShareGroupOffsets.Int16(), minVersion: 0, maxVersion: 0, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
		if d := s.groupDenied(cc, metadata.OpDelete, req.GroupID, req); d != nil {
			return d, nil
		}
		allowed := *req
		allowed.Topics = nil
		var denied []kmsg.DeleteShareGroupOffsetsResponseTopic
		for _, t := range req.Topics {
			if s.authorizedTopic(cc, metadata.OpRead, t.Topic) {
				allowed.Topics = append(allowed.Topics, t)
				continue
			}
			rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, kerr.TopicAuthorizationFailed.Code
			denied = append(denied, rt)
		}
		resp := s.groups.DeleteShareGroupOffsets(ctx, &allowed)
		resp.Topics = append(resp.Topics, denied...)
		return resp, nil
	}})
}
