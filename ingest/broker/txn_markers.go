package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/txn"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// End-transaction markers on the partition side: their encoding, WriteTxnMarker and the abort of
// transactions whose marker a takeover lost (see txn.go's comment for the rules).

// controlCommit reads a control batch's marker type: true for COMMIT, false for ABORT. Any other
// control record (or bytes that are not one) is an error wrapping segment.ErrCorrupt.
func controlCommit(batch []byte) (bool, error) {
	commit, _, err := readMarker(batch)
	return commit, err
}

// readMarker reads a control batch's marker type (as controlCommit) and the coordinator epoch of
// its value; a value that does not parse reads as coordinator epoch 0 (unknown).
func readMarker(batch []byte) (commit bool, coordinatorEpoch int32, err error) {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return false, 0, fmt.Errorf("%w: control batch: %v", segment.ErrCorrupt, err)
	}
	if rb.Attributes&segment.AttrCompressionMask != 0 || rb.NumRecords < 1 {
		return false, 0, fmt.Errorf("%w: control batch with %d records, attributes %#x", segment.ErrCorrupt, rb.NumRecords, rb.Attributes)
	}
	var rec kmsg.Record
	if err := rec.ReadFrom(rb.Records); err != nil {
		// ReadFrom insists on consuming everything; a control batch holds one record.
		return false, 0, fmt.Errorf("%w: control record: %v", segment.ErrCorrupt, err)
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(rec.Key); err != nil {
		return false, 0, fmt.Errorf("%w: control record key: %v", segment.ErrCorrupt, err)
	}
	switch key.Type {
	case kmsg.ControlRecordKeyTypeCommit:
		commit = true
	case kmsg.ControlRecordKeyTypeAbort:
	default:
		return false, 0, fmt.Errorf("%w: control record type %d is not a transaction marker", segment.ErrCorrupt, key.Type)
	}
	var val kmsg.EndTxnMarker
	if val.ReadFrom(rec.Value) == nil {
		coordinatorEpoch = val.CoordinatorEpoch
	}
	return commit, coordinatorEpoch, nil
}

// markerBatch encodes an end-transaction marker with kmsg's control record types.
func markerBatch(pid int64, epoch int16, commit bool, coordinatorEpoch int32, now int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.NewEndTxnMarker()
	val.CoordinatorEpoch = coordinatorEpoch
	return segment.AppendBatch(nil, segment.NewBatch{
		FirstTimestamp: now,
		Attributes:     segment.AttrTransactional | segment.AttrControl,
		ProducerID:     pid,
		ProducerEpoch:  epoch,
		BaseSequence:   -1,
		Records:        []segment.Record{{Timestamp: now, Key: key.AppendTo(nil), Value: val.AppendTo(nil)}},
	})
}

// WriteTxnMarker appends an end-transaction marker for producer pid at epoch to a partition this
// node leads and waits until it is durable (as acks=all). Markers are idempotent for consumers:
// a repeated marker closes nothing. A marker older than the producer's known epoch is refused
// with INVALID_PRODUCER_EPOCH, as in Kafka. A marker whose coordinator epoch (the transaction's
// sequence) is not newer than the producer's last marker here is not appended: it waits until the
// partition's log is durable and succeeds (see the comment at the top).
func (b *Broker) WriteTxnMarker(ctx context.Context, tp metadata.TopicPartition, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if !p.leading() {
		p.mu.Unlock()
		return kafkaErr(kerr.NotLeaderForPartition, "%s: lost leadership", tp)
	}
	if st := p.producers[pid]; st != nil && epoch < st.epoch {
		p.mu.Unlock()
		return kafkaErr(kerr.InvalidProducerEpoch, "%s: marker for producer %d epoch %d < %d", tp, pid, epoch, st.epoch)
	}
	lepoch := p.currentLease().Epoch
	if p.txns.endedAlready(pid, coordinatorEpoch) {
		end := p.log.EndOffset()
		_, next := p.txns.open[pid] // the producer's next transaction, which the marker would have ended
		p.mu.Unlock()
		b.log.Info("broker: marker of a transaction already ended here not appended", "partition", tp,
			"producer_id", pid, "epoch", epoch, "commit", commit, "coordinator_epoch", coordinatorEpoch,
			"next_transaction_open", next)
		return b.WaitDurable(ctx, tp, lepoch, end)
	}
	last, err := b.appendMarker(p, lepoch, pid, epoch, commit, coordinatorEpoch)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return b.WaitDurable(ctx, tp, lepoch, last+1)
}

// appendMarker appends an end-transaction marker under leader epoch lepoch and applies it to the
// producer and transaction state; it returns the marker's offset. Callers hold p.mu.
func (b *Broker) appendMarker(p *partition, lepoch int32, pid int64, epoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	now := time.Now().UnixMilli()
	batch := markerBatch(pid, epoch, commit, coordinatorEpoch, now)
	info, err := segment.ParseBatch(batch)
	if err != nil {
		return 0, fmt.Errorf("broker: marker batch: %w", err)
	}
	segment.SetPartitionLeaderEpoch(batch, lepoch)
	res, err := p.log.AppendValidated(batch)
	if err != nil {
		return 0, logError(p.tp, "append marker", err)
	}
	info.BaseOffset = res.BaseOffset
	p.recordSequence(info, res.BaseOffset, res.LastOffset, now)
	p.txnSeen.Store(true)
	p.txns.note(info, commit)
	p.txns.mark(pid, coordinatorEpoch)
	p.txns.prune(p.log.StartOffset())
	b.m.appendedBytes.Add(float64(len(batch)))
	return res.LastOffset, nil
}

