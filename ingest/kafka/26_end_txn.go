package kafka

// EndTxn (key 26), versions 0–5.
//
// Commits or aborts the producer's ongoing transaction: the outcome is recorded, the markers are
// written to every partition of the transaction through its leader and, on commit, the staged
// offsets reach their groups (ingest/txn). The answer comes once the outcome is recorded and the
// markers were tried; a transaction whose markers could not all be written yet is completed later
// by the coordinator. A retried EndTxn that already took effect succeeds. Served only with a
// transaction coordinator. PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to versions
// before 2 (KIP-588), as Kafka does.
//
// v5 is KIP-890 part 2 (txn.Coordinator.EndTxnV2), advertised only under transaction.version 2
// (ApiVersions): deciding the outcome bumps the producer's epoch (a new producer id at the last
// epoch), the markers carry the new epoch and the response the producer id and epoch to use
// next; a retry at the previous epoch that already took effect succeeds, and an abort of no
// transaction succeeds and bumps the epoch. Older versions keep one epoch across transactions.
//
// Deviations from Apache Kafka: none known.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerTxn(api{key: kmsg.EndTxn.Int16(), minVersion: 0, maxVersion: 5, tv2From: 5, handle: handleEndTxn})
}

func handleEndTxn(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	if denied := s.txnIDDenied(cc, req.TransactionalID, req); denied != nil {
		return denied, nil
	}
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if resp.ErrorCode = s.notTxnCoordinator(req.TransactionalID); resp.ErrorCode != 0 {
		return resp, nil
	}
	var err error
	if req.Version >= 5 {
		resp.ProducerID, resp.ProducerEpoch, err = s.cfg.Transactions.EndTxnV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	} else {
		err = s.cfg.Transactions.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	}
	if err != nil {
		resp.ErrorCode = fencedForVersion(s.txnCode(err, "end txn", "transactional_id", req.TransactionalID), req.Version, 2)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
	}
	return resp, nil
}
