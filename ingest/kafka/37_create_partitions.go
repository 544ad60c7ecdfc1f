package kafka

// CreatePartitions (key 37), versions 0–3.
//
// Grows a topic to Count partitions (INVALID_PARTITIONS when not larger); new partitions are taken
// by live nodes on their next reconcile (this node's before the answer).
//
// Deviations from Apache Kafka: manual replica assignments are refused with INVALID_REQUEST (there
// are no replicas to place).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.CreatePartitions.Int16(), minVersion: 0, maxVersion: 3, handle: handleCreatePartitions})
}

func handleCreatePartitions(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !s.authorizedTopic(cc, metadata.OpAlter, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		} else if len(rt.Assignment) > 0 {
			st.ErrorCode, st.ErrorMessage = kerr.InvalidRequest.Code, strp("manual replica assignment is not supported")
		} else if err := s.topics.CreatePartitions(ctx, rt.Topic, rt.Count, req.ValidateOnly); err != nil {
			st.ErrorCode, st.ErrorMessage = s.code(err, "create partitions", "topic", rt.Topic), errMsg(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
