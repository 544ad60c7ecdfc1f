package kafka

// AddPartitionsToTxn (key 24), versions 0–3.
//
// Adds partitions to the producer's transaction, starting one if none is ongoing (ingest/txn).
// A partition of an unknown topic fails the request: UNKNOWN_TOPIC_OR_PARTITION for it,
// OPERATION_NOT_ATTEMPTED for the others. Served only with a transaction coordinator.
// PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to versions before 2 (KIP-588), as
// Kafka does.
//
// Deviations from Apache Kafka: v4+ (the broker-to-broker batch form of KIP-890, with
// verify_only) is not served: partition leaders here verify transactional writes against the
// coordinator's state in the metadata service directly, and under transaction.version 2 (Produce
// v12) add the partition there themselves. Clients on transaction.version 2 send no
// AddPartitionsToTxn.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	registerTxn(api{key: kmsg.AddPartitionsToTxn.Int16(), minVersion: 0, maxVersion: 3, handle: handleAddPartitionsToTxn})
}

func handleAddPartitionsToTxn(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var tps []metadata.TopicPartition
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			tps = append(tps, metadata.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	code := s.notTxnCoordinator(req.TransactionalID)
	codes := s.addPartitionsDenied(cc, req.TransactionalID, tps)
	if code == 0 && codes == nil {
		var err error
		codes, err = s.cfg.Transactions.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, tps)
		if err != nil {
			code = fencedForVersion(s.txnCode(err, "add partitions to txn", "transactional_id", req.TransactionalID), req.Version, 2)
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p, code
			if c, ok := codes[metadata.TopicPartition{Topic: rt.Topic, Partition: p}]; ok {
				sp.ErrorCode = c
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
