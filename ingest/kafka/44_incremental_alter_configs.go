package kafka

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// SET, DELETE, APPEND and SUBTRACT (the last two for list configs such as cleanup.policy) on topic
// configs, validated like Kafka (INVALID_CONFIG), applied atomically per topic. ValidateOnly checks
// without storing.
//
// Deviations from Apache Kafka: broker configs are static — broker resources answer
// INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"

	"github.com/strata-log/strata/ingest/topics"
)

func init() {
	register(api{key: kmsg.IncrementalAlterConfigs.Int16(), minVersion: 0, maxVersion: 1, handle: handleIncrementalAlterConfigs})
}

func handleIncrementalAlterConfigs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		switch code := s.configsDenied(cc, metadata.OpAlterConfigs, rr.ResourceType, rr.ResourceName); {
		case code != 0:
			sr.ErrorCode = code
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			ops := make([]topics.ConfigOp, 0, len(rr.Configs))
			for _, c := range rr.Configs {
				ops = append(ops, topics.ConfigOp{Name: c.Name, Op: c.Op, Value: c.Value})
			}
			if err := s.topics.AlterTopicConfigs(ctx, rr.ResourceName, ops, req.ValidateOnly); err != nil {
				sr.ErrorCode, sr.ErrorMessage = s.code(err, "incremental alter configs", "topic", rr.ResourceName), errMsg(err)
			}
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("broker configs are static")
		case rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig:
			sr.ErrorCode, sr.ErrorMessage = s.alterGroupConfigs(rr, req.ValidateOnly)
		default:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("unsupported resource type")
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
