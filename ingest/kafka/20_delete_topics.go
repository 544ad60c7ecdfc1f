package kafka

// DeleteTopics (key 20), versions 0–6.
//
// v6 names topics by name or topic ID. The topic leaves the catalog at once; its partitions stop
// being served and local hot logs are removed by each leader's next reconcile (this node's before
// the answer).
//
// Deviations from Apache Kafka: objects already tiered are left for the retention sweeper rather
// than deleted synchronously.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DeleteTopics.Int16(), minVersion: 0, maxVersion: 6, handle: handleDeleteTopics})
}

func handleDeleteTopics(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		targets = nil
		for _, n := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = strp(n)
			targets = append(targets, t)
		}
	}
	var byID map[metadata.TopicID]string
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else {
			if byID == nil {
				topics, err := s.topics.Topics(ctx)
				if err != nil {
					return nil, err
				}
				byID = make(map[metadata.TopicID]string, len(topics))
				for _, t := range topics {
					byID[t.ID] = t.Name
				}
			}
			n, ok := byID[rt.TopicID]
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			name, st.Topic = n, strp(n)
		}
		if !s.authorizedTopic(cc, metadata.OpDelete, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t, err := s.topics.Topic(ctx, name); err == nil {
			st.TopicID = t.ID
		}
		if err := s.topics.DeleteTopic(ctx, name); err != nil {
			st.ErrorCode = s.code(err, "delete topic", "topic", name)
			st.ErrorMessage = errMsg(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
