package kafka

// CreateTopics (key 19), versions 0–7.
//
// Names follow Kafka's rules (INVALID_TOPIC_EXCEPTION); partitions -1 takes num.partitions; configs
// are validated like Kafka's topic configs (INVALID_CONFIG). v5+ answers carry the resulting
// configs (defaults included) and v7+ the topic ID.
//
// Deviations from Apache Kafka: the replication factor is accepted (-1 or ≥ 1) but not used —
// Strata keeps one hot copy and relies on object storage — and is reported back as 1; manual
// replica assignments are refused with INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"

	"github.com/strata-log/strata/ingest/topics"
)

func init() {
	register(api{key: kmsg.CreateTopics.Int16(), minVersion: 0, maxVersion: 7, handle: handleCreateTopics})
}

func handleCreateTopics(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic, st.NumPartitions, st.ReplicationFactor = rt.Topic, -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = strp("topic named more than once in one request")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !s.mayCreateTopic(cc, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if len(rt.ReplicaAssignment) > 0 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = strp("manual replica assignment is not supported")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		cfgs := make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value != nil {
				cfgs[c.Name] = *c.Value
			}
		}
		t, err := s.topics.CreateTopic(ctx, topics.Spec{
			Name: rt.Topic, Partitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor,
			Configs: cfgs, ValidateOnly: req.ValidateOnly,
		})
		if err != nil {
			st.ErrorCode = s.code(err, "create topic", "topic", rt.Topic)
			st.ErrorMessage = errMsg(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID, st.NumPartitions, st.ReplicationFactor = t.ID, t.Partitions, 1
		if req.Version >= 5 {
			entries, err := s.topics.DescribeTopicConfigs(ctx, t.Name, nil)
			if req.ValidateOnly || err != nil {
				entries = nil
			}
			if !s.authorizedTopic(cc, metadata.OpDescribeConfigs, t.Name) {
				entries, st.ConfigErrorCode = nil, kerr.TopicAuthorizationFailed.Code
			}
			for _, e := range entries {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.ReadOnly, c.Source = e.Name, strp(e.Value), e.ReadOnly, int8(e.Source)
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
