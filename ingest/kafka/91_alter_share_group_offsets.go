package kafka

// AlterShareGroupOffsets (key 91), version 0.
//
// Sets an empty share group's start offsets (SPSO), creating the group if unknown
// (NON_EMPTY_GROUP while it has members), served by ingest/group.Coordinator; the partitions'
// in-flight state is dropped. Needs READ on the group and on each topic, as Kafka.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.AlterShareGroupOffsets.Int16(), minVersion: 0, maxVersion: 0, handle: func(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
		req := kreq.(*kmsg.AlterShareGroupOffsetsRequest)
		if d := s.groupDenied(cc, metadata.OpRead, req.GroupID, req); d != nil {
			return d, nil
		}
		allowed := *req
		allowed.Topics = nil
		var denied []kmsg.AlterShareGroupOffsetsResponseTopic
		for _, t := range req.Topics {
			if s.authorizedTopic(cc, metadata.OpRead, t.Topic) {
				allowed.Topics = append(allowed.Topics, t)
				continue
			}
			rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			denied = append(denied, rt)
		}
		resp := s.groups.AlterShareGroupOffsets(ctx, &allowed)
		resp.Topics = append(resp.Topics, denied...)
		return resp, nil
	}})
}