// latestHere reports whether the records pid left open in a partition can only be those of t, the
// producer's latest transaction: the partition's last marker of pid is that of the transaction
// before t (or t is the producer's first), so every record after it is t's.
func latestHere(x *txnIndex, pid int64, t metadata.Transaction) bool {
	seq := txn.MarkerEpoch(t)
	if seq <= 0 {
		return false
	}
	last, marked := x.marked[pid]
	return (marked && last == seq-1) || (!marked && seq == 1)
}

// committedHere reports whether the records pid left open in a partition (under epoch) are
// certainly those of t, the producer's latest transaction, which committed under that epoch
// (latestHere). Then the lost marker was a commit, and writing it again keeps t whole. Otherwise
// the records may be an earlier transaction's, whose marker was lost as well, and the outcome is
// unknown.
func committedHere(x *txnIndex, pid int64, epoch int16, t metadata.Transaction) bool {
	return t.State == metadata.TxnCompleteCommit && ranAt(t, pid, epoch) && latestHere(x, pid, t)
}

// ranAt reports whether producer pid at epoch is the one t's latest transaction ran at: t's
// producer, or under transaction.version 2 the one its EndTxn moved to the next epoch (or to a
// new producer id).
func ranAt(t metadata.Transaction, pid int64, epoch int16) bool {
	return t.ProducerID == pid && t.ProducerEpoch == epoch ||
		t.Version >= 2 && t.PrevProducerID == pid && t.PrevProducerEpoch == epoch
}

// abortOrphans ends the transactions left open in a partition being taken (after rebuildTxns,
// before it serves) whose marker may have been written and acknowledged, then lost — with local
// durability, in the old leader's tail that never reached object storage. Nobody would write it
// again, and the transaction would hold the last stable offset back for good, or be closed by the
// marker of the producer's next transaction: a commit would then show records that were aborted.
//
//   - The producer's transaction in the metadata service no longer includes the partition, or is
//     ongoing with it under a newer epoch (begun after a fencing, which ended the one open here):
//     the marker was lost. Where the records can only be the producer's latest transaction and it
//     committed (committedHere), the commit is written again and the transaction stays whole.
//     Otherwise the outcome is unknown here, so they are aborted: a committed transaction may lose
//     its records in this partition, as local durability loses acknowledged records on a leader's
//     loss anyway, but no aborted record becomes visible.
//   - It still includes the partition, ongoing under the epoch the records were written with, or
//     preparing: the records may be that transaction's, and its coordinator ends them. But when it
//     is ongoing, markersLost (an earlier leader's tail may be gone) and the records may instead be
//     an earlier transaction's whose marker was lost (latestHere fails), its commit could show
//     them: it is fenced (aborted at a bumped epoch, as a timeout does; its producer sees its
//     commit fail) and the records here are aborted. A transaction already preparing is left to
//     its coordinator: its records here are most likely its own, tiered before their leader died,
//     and aborting them would tear a commit. (Knowing which transaction a partition's open records
//     belong to would take recording it with them in the log.)
//
// Reads every transaction's state, only when a transaction is open.
func (b *Broker) abortOrphans(ctx context.Context, p *partition, lepoch int32, markersLost bool) error {
	if len(p.txns.open) == 0 {
		return nil
	}
	ts, err := b.store.ListTransactions(ctx)
	if err != nil {
		return fmt.Errorf("broker: transactions open in %s: %w", p.tp, err)
	}
	byProducer := make(map[int64]metadata.Transaction, len(ts))
	for _, t := range ts {
		byProducer[t.ProducerID] = t
		if t.Version >= 2 && t.PrevProducerID >= 0 && t.PrevProducerID != t.ProducerID {
			byProducer[t.PrevProducerID] = t // its producer moved to a new id; records may carry the old
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pid := range slices.Sorted(maps.Keys(p.txns.open)) {
		o := p.txns.open[pid]
		t, ok := byProducer[pid]
		epoch := o.epoch
		if st := p.producers[pid]; st != nil {
			epoch = max(epoch, st.epoch)
		}
		commit, seq, fenced := false, int32(0), false
		inFlight := ok && t.HasPartition(p.tp) &&
			(t.State.Preparing() || t.State == metadata.TxnOngoing && t.ProducerEpoch == o.epoch)
		switch {
		case inFlight && t.State == metadata.TxnOngoing && t.Version < 2 && markersLost && !latestHere(&p.txns, pid, t):
			// (Under transaction.version 2 each transaction has an epoch of its own: records
			// under the ongoing one's epoch are its own.)
			f, err := txn.Fence(ctx, b.store, t, time.Now())
			if err != nil {
				// Its state moved meanwhile (an EndTxn decided it): its coordinator ends it.
				b.log.Warn("broker: could not fence a transaction that may hold records of an earlier one", "partition", p.tp,
					"transactional_id", t.ID, "err", err)
				continue
			}
			fenced, epoch, seq = true, max(epoch, f.ProducerEpoch), txn.MarkerEpoch(f)
		case inFlight:
			continue
		case ok && committedHere(&p.txns, pid, o.epoch, t):
			commit, seq = true, txn.MarkerEpoch(t)
			if t.ProducerID == pid {
				epoch = max(epoch, t.ProducerEpoch) // under transaction.version 2, the bumped epoch
			}
		}
		b.log.Warn("broker: a transaction open here may have ended without its marker (lost with an old leader); ending it",
			"partition", p.tp, "producer_id", pid, "epoch", epoch, "first_offset", o.first, "transactional_id", t.ID, "state", t.State,
			"commit", commit, "fenced", fenced)
		if _, err := b.appendMarker(p, lepoch, pid, epoch, commit, seq); err != nil {
			return err
		}
	}
	return nil
}
