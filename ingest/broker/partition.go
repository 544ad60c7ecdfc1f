package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
)

// partition is one partition this node leads.
type partition struct {
	tp      metadata.TopicPartition
	topicID metadata.TopicID
	name    string // hot-log name: <topic-id>-<partition>
	log     *hotlog.Log

	// mu serializes appends with the idempotence check that precedes them, and guards producers
	// and txns.
	mu        sync.Mutex
	producers map[int64]*producerState
	txns      txnIndex // txn.go
	// tieredTxns carries the transactional batches of tiered data from rebuildTieredProducers to
	// rebuildTxns during a takeover.
	tieredTxns []tieredTxnBatch
	// txnSeen is set (under mu) once txns holds anything, so that fetches of partitions without
	// transactions need not take mu for the last stable offset.
	txnSeen atomic.Bool

	// lifeMu orders tiering starts (trackIfLive) with the drop that ends them; dropped is set once.
	lifeMu  sync.Mutex
	dropped bool

	gone     chan struct{} // closed by stepDown
	goneOnce sync.Once

	lease atomic.Pointer[metadata.Lease]
	// alive is the node's registration deadline (Broker.alive, unix nanos, local clock): every
	// partition's lease is surely this node's until then.
	alive *atomic.Int64
	// handingOff refuses new appends while the partition is handed to another node (handoff.go).
	handingOff atomic.Bool
	stopped    atomic.Bool
	cfg        atomic.Pointer[topicSettings]
	// applied is the topic's configs as last applied (applyTopic skips unchanged ones).
	applied atomic.Pointer[map[string]string]
	// plog reads the partition across tiers (log over the catalog's objects) and moves its start.
	plog *tier.PartitionLog
}

// topicSettings are the per-topic values the hot path needs.
type topicSettings struct {
	maxMessageBytes int32
	durability      string
	logAppendTime   bool  // message.timestamp.type=LogAppendTime
	tsBeforeMax     int64 // message.timestamp.before.max.ms
	tsAfterMax      int64 // message.timestamp.after.max.ms
	compacted       bool  // cleanup.policy names compact: every record needs a key
}

// checkKeys refuses a batch holding a record without a key for a compacted topic, as Kafka does
// (INVALID_RECORD): key compaction could only drop it. The records were checked by CheckRecords.
func (s *topicSettings) checkKeys(tp metadata.TopicPartition, batch []byte, info segment.BatchInfo) error {
	if !s.compacted {
		return nil
	}
	var r segment.Retainer
	err := r.Each(batch, info, func(rec segment.StoredRecord) error {
		if rec.Key == nil {
			return kafkaErr(kerr.InvalidRecord, "%s: compacted topic cannot accept a record without a key (offset delta %d)", tp, rec.Offset-info.BaseOffset)
		}
		return nil
	})
	if err != nil && Code(err) != kerr.InvalidRecord.Code {
		return kafkaErr(kerr.CorruptMessage, "%s: %v", tp, err)
	}
	return err
}

// checkTimestamps applies message.timestamp.before/after.max.ms to a CreateTime batch (by its
// first and max timestamps: Kafka checks every record).
func (s *topicSettings) checkTimestamps(tp metadata.TopicPartition, info segment.BatchInfo, now int64) error {
	if s.logAppendTime {
		return nil
	}
	if s.tsBeforeMax < now && info.FirstTimestamp < now-s.tsBeforeMax {
		return kafkaErr(kerr.InvalidTimestamp, "%s: timestamp %d older than message.timestamp.before.max.ms", tp, info.FirstTimestamp)
	}
	if s.tsAfterMax < math.MaxInt64-now && info.MaxTimestamp > now+s.tsAfterMax {
		return kafkaErr(kerr.InvalidTimestamp, "%s: timestamp %d newer than message.timestamp.after.max.ms", tp, info.MaxTimestamp)
	}
	return nil
}

func (p *partition) currentLease() metadata.Lease { return *p.lease.Load() }

func (p *partition) setLease(l metadata.Lease) { p.lease.Store(&l) }

// leading reports whether this node may still act as the partition's leader.
func (p *partition) leading() bool {
	return !p.stopped.Load() && time.Now().UnixNano() < p.alive.Load()
}

// stepDown stops serving the partition. Appends in progress finish first.
func (p *partition) stepDown() {
	p.stopped.Store(true)
	p.goneOnce.Do(func() { close(p.gone) })
	p.mu.Lock()
	p.producers = nil
	p.txns = txnIndex{}
	p.mu.Unlock()
}

// AppendResult is the outcome of a successful Append.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogStartOffset int64
	// LogAppendTime is the broker's timestamp for LogAppendTime topics, else -1.
	LogAppendTime int64
	// Duplicate is set when an idempotent producer retried a batch already in the log; the offsets
	// are the original ones.
	Duplicate bool
	// Epoch is the leader epoch the partition was led under when the batch was appended; pass it
	// to WaitDurable.
	Epoch int32
}

