package kafka

// AlterConfigs (key 33), versions 0–2.
//
// Replaces a topic's explicit configs with the given set (configs not named revert to their
// defaults), validated like Kafka's topic configs (INVALID_CONFIG). ValidateOnly checks without
// storing.
//
// Deviations from Apache Kafka: broker configs are static in Strata — broker resources answer
// INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.AlterConfigs.Int16(), minVersion: 0, maxVersion: 2, handle: handleAlterConfigs})
}

func handleAlterConfigs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		switch code := s.configsDenied(cc, metadata.OpAlterConfigs, rr.ResourceType, rr.ResourceName); {
		case code != 0:
			sr.ErrorCode = code
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			cfgs := make(map[string]string, len(rr.Configs))
			for _, c := range rr.Configs {
				if c.Value != nil {
					cfgs[c.Name] = *c.Value
				}
			}
			if err := s.topics.SetTopicConfigs(ctx, rr.ResourceName, cfgs, req.ValidateOnly); err != nil {
				sr.ErrorCode, sr.ErrorMessage = s.code(err, "alter configs", "topic", rr.ResourceName), errMsg(err)
			}
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("broker configs are static")
		default:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("unsupported resource type")
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
