package kafka

// InitProducerId (key 22), versions 0–5.
//
// Idempotent producers only: every call allocates a fresh cluster-wide producer id with epoch 0
// (a client that sends its current id and epoch, KIP-360, gets a new id instead of a bumped epoch,
// which is equally valid for it).
//
// Deviations from Apache Kafka: a transactional.id is refused with
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED — a non-retriable error clients surface at once, where
// COORDINATOR_NOT_AVAILABLE would have them retry forever.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.InitProducerID.Int16(), minVersion: 0, maxVersion: 5, handle: handleInitProducerID})
}

func handleInitProducerID(ctx context.Context, s *Server, _ *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	id, epoch, err := s.broker.InitProducerID(ctx)
	if err != nil {
		resp.ErrorCode = s.code(err, "init producer id")
		if resp.ErrorCode == kerr.UnknownServerError.Code {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code // retriable: the metadata store may be back soon
		}
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp, nil
}
