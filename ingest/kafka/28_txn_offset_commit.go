package kafka

// TxnOffsetCommit (key 28), versions 0–5.
//
// Sent to the group's coordinator: the commit is checked against the group (member and
// generation, v3+, when a member id is given; for a KIP-848 group the member epoch, a stale one
// answering ILLEGAL_GENERATION), then the offsets are staged in the producer's
// ongoing transaction in the metadata service (the group must have been added with
// AddOffsetsToTxn; INVALID_TXN_STATE otherwise; v5, KIP-890 part 2, adds it implicitly, starting
// a transaction if none is ongoing). They become the group's committed offsets when
// the transaction commits, and are dropped when it aborts; meanwhile OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for them. Served only with a transaction
// coordinator. PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to versions before 3
// (KIP-588), as Kafka does.
//
// v5 is advertised only under transaction.version 2 (ApiVersions).
//
// Deviations from Apache Kafka: v6 (topic ids, KIP-1319) is not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerTxn(api{key: kmsg.TxnOffsetCommit.Int16(), minVersion: 0, maxVersion: 5, tv2From: 5, handle: handleTxnOffsetCommit})
}

func handleTxnOffsetCommit(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	all, denied := s.txnOffsetCommitDenied(cc, req)
	if all != nil {
		return all, nil
	}
	offsets, resp := s.cfg.Groups.TxnOffsetCommit(ctx, req)
	defer func() { resp.Topics = append(resp.Topics, denied...) }()
	if len(offsets) == 0 {
		return resp, nil
	}
	stage := s.cfg.Transactions.StageOffsets
	if req.Version >= 5 {
		stage = s.cfg.Transactions.StageOffsetsV2
	}
	err := stage(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, offsets)
	if err == nil {
		return resp, nil
	}
	code := fencedForVersion(s.txnCode(err, "txn offset commit", "transactional_id", req.TransactionalID, "group", req.Group), req.Version, 3)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if resp.Topics[i].Partitions[j].ErrorCode == 0 {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	return resp, nil
}
