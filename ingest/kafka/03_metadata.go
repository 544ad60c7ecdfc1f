package kafka

// Metadata (key 3), versions 0–13.
//
// The top-level error code (v13, KIP-1102: REBOOTSTRAP_REQUIRED) is always 0.
// Brokers are the live nodes of the node registry; a partition's leader is the holder of its lease
// (LEADER_NOT_AVAILABLE with leader -1 while no live node holds it). The controller is the live
// node with the lowest id. Topics are auto-created when the request allows it (v0–3 always, v4+
// AllowAutoTopicCreation) and the broker's auto.create.topics.enable is on. Topic IDs (v10+) are
// the catalog's topic IDs; topics may be requested by ID. __consumer_offsets, Strata's one internal
// topic (a changelog of committed offsets, topics.OffsetsTopic), is marked is_internal.
//
// Deviations from Apache Kafka: replicas and ISR name the leader only — Strata keeps one hot copy
// and makes data durable in object storage instead of replicating between brokers; authorized
// operations are computed only with an authorizer (authz.go). With one, topics the caller may not
// DESCRIBE are left out of an all-topics answer and answer TOPIC_AUTHORIZATION_FAILED when
// named, and auto-creation needs CREATE on the cluster or the topic, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.Metadata.Int16(), minVersion: 0, maxVersion: 13, handle: handleMetadata})
}

func handleMetadata(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	nodes, err := s.liveNodes(ctx)
	if err != nil {
		return nil, err // without a broker list there is no meaningful answer
	}
	live := make(map[int32]bool, len(nodes))
	for _, n := range nodes {
		host, port := splitHostPort(n.KafkaAddr)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = n.ID, host, port
		if n.Rack != "" {
			b.Rack = strp(n.Rack)
		}
		resp.Brokers = append(resp.Brokers, b)
		live[n.ID] = true
	}
	resp.ClusterID = strp(s.cfg.ClusterID)
	resp.ControllerID = nodes[0].ID
	if req.IncludeClusterAuthorizedOperations {
		if bits, ok := s.authorizedOps(cc, metadata.ResourceCluster, metadata.ClusterResourceName); ok {
			resp.AuthorizedOperations = bits
		}
	}

	leases, err := s.broker.Leaders(ctx)
	if err != nil {
		return nil, err
	}
	describe := func(t metadata.Topic) kmsg.MetadataResponseTopic {
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic, rt.TopicID, rt.IsInternal = strp(t.Name), t.ID, topics.IsInternal(t.Name)
		for i := int32(0); i < t.Partitions; i++ {
			rp := kmsg.NewMetadataResponseTopicPartition()
			rp.Partition = i
			l, ok := leases[metadata.TopicPartition{Topic: t.Name, Partition: i}]
			if ok && live[l.Node] {
				rp.Leader, rp.LeaderEpoch = l.Node, l.Epoch
				rp.Replicas, rp.ISR = []int32{l.Node}, []int32{l.Node}
			} else {
				rp.ErrorCode = kerr.LeaderNotAvailable.Code
				rp.Leader, rp.LeaderEpoch = -1, -1
				rp.Replicas, rp.ISR = []int32{}, []int32{}
			}
			rp.OfflineReplicas = []int32{}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if req.IncludeTopicAuthorizedOperations {
			if bits, ok := s.authorizedOps(cc, metadata.ResourceTopic, t.Name); ok {
				rt.AuthorizedOperations = bits
			}
		}
		return rt
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		topics, err := s.topics.Topics(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range topics {
			if s.authorizedTopic(cc, metadata.OpDescribe, t.Name) { // the others stay hidden
				resp.Topics = append(resp.Topics, describe(t))
			}
		}
		return resp, nil
	}

	autoCreate := req.Version < 4 || req.AllowAutoTopicCreation
	var byID map[metadata.TopicID]metadata.Topic
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			// By topic ID (v10+).
			if byID == nil {
				topics, err := s.topics.Topics(ctx)
				if err != nil {
					return nil, err
				}
				byID = make(map[metadata.TopicID]metadata.Topic, len(topics))
				for _, t := range topics {
					byID[t.ID] = t
				}
			}
			t, ok := byID[rt.TopicID]
			if ok && s.authorizedTopic(cc, metadata.OpDescribe, t.Name) {
				resp.Topics = append(resp.Topics, describe(t))
				continue
			}
			et := kmsg.NewMetadataResponseTopic()
			et.TopicID, et.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
			if ok { // topic IDs are not secret: Kafka says it exists
				et.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			resp.Topics = append(resp.Topics, et)
			continue
		}
		t, err := s.metadataTopic(ctx, cc, *rt.Topic, autoCreate)
		if err != nil {
			et := kmsg.NewMetadataResponseTopic()
			et.Topic, et.ErrorCode = rt.Topic, s.code(err, "metadata", "topic", *rt.Topic)
			resp.Topics = append(resp.Topics, et)
			continue
		}
		if _, ok := leases[metadata.TopicPartition{Topic: t.Name, Partition: 0}]; !ok {
			// Freshly created: the leases were taken after the snapshot above.
			if leases, err = s.broker.Leaders(ctx); err != nil {
				return nil, err
			}
		}
		resp.Topics = append(resp.Topics, describe(t))
	}
	return resp, nil
}