// Append validates one produced RecordBatch and appends it to the partition's hot log. batch must
// be exactly one RecordBatch v2; the broker rewrites its base offset and partition leader epoch in
// place. The data is not yet durable: use WaitDurable for acks=all.
// Transactional batches are refused (INVALID_TXN_STATE): they come through AppendTransactional.
func (b *Broker) Append(ctx context.Context, tp metadata.TopicPartition, batch []byte) (AppendResult, error) {
	return b.append(ctx, tp, "", false, batch)
}

// AppendTransactional is Append for a producer with a transactional id: a transactional batch is
// accepted only if the partition was added to the producer's ongoing transaction (see txn.go).
func (b *Broker) AppendTransactional(ctx context.Context, tp metadata.TopicPartition, txnID string, batch []byte) (AppendResult, error) {
	return b.append(ctx, tp, txnID, false, batch)
}

// AppendAddingToTxn is AppendTransactional for Produce v12+ (transaction.version 2): a partition
// not yet in the producer's ongoing transaction is added to it, durably, before the append.
func (b *Broker) AppendAddingToTxn(ctx context.Context, tp metadata.TopicPartition, txnID string, batch []byte) (AppendResult, error) {
	return b.append(ctx, tp, txnID, true, batch)
}

func (b *Broker) append(ctx context.Context, tp metadata.TopicPartition, txnID string, addTxn bool, batch []byte) (AppendResult, error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return AppendResult{}, err
	}
	if err := b.checkDiskForAppend(len(batch)); err != nil {
		return AppendResult{}, err
	}
	if max := p.cfg.Load().maxMessageBytes; len(batch) > int(max) {
		b.m.produceErrors.WithLabelValues("message_too_large").Inc()
		return AppendResult{}, kafkaErr(kerr.MessageTooLarge, "%s: batch of %d bytes > max.message.bytes %d", tp, len(batch), max)
	}
	info, err := segment.ValidateBatch(batch)
	if err != nil {
		b.m.produceErrors.WithLabelValues("corrupt").Inc()
		return AppendResult{}, kafkaErr(kerr.CorruptMessage, "%s: %v", tp, err)
	}
	switch {
	case info.Size() != len(batch):
		return AppendResult{}, kafkaErr(kerr.InvalidRecord, "%s: a produce request must carry exactly one record batch per partition", tp)
	case info.Control():
		return AppendResult{}, kafkaErr(kerr.InvalidRecord, "%s: clients may not produce control batches", tp)
	case info.Transactional() && txnID == "":
		return AppendResult{}, kafkaErr(kerr.InvalidTxnState, "%s: a transactional batch without a transactional id", tp)
	case info.NumRecords != info.LastOffsetDelta+1:
		return AppendResult{}, kafkaErr(kerr.InvalidRecord, "%s: %d records but last offset delta %d", tp, info.NumRecords, info.LastOffsetDelta)
	}
	// The records themselves, decompressed if need be: lies about them are INVALID_RECORD as in
	// Kafka, a batch inflating past the limit is too large, a broken codec stream corrupt.
	if err := segment.CheckRecords(batch, info); err != nil {
		switch {
		case errors.Is(err, segment.ErrInvalidRecord):
			b.m.produceErrors.WithLabelValues("corrupt").Inc()
			return AppendResult{}, kafkaErr(kerr.InvalidRecord, "%s: %v", tp, err)
		case errors.Is(err, segment.ErrInflateLimit):
			b.m.produceErrors.WithLabelValues("message_too_large").Inc()
			return AppendResult{}, kafkaErr(kerr.MessageTooLarge, "%s: %v", tp, err)
		}
		b.m.produceErrors.WithLabelValues("corrupt").Inc()
		return AppendResult{}, kafkaErr(kerr.CorruptMessage, "%s: %v", tp, err)
	}

	settings := p.cfg.Load()
	now := time.Now().UnixMilli()
	if err := settings.checkTimestamps(tp, info, now); err != nil {
		return AppendResult{}, err
	}
	if err := settings.checkKeys(tp, batch, info); err != nil {
		b.m.produceErrors.WithLabelValues("corrupt").Inc()
		return AppendResult{}, err
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.leading() {
		return AppendResult{}, kafkaErr(kerr.NotLeaderForPartition, "%s: lost leadership", tp)
	}
	if p.handingOff.Load() {
		return AppendResult{}, kafkaErr(kerr.NotLeaderForPartition, "%s: moving to another node", tp)
	}
	if dup, ok, err := p.checkSequence(info); err != nil {
		b.m.produceErrors.WithLabelValues("sequence").Inc()
		return AppendResult{}, err
	} else if ok {
		b.m.duplicates.Inc()
		return AppendResult{BaseOffset: dup.base, LastOffset: dup.last, LogStartOffset: p.log.StartOffset(),
			LogAppendTime: -1, Duplicate: true, Epoch: p.currentLease().Epoch}, nil
	}
	if info.Transactional() {
		if err := b.verifyTxn(ctx, p, txnID, info, addTxn); err != nil {
			b.m.produceErrors.WithLabelValues("transaction").Inc()
			return AppendResult{}, err
		}
	}
	appendTime := int64(-1)
	if settings.logAppendTime {
		appendTime = now
		segment.SetLogAppendTime(batch, now) // recomputes the CRC, which covers the stamp
	}
	epoch := p.currentLease().Epoch
	segment.SetPartitionLeaderEpoch(batch, epoch)
	res, err := p.log.AppendValidated(batch) // validated above: the hot log does not compute the CRC again
	if err != nil {
		if errors.Is(err, segment.ErrCorrupt) {
			return AppendResult{}, kafkaErr(kerr.CorruptMessage, "%s: %v", tp, err)
		}
		return AppendResult{}, logError(tp, "append", err)
	}
	p.recordSequence(info, res.BaseOffset, res.LastOffset, now)
	info.BaseOffset = res.BaseOffset
	if info.Transactional() {
		p.txnSeen.Store(true)
		p.txns.note(info, false)
	}
	b.m.appendedBytes.Add(float64(len(batch)))
	b.m.appendedRecords.Add(float64(info.NumRecords))
	return AppendResult{BaseOffset: res.BaseOffset, LastOffset: res.LastOffset, LogStartOffset: p.log.StartOffset(),
		LogAppendTime: appendTime, Epoch: epoch}, nil
}

