package kafka

// FindCoordinator (key 10), versions 0–5.
//
// v4+ batches keys. The coordinator of a consumer group (key type 0) or a transactional id (type 1)
// is a live node chosen by hashing the key over the live nodes ordered by id (a single node
// coordinates everything); transaction state lives in the metadata service, so any node can take
// an id over. A server without a transaction coordinator answers type 1 with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which clients treat as fatal rather than retrying forever.
// A group key makes sure the __consumer_offsets changelog exists (Config.WantOffsetsTopic), as
// Kafka creates that topic on the first FindCoordinator.
//
// Deviations from Apache Kafka: share-group keys (type 2) answer INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"

	"github.com/strata-log/strata/ingest/broker"
)

func init() {
	register(api{key: kmsg.FindCoordinator.Int16(), minVersion: 0, maxVersion: 5, handle: handleFindCoordinator})
}

func handleFindCoordinator(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)

	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	nodes, nodesErr := s.liveNodes(ctx)
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		switch {
		case req.CoordinatorType == 1 && s.cfg.Transactions == nil:
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			c.ErrorMessage = strp("transactions are not supported by this broker")
		case req.CoordinatorType != 0 && req.CoordinatorType != 1:
			c.ErrorCode = kerr.InvalidRequest.Code
			c.ErrorMessage = strp("unsupported coordinator type")
		case req.CoordinatorType == 0 && !s.authorizedGroup(cc, metadata.OpDescribe, key):
			c.ErrorCode = kerr.GroupAuthorizationFailed.Code
		case req.CoordinatorType == 1 && !s.authorizedTxnID(cc, metadata.OpDescribe, key):
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case nodesErr != nil:
			c.ErrorCode = s.code(nodesErr, "find coordinator")
			if c.ErrorCode == kerr.UnknownServerError.Code {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		default:
			if req.CoordinatorType == 0 && s.cfg.WantOffsetsTopic != nil {
				s.cfg.WantOffsetsTopic()
			}
			n := broker.CoordinatorOf(key, nodes)
			c.NodeID = n.ID
			c.Host, c.Port = splitHostPort(n.KafkaAddr)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 && len(resp.Coordinators) == 1 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp, nil
}
