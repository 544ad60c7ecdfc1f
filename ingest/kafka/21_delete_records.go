package kafka

// DeleteRecords (key 21), versions 0–2.
//
// Moves a partition's log start forward (offset -1: to the high watermark), first in the catalog
// (fenced by the leader epoch) then in the hot log; whole segments below it are deleted locally.
// An offset above the high watermark is OFFSET_OUT_OF_RANGE, as in Kafka.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DeleteRecords.Int16(), minVersion: 0, maxVersion: 2, handle: handleDeleteRecords})
}

func handleDeleteRecords(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			tp := metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if !s.authorizedTopic(cc, metadata.OpDelete, rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			low, err := s.broker.DeleteRecords(ctx, tp, rp.Offset)
			if err != nil {
				sp.ErrorCode = s.code(err, "delete records", "partition", tp)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
