package kafka

// Authorization on the Kafka listener, when Config.Authorizer is set.
//
// Every handler asks before it acts, with the operation and resource Apache Kafka's KafkaApis
// checks for that API, and answers Kafka's error code for a denial in the same place Kafka does
// (TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Without an authorizer
// every check passes and nothing changes.
//
// A connection's principal is "User:<name>" of its SASL user once authenticated; else, on a TLS
// connection with a client certificate, "User:" and the certificate's subject in RFC 2253 form
// ("User:CN=alice,O=Example"), as Kafka's default ssl.principal.mapping.rules give; else
// User:ANONYMOUS. Its host is the client's IP address.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/metadata"
)

// principal is the connection's principal (see above). A nil connection (a handler called
// directly in a test) is anonymous.
func (cc *clientConn) principal() string {
	if cc == nil {
		return acl.Anonymous
	}
	if cc.auth != nil {
		cc.auth.mu.Lock()
		user, done := cc.auth.username, cc.auth.done
		cc.auth.mu.Unlock()
		if done {
			return acl.UserPrefix + user
		}
	}
	if tc, ok := cc.nc.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			return acl.UserPrefix + certs[0].Subject.String()
		}
	}
	return acl.Anonymous
}

// host is the client's IP address, as ACL hosts name it.
func (cc *clientConn) host() string {
	if cc == nil {
		return ""
	}
	return remoteIP(cc.nc)
}

// authorized reports whether cc may perform op on the resource; true without an authorizer. A
// denial is logged at debug level (Kafka's authorizer logger logs them too).
func (s *Server) authorized(cc *clientConn, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	a := s.cfg.Authorizer
	if a == nil {
		return true
	}
	principal, host := cc.principal(), cc.host()
	if a.Authorize(principal, host, op, rt, name) {
		return true
	}
	s.log.Debug("kafka: authorization denied", "principal", principal, "host", host, "operation", op.String(),
		"resource_type", int8(rt), "resource", name)
	return false
}

// authorizedTopic, authorizedGroup, authorizedTxnID and authorizedCluster name the resource type.
func (s *Server) authorizedTopic(cc *clientConn, op metadata.ACLOperation, topic string) bool {
	return s.authorized(cc, op, metadata.ResourceTopic, topic)
}

func (s *Server) authorizedGroup(cc *clientConn, op metadata.ACLOperation, group string) bool {
	return s.authorized(cc, op, metadata.ResourceGroup, group)
}

func (s *Server) authorizedTxnID(cc *clientConn, op metadata.ACLOperation, id string) bool {
	return s.authorized(cc, op, metadata.ResourceTransactionalID, id)
}

func (s *Server) authorizedCluster(cc *clientConn, op metadata.ACLOperation) bool {
	return s.authorized(cc, op, metadata.ResourceCluster, metadata.ClusterResourceName)
}

// authorizedAnyTopic reports whether cc may perform op on some topic (Kafka's
// authorizeByResourceType); true without an authorizer.
func (s *Server) authorizedAnyTopic(cc *clientConn, op metadata.ACLOperation) bool {
	a := s.cfg.Authorizer
	return a == nil || a.AuthorizeAny(cc.principal(), cc.host(), op, metadata.ResourceTopic)
}

// clusterAllows is authorizedCluster for a check whose denial is not the answer (Kafka's
// logIfDenied=false): neither logged nor counted.
func (s *Server) clusterAllows(cc *clientConn, op metadata.ACLOperation) bool {
	a := s.cfg.Authorizer
	return a == nil || a.Check(cc.principal(), cc.host(), op, metadata.ResourceCluster, metadata.ClusterResourceName)
}

// mayCreateTopic is Kafka's check for creating a topic: CREATE on the cluster, or on the topic.
func (s *Server) mayCreateTopic(cc *clientConn, topic string) bool {
	return s.clusterAllows(cc, metadata.OpCreate) || s.authorizedTopic(cc, metadata.OpCreate, topic)
}

// configsDenied is the error code for a denied configs request (op DESCRIBE_CONFIGS or
// ALTER_CONFIGS): on the topic for a topic, on the cluster for a broker; 0 when allowed or for
// another resource type (which the handler refuses itself).
func (s *Server) configsDenied(cc *clientConn, op metadata.ACLOperation, rt kmsg.ConfigResourceType, name string) int16 {
	switch {
	case rt == kmsg.ConfigResourceTypeTopic && !s.authorizedTopic(cc, op, name):
		return kerr.TopicAuthorizationFailed.Code
	case rt == kmsg.ConfigResourceTypeBroker && !s.authorizedCluster(cc, op):
		return kerr.ClusterAuthorizationFailed.Code
	case rt == kmsg.ConfigResourceTypeGroupConfig && !s.authorizedGroup(cc, op, name):
		return kerr.GroupAuthorizationFailed.Code
	}
	return 0
}