// WaitDurable blocks until every offset below upTo in the partition is fsynced, or ctx ends. With
// strata.durability=object and a Tiering configured it waits instead until they are in object
// storage and registered in the catalog. epoch is AppendResult.Epoch: the offsets count as durable only if
// the partition is still led under the epoch that appended them when the wait ends — a takeover in
// between may have truncated or reset those offsets, so the client is told NOT_LEADER_OR_FOLLOWER
// and retries (an idempotent retry then finds its batch or writes it again).
func (b *Broker) WaitDurable(ctx context.Context, tp metadata.TopicPartition, epoch int32, upTo int64) error {
	p, err := b.ledUnder(tp, epoch)
	if err != nil {
		return err
	}
	if b.cfg.Tiering != nil && p.cfg.Load().durability == "object" {
		// The registration in the catalog is the durability; the hot log's own fsync would add
		// nothing (the roll that uploads the data fsyncs the sealed segment anyway) but an fsync
		// per request and partition on the node's disk.
		if err := b.waitTiered(ctx, p, upTo); err != nil {
			return err
		}
	} else if err := p.log.WaitDurable(ctx, upTo); err != nil {
		if ctx.Err() != nil {
			return kafkaErr(kerr.RequestTimedOut, "%s: waiting for fsync: %v", tp, err)
		}
		return logError(tp, "wait durable", err)
	}
	if cur, err := b.ledUnder(tp, epoch); err != nil {
		return err
	} else if cur != p {
		return kafkaErr(kerr.NotLeaderForPartition, "%s: leadership changed while waiting for durability", tp)
	}
	return nil
}

// ledUnder returns the partition if this node still leads it under epoch.
func (b *Broker) ledUnder(tp metadata.TopicPartition, epoch int32) (*partition, error) {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil || !p.leading() || p.currentLease().Epoch != epoch {
		return nil, kafkaErr(kerr.NotLeaderForPartition, "%s: not led under epoch %d any more", tp, epoch)
	}
	return p, nil
}

// logError maps a hot-log failure to the Kafka error a client retries: a log closed or truncated
// under the request means leadership moved (NOT_LEADER_OR_FOLLOWER: refresh metadata and retry);
// anything else is a storage failure on this node (KAFKA_STORAGE_ERROR, also retried), never
// UNKNOWN_SERVER_ERROR, which producers treat as fatal.
func logError(tp metadata.TopicPartition, op string, err error) error {
	if errors.Is(err, hotlog.ErrClosed) || errors.Is(err, hotlog.ErrTruncated) {
		return kafkaErr(kerr.NotLeaderForPartition, "%s: %s: %v", tp, op, err)
	}
	return kafkaErr(kerr.KafkaStorageError, "%s: %s: %v", tp, op, err)
}

// leaderFor returns the partition if this node leads it, else the Kafka error the client needs.
func (b *Broker) leaderFor(ctx context.Context, tp metadata.TopicPartition) (*partition, error) {
	b.mu.RLock()
	p, closed := b.parts[tp], b.closed
	b.mu.RUnlock()
	if closed {
		return nil, kafkaErr(kerr.NotLeaderForPartition, "%s: broker shutting down", tp)
	}
	if p != nil && p.leading() {
		return p, nil
	}
	if p != nil {
		return nil, kafkaErr(kerr.NotLeaderForPartition, "%s: node registration lapsed", tp)
	}
	t, err := b.store.GetTopic(ctx, tp.Topic)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "%s: unknown topic", tp)
	case err != nil:
		return nil, fmt.Errorf("broker: %s: %w", tp, err)
	case tp.Partition < 0 || tp.Partition >= t.Partitions:
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "%s: topic has %d partitions", tp, t.Partitions)
	}
	return nil, kafkaErr(kerr.NotLeaderForPartition, "%s: not led by node %d", tp, b.cfg.NodeID)
}
