package kafka

// InitProducerId (key 22), versions 0–5.
//
// Without a transactional id every call allocates a fresh cluster-wide producer id with epoch 0
// (a client that sends its current id and epoch, KIP-360, gets a new id instead of a bumped epoch,
// which is equally valid for it). With one, the transaction coordinator (ingest/txn) gives the
// id's producer id a new epoch, fencing older producers and aborting their ongoing transaction;
// a timeout outside (0, transaction.max.timeout.ms] is INVALID_TRANSACTION_TIMEOUT, a node not
// coordinating the id answers NOT_COORDINATOR. PRODUCER_FENCED is answered as
// INVALID_PRODUCER_EPOCH to versions before 4 (KIP-588), as Kafka does.
//
// Deviations from Apache Kafka: a server without a transaction coordinator refuses a
// transactional.id with TRANSACTIONAL_ID_AUTHORIZATION_FAILED — a non-retriable error clients
// surface at once, where COORDINATOR_NOT_AVAILABLE would have them retry forever.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.InitProducerID.Int16(), minVersion: 0, maxVersion: 5, handle: handleInitProducerID})
}

func handleInitProducerID(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil && s.cfg.Transactions == nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if code := s.initProducerIDDenied(cc, req.TransactionalID); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	if req.TransactionalID != nil {
		id := *req.TransactionalID
		if resp.ErrorCode = s.notTxnCoordinator(id); resp.ErrorCode != 0 {
			return resp, nil
		}
		pid, epoch := int64(-1), int16(-1)
		if req.Version >= 3 {
			pid, epoch = req.ProducerID, req.ProducerEpoch
		}
		timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
		id64, e, err := s.cfg.Transactions.InitProducerID(ctx, id, timeout, pid, epoch)
		if err != nil {
			resp.ErrorCode = fencedForVersion(s.txnCode(err, "init producer id", "transactional_id", id), req.Version, 4)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = id64, e
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
