package kafka

// AddOffsetsToTxn (key 25), versions 0–4.
//
// Adds a consumer group to the producer's transaction (starting one if none is ongoing), so that
// TxnOffsetCommit may stage the group's offsets in it. Served only with a transaction coordinator.
// PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to versions before 2 (KIP-588), as
// Kafka does.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	registerTxn(api{key: kmsg.AddOffsetsToTxn.Int16(), minVersion: 0, maxVersion: 4, handle: handleAddOffsetsToTxn})
}

func handleAddOffsetsToTxn(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	if denied := s.txnIDDenied(cc, req.TransactionalID, req); denied != nil {
		return denied, nil
	}
	if denied := s.groupDenied(cc, metadata.OpRead, req.Group, req); denied != nil {
		return denied, nil
	}
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if resp.ErrorCode = s.notTxnCoordinator(req.TransactionalID); resp.ErrorCode != 0 {
		return resp, nil
	}
	if err := s.cfg.Transactions.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); err != nil {
		resp.ErrorCode = fencedForVersion(s.txnCode(err, "add offsets to txn", "transactional_id", req.TransactionalID), req.Version, 2)
	}
	return resp, nil
}
