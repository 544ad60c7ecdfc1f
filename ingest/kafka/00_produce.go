package kafka

// Produce (key 0), versions 3–13.
//
// Only RecordBatch v2 (magic 2, hence v3+), exactly one batch per partition. Batches are validated
// (framing, CRC32C, a broken compressed stream → CORRUPT_MESSAGE; size over the topic's
// max.message.bytes, or decompressing past the inflate limit → MESSAGE_TOO_LARGE; records that
// disagree with the header — count, offset deltas, lengths — → INVALID_RECORD, as in Kafka), given
// offsets and the leader epoch, and stored verbatim: compressed batches are decompressed to be
// checked but stored untouched. Idempotent producers are checked per partition (see
// ingest/broker). acks=0 sends no response, acks=1 answers after the append, acks=-1 after the
// fsync (group commit) within the request's timeout (REQUEST_TIMED_OUT otherwise); a failed acks=0
// request closes the connection. A partition this node does not lead answers
// NOT_LEADER_OR_FOLLOWER; an unknown topic UNKNOWN_TOPIC_OR_PARTITION (Produce never auto-creates,
// as in Kafka); the internal topic __consumer_offsets INVALID_TOPIC_EXCEPTION, as Kafka answers a
// client. message.timestamp.type=LogAppendTime stamps the batch (attribute bit, max
// timestamp, CRC) like Kafka.
//
// Transactional batches (a transactional id on the request) are accepted only for partitions added
// to the producer's ongoing transaction (ingest/broker txn.go; INVALID_TXN_STATE otherwise); v12
// (KIP-890 part 2) adds a partition to the transaction, starting one if need be, durably before
// the append, instead (NOT_ENOUGH_REPLICAS, retriable, while the producer's last transaction is
// still writing its markers). A server without a transaction coordinator refuses a transactional
// id with TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
//
// v12 and v13 are advertised only under transaction.version 2 (ApiVersions).
//
// v13 names topics by ID (KIP-516; topic_ids.go): an ID that names no topic answers
// UNKNOWN_TOPIC_ID, and so does a partition whose leader here leads a topic of that name with
// another ID (the topic was deleted and created again).
//
// Deviations from Apache Kafka: message.timestamp.before/after.max.ms are checked on the batch's first and max timestamps
// (INVALID_TIMESTAMP) rather than on every record.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.Produce.Int16(), minVersion: 3, maxVersion: 13, tv2From: 12, handle: handleProduce})
}

func handleProduce(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)

	type slot struct {
		rp    *kmsg.ProduceResponseTopicPartition
		tp    metadata.TopicPartition
		epoch int32 // leader epoch of the append
		end   int64 // one past the last appended offset; 0 when nothing to wait for
	}
	var slots []slot
	fail := int16(0)
	switch {
	case req.TransactionID != nil && s.cfg.Transactions == nil:
		fail = kerr.TransactionalIDAuthorizationFailed.Code
	case req.TransactionID != nil && !s.authorizedTxnID(cc, metadata.OpWrite, *req.TransactionID):
		fail = kerr.TransactionalIDAuthorizationFailed.Code
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		fail = kerr.InvalidRequiredAcks.Code
	}

	if err := waitProduceTurn(ctx); err != nil {
		return nil, err
	}
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		knownID := true
		if req.Version >= 13 { // by topic ID
			st.Topic, knownID = s.topicName(ctx, rt.TopicID)
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		denied := fail == 0 && knownID && !s.authorizedTopic(cc, metadata.OpWrite, st.Topic)
		internal := topics.CheckClientWrite(st.Topic)
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition, sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = rp.Partition, -1, -1, -1
			if fail != 0 || denied {
				sp.ErrorCode = fail
				if denied {
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
				continue
			}
			tp := metadata.TopicPartition{Topic: st.Topic, Partition: rp.Partition}
			if req.Version >= 13 {
				// An ID that names no topic, or the ID of a topic deleted since (the leader leads
				// the one created again under its name).
				if id, leads := s.broker.TopicIDOf(tp); !knownID || leads && id != rt.TopicID {
					sp.ErrorCode = kerr.UnknownTopicID.Code
					continue
				}
			}
			if internal != nil {
				sp.ErrorCode = s.code(internal, "produce", "topic", st.Topic)
				if req.Version >= 8 {
					sp.ErrorMessage = errMsg(internal)
				}
				continue
			}
			var res broker.AppendResult
			var err error
			switch {
			case req.TransactionID != nil && req.Version >= 12:
				res, err = s.broker.AppendAddingToTxn(ctx, tp, *req.TransactionID, rp.Records)
			case req.TransactionID != nil:
				res, err = s.broker.AppendTransactional(ctx, tp, *req.TransactionID, rp.Records)
			default:
				res, err = s.broker.Append(ctx, tp, rp.Records)
			}
			if err != nil {
				sp.ErrorCode = s.code(err, "produce", "partition", tp)
				if req.Version >= 8 {
					sp.ErrorMessage = errMsg(err)
				}
				continue
			}
			sp.BaseOffset, sp.LogStartOffset, sp.LogAppendTime = res.BaseOffset, res.LogStartOffset, res.LogAppendTime
			slots = append(slots, slot{rp: sp, tp: tp, epoch: res.Epoch, end: res.LastOffset + 1})
		}
		resp.Topics = append(resp.Topics, st)
	}
	finishProduceTurn(ctx)

	if req.Acks == 0 {
		// No response; like Kafka, a failed acks=0 produce closes the connection so that the
		// client notices (it refreshes metadata on reconnect).
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				if sp.ErrorCode != 0 {
					return nil, fmt.Errorf("kafka: acks=0 produce to %s/%d failed: %w", st.Topic, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
				}
			}
		}
		return nil, nil
	}
	if req.Acks == -1 && len(slots) > 0 {
		// The fsync wait outlives a closing connection or server (the data is already appended):
		// only the request's own timeout bounds it.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(max(req.TimeoutMillis, 1))*time.Millisecond)
		defer cancel()
		if cc != nil {
			tps := make([]metadata.TopicPartition, len(slots))
			for i, sl := range slots {
				tps[i] = sl.tp
			}
			defer cc.waits.enter(s, tps)()
		}
		for _, sl := range slots {
			if err := s.broker.WaitDurable(wctx, sl.tp, sl.epoch, sl.end); err != nil {
				sl.rp.ErrorCode = s.code(err, "produce: wait durable", "partition", sl.tp)
				sl.rp.BaseOffset = -1
			}
		}
	}
	return resp, nil
}
