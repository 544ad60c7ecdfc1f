package kafka

// DescribeConfigs (key 32), versions 0–4.
//
// Topic resources list every known topic config: explicitly set values with source
// DYNAMIC_TOPIC_CONFIG, the rest with their defaults, IsDefault and source DEFAULT_CONFIG; v3+
// carries config types. Broker resources list the static broker defaults topics inherit (read-only,
// STATIC_BROKER_CONFIG); a broker id other than this node's (or empty) is answered from this node's
// values since every node shares them.
//
// Deviations from Apache Kafka: no synonyms and no documentation strings; broker-logger resources
// answer INVALID_REQUEST.

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"

	"github.com/strata-log/strata/ingest/topics"
)

func init() {
	register(api{key: kmsg.DescribeConfigs.Int16(), minVersion: 0, maxVersion: 4, handle: handleDescribeConfigs})
}

func handleDescribeConfigs(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []topics.ConfigEntry
		var err error
		switch code := s.configsDenied(cc, metadata.OpDescribeConfigs, rr.ResourceType, rr.ResourceName); {
		case code != 0:
			sr.ErrorCode = code
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			entries, err = s.topics.DescribeTopicConfigs(ctx, rr.ResourceName, rr.ConfigNames)
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			if _, perr := strconv.ParseInt(rr.ResourceName, 10, 32); rr.ResourceName != "" && perr != nil {
				sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("broker resource name must be a node id")
				break
			}
			entries = s.topics.DescribeBrokerConfigs(rr.ConfigNames)
		case rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig:
			entries = s.describeGroupConfigs(rr.ResourceName, rr.ConfigNames)
		default:
			sr.ErrorCode, sr.ErrorMessage = kerr.InvalidRequest.Code, strp("unsupported resource type")
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = s.code(err, "describe configs", "resource", rr.ResourceName), errMsg(err)
		}
		for _, e := range entries {
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.IsDefault = e.Name, strp(e.Value), e.ReadOnly, e.IsDefault
			c.Source, c.ConfigType = e.Source, e.Type
			if req.Version == 0 && e.Source == kmsg.ConfigSourceStaticBrokerConfig {
				c.IsDefault = false
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