// initProducerIDDenied is Kafka's check for InitProducerId: WRITE on the transactional id for a
// transactional producer (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); for an idempotent one,
// IDEMPOTENT_WRITE on the cluster or WRITE on any topic (CLUSTER_AUTHORIZATION_FAILED).
func (s *Server) initProducerIDDenied(cc *clientConn, txnID *string) int16 {
	switch {
	case txnID != nil && !s.authorizedTxnID(cc, metadata.OpWrite, *txnID):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case txnID == nil && !s.clusterAllows(cc, metadata.OpIdempotentWrite) && !s.authorizedAnyTopic(cc, metadata.OpWrite):
		return kerr.ClusterAuthorizationFailed.Code
	}
	return 0
}

// fetchDenied removes from req the topics cc may not READ and returns their answers
// (TOPIC_AUTHORIZATION_FAILED for every partition), to be added to the response. A fetch with a
// denied topic answers at once, as any fetch with an error does.
func (s *Server) fetchDenied(cc *clientConn, req *kmsg.FetchRequest) []kmsg.FetchResponseTopic {
	if s.cfg.Authorizer == nil {
		return nil
	}
	var denied []kmsg.FetchResponseTopic
	kept := req.Topics[:0]
	for _, rt := range req.Topics {
		if s.authorizedTopic(cc, metadata.OpRead, rt.Topic) {
			kept = append(kept, rt)
			continue
		}
		denied = append(denied, fetchErrorTopic(rt, kerr.TopicAuthorizationFailed.Code))
	}
	req.Topics = kept
	return denied
}

// metadataTopic is the topic a Metadata request names, created when autoCreate allows: hidden
// (TOPIC_AUTHORIZATION_FAILED, whether or not it exists) without DESCRIBE on it, and not created
// without CREATE on the cluster or on it, as in Kafka.
func (s *Server) metadataTopic(ctx context.Context, cc *clientConn, name string, autoCreate bool) (metadata.Topic, error) {
	if s.cfg.Authorizer == nil {
		return s.topics.EnsureTopic(ctx, name, autoCreate)
	}
	if !s.authorizedTopic(cc, metadata.OpDescribe, name) {
		return metadata.Topic{}, fmt.Errorf("kafka: topic %q: %w", name, kerr.TopicAuthorizationFailed)
	}
	t, err := s.topics.EnsureTopic(ctx, name, false)
	if !autoCreate || !s.topics.AutoCreateEnabled() || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return t, err
	}
	if !s.mayCreateTopic(cc, name) {
		return metadata.Topic{}, fmt.Errorf("kafka: creating topic %q: %w", name, kerr.TopicAuthorizationFailed)
	}
	return s.topics.EnsureTopic(ctx, name, true)
}

// Operations Kafka reports as authorized for each resource type (AclEntry.supportedOperations).
var (
	topicOps   = []metadata.ACLOperation{metadata.OpRead, metadata.OpWrite, metadata.OpCreate, metadata.OpDescribe, metadata.OpDelete, metadata.OpAlter, metadata.OpDescribeConfigs, metadata.OpAlterConfigs}
	groupOps   = []metadata.ACLOperation{metadata.OpRead, metadata.OpDescribe, metadata.OpDelete}
	clusterOps = []metadata.ACLOperation{metadata.OpCreate, metadata.OpClusterAction, metadata.OpDescribeConfigs, metadata.OpAlterConfigs, metadata.OpIdempotentWrite, metadata.OpAlter, metadata.OpDescribe}
)

// authorizedOps is the authorized-operations bit field (bit n: operation code n) of cc on the
// resource, or ok false without an authorizer (the field then stays "not computed").
func (s *Server) authorizedOps(cc *clientConn, rt metadata.ResourceType, name string) (bits int32, ok bool) {
	a := s.cfg.Authorizer
	if a == nil {
		return 0, false
	}
	ops := map[metadata.ResourceType][]metadata.ACLOperation{metadata.ResourceTopic: topicOps,
		metadata.ResourceGroup: groupOps, metadata.ResourceCluster: clusterOps}[rt]
	for _, op := range a.Allowed(cc.principal(), cc.host(), rt, name, ops) {
		bits |= 1 << op
	}
	return bits, true
}
