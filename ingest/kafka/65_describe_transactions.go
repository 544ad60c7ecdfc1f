package kafka

// DescribeTransactions (key 65), version 0.
//
// Describes transactional ids this node coordinates (others: NOT_COORDINATOR) from their state in
// the metadata service: state, timeout, start time of the ongoing transaction (-1: none), producer
// id and epoch, and the partitions added. An unknown id answers TRANSACTIONAL_ID_NOT_FOUND.
// Served only with a transaction coordinator.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	registerTxn(api{key: kmsg.DescribeTransactions.Int16(), minVersion: 0, maxVersion: 0, handle: handleDescribeTransactions})
}

func handleDescribeTransactions(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.StartTimestamp, ts.ProducerID, ts.ProducerEpoch = id, -1, -1, -1
		if !s.authorizedTxnID(cc, metadata.OpDescribe, id) {
			ts.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		if ts.ErrorCode = s.notTxnCoordinator(id); ts.ErrorCode != 0 {
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		t, found, err := s.cfg.Transactions.Describe(ctx, id)
		switch {
		case err != nil:
			ts.ErrorCode = s.txnCode(err, "describe transactions", "transactional_id", id)
		case !found:
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			ts.State, ts.TimeoutMillis, ts.ProducerID, ts.ProducerEpoch = t.State.String(), t.TimeoutMs, t.ProducerID, t.ProducerEpoch
			if !t.StartedAt.IsZero() {
				ts.StartTimestamp = t.StartedAt.UnixMilli()
			}
			byTopic := map[string]int{}
			for _, tp := range t.Partitions {
				if !s.authorizedTopic(cc, metadata.OpDescribe, tp.Topic) {
					continue // as Kafka: the topics the caller may not describe are left out
				}
				i, ok := byTopic[tp.Topic]
				if !ok {
					i = len(ts.Topics)
					byTopic[tp.Topic] = i
					rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					rt.Topic = tp.Topic
					ts.Topics = append(ts.Topics, rt)
				}
				ts.Topics[i].Partitions = append(ts.Topics[i].Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}
