package kafka

// DescribeProducers (key 61), version 0.
//
// Lists, per partition this node leads, the producers whose state the leader holds: producer id,
// epoch, last sequence, last timestamp and the first offset of an open transaction (-1: none).
// Partitions led elsewhere answer NOT_LEADER_OR_FOLLOWER.
//
// Deviations from Apache Kafka: the coordinator epoch is always -1 (markers carry none); the
// state is what the leader rebuilt from the tail of its log, so producers idle beyond that window
// are not listed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DescribeProducers.Int16(), minVersion: 0, maxVersion: 0, handle: handleDescribeProducers})
}

func handleDescribeProducers(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			tp := metadata.TopicPartition{Topic: rt.Topic, Partition: p}
			if !s.authorizedTopic(cc, metadata.OpRead, rt.Topic) {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			ps, err := s.broker.Producers(ctx, tp)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = s.code(err, "describe producers", "partition", tp), errMsg(err)
			}
			for _, pi := range ps {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence, ap.LastTimestamp = pi.ProducerID, int32(pi.ProducerEpoch), pi.LastSequence, pi.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, pi.TxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
