package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/txn"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// Transactions on the partition side (the coordinator is ingest/txn). Per led partition the
// broker keeps, under p.mu:
//
//	open     producer id → first offset and epoch of its ongoing transaction in this partition
//	aborted  (producer id, first offset, marker offset) of aborted transactions, by marker offset
//	marked   producer id → coordinator epoch of its last marker here
//
// A transactional batch is accepted only if its producer's transaction is open here, or — for the
// first batch of a transaction in this partition — the transaction's state in the metadata
// service says it is Ongoing under the batch's producer id and epoch with this partition added
// (KIP-890's server-side verification); a Produce v12+ (KIP-890 part 2) adds the partition to
// the transaction instead, a compare-and-swap in the metadata service that is durable before the
// batch is appended. That check runs under p.mu, so it is ordered with the
// coordinator's marker: the coordinator moves the transaction to Prepare* before writing markers,
// so a batch checked before that lands before the marker, and one checked after is refused.
// Markers (WriteTxnMarker) close the open transaction and, for an abort, add it to aborted. The
// last stable offset is min(high watermark, first offset of the oldest open transaction).
//
// A marker must end the transaction it was written for, not the producer's next one: clients on
// transaction.version 1 keep their epoch across transactions (under 2, EndTxn v5 bumps it and
// the marker carries the new epoch, but a producer may switch versions), and a marker can arrive late — retried, or
// sent by a second coordinator completing the same transaction after the transactional id's
// coordinator moved — after the producer began its next transaction in this partition. Strata's
// coordinators send the transaction's sequence (metadata.Transaction.Sequence) as the marker's
// coordinator epoch, and the index keeps the last one per producer (marked): a marker whose
// coordinator epoch is not newer is answered, once what the partition holds is durable, without
// being appended. That transaction has ended here already: the coordinator begins the next only
// after every marker of the last one is durable. Coordinator epoch 0 (other senders) is not checked.
//
// On takeover both are rebuilt by scanning the whole hot log (rebuildTxns): transactional batches
// open a transaction, control batches close it. Data below the hot log's start (tiered) carries
// its aborted transactions in its control batches: a read_committed fetch of tiered data derives
// them from the batches it returns (abortedIn); the transactional batches of the newest tiered data
// (what rebuildTieredProducers reads, ProducerStateTieredScanBytes) are replayed first, so a
// transaction open across a takeover that left the hot log empty still holds the last stable
// offset back. A transaction left open whose transaction in the metadata service no longer
// includes the partition lost its marker with the old leader (local durability) and is aborted
// before the partition serves (abortOrphans). Deviation from Apache Kafka: no transaction index
// files or producer snapshots; a transaction still open whose first batch lies below that scan
// does not hold it back.

type openTxn struct {
	first int64
	epoch int16
}

// AbortedTxn is one aborted transaction for a read_committed Fetch: the consumer drops the
// producer's transactional batches from First until the abort marker.
type AbortedTxn struct {
	ProducerID int64
	First      int64
	last       int64 // the abort marker's offset
}

type txnIndex struct {
	open    map[int64]openTxn
	aborted []AbortedTxn // ordered by last
	// marked is the coordinator epoch of each producer's last marker with a nonzero one.
	marked map[int64]int32
}

// mark records a marker's coordinator epoch for its producer.
func (x *txnIndex) mark(pid int64, coordinatorEpoch int32) {
	if coordinatorEpoch <= 0 {
		return
	}
	if x.marked == nil {
		x.marked = map[int64]int32{}
	}
	x.marked[pid] = max(x.marked[pid], coordinatorEpoch)
}

// endedAlready reports whether a marker of pid with coordinatorEpoch is for a transaction whose
// marker this partition already holds (see the comment at the top).
func (x *txnIndex) endedAlready(pid int64, coordinatorEpoch int32) bool {
	last, ok := x.marked[pid]
	return coordinatorEpoch > 0 && ok && coordinatorEpoch <= last
}

// lastStable is the last stable offset below hw. Callers hold p.mu.
func (x *txnIndex) lastStable(hw int64) int64 {
	lso := hw
	for _, o := range x.open {
		lso = min(lso, o.first)
	}
	return lso
}

// note applies one appended batch to the index. commit is the marker's type for control batches.
func (x *txnIndex) note(info segment.BatchInfo, commit bool) {
	if !info.Transactional() || info.ProducerID < 0 {
		return
	}
	if x.open == nil {
		x.open = map[int64]openTxn{}
	}
	if !info.Control() {
		if _, ok := x.open[info.ProducerID]; !ok {
			x.open[info.ProducerID] = openTxn{first: info.BaseOffset, epoch: info.ProducerEpoch}
		}
		return
	}
	o, ok := x.open[info.ProducerID]
	delete(x.open, info.ProducerID)
	if ok && !commit {
		x.aborted = append(x.aborted, AbortedTxn{ProducerID: info.ProducerID, First: o.first, last: info.BaseOffset})
	}
}

// prune forgets aborted transactions wholly below start.
func (x *txnIndex) prune(start int64) {
	i := 0
	for i < len(x.aborted) && x.aborted[i].last < start {
		i++
	}
	if i > 0 {
		x.aborted = slices.Delete(x.aborted, 0, i)
	}
}

// abortedBetween lists the aborted transactions overlapping [from, to].
func (x *txnIndex) abortedBetween(from, to int64) []AbortedTxn {
	var out []AbortedTxn
	for _, a := range x.aborted {
		if a.last >= from && a.First <= to {
			out = append(out, a)
		}
	}
	return out
}

// verifyTxn decides whether a transactional batch may be appended (see the comment at the top).
// With add (Produce v12+, transaction.version 2) a partition not yet in the producer's ongoing
// transaction is added to it, starting one if none is ongoing (txn.AddImplicitly), durably
// before the append. Callers hold p.mu.
func (b *Broker) verifyTxn(ctx context.Context, p *partition, txnID string, info segment.BatchInfo, add bool) error {
	if o, ok := p.txns.open[info.ProducerID]; ok {
		switch {
		case o.epoch == info.ProducerEpoch:
			return nil
		case o.epoch > info.ProducerEpoch:
			return kafkaErr(kerr.InvalidProducerEpoch, "%s: producer %d epoch %d < %d", p.tp, info.ProducerID, info.ProducerEpoch, o.epoch)
		}
	}
	t, err := b.store.GetTransaction(ctx, txnID)
	if add && err == nil && (t.State != metadata.TxnOngoing || !t.HasPartition(p.tp)) {
		t, err = txn.AddImplicitly(ctx, b.store, txnID, info.ProducerID, info.ProducerEpoch, time.Now(),
			func(t *metadata.Transaction) { t.AddPartition(p.tp) })
		var ke *kerr.Error
		switch {
		case errors.As(err, &ke) && ke == kerr.ConcurrentTransactions:
			// The producer's last transaction is still writing its markers: retriable.
			return kafkaErr(kerr.NotEnoughReplicas, "%s: add to transaction %q: %v", p.tp, txnID, err)
		case errors.As(err, &ke):
			return fmt.Errorf("broker: %s: add to transaction %q: %w", p.tp, txnID, err)
		}
	}
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return kafkaErr(kerr.InvalidTxnState, "%s: no transaction %q", p.tp, txnID)
	case err != nil:
		// Retriable for the producer, as KIP-890's verification failures are.
		return kafkaErr(kerr.NotEnoughReplicas, "%s: verify transaction %q: %v", p.tp, txnID, err)
	case t.ProducerID != info.ProducerID:
		return kafkaErr(kerr.InvalidProducerIDMapping, "%s: transaction %q has producer %d, batch %d", p.tp, txnID, t.ProducerID, info.ProducerID)
	case t.ProducerEpoch != info.ProducerEpoch:
		return kafkaErr(kerr.InvalidProducerEpoch, "%s: transaction %q has epoch %d, batch %d", p.tp, txnID, t.ProducerEpoch, info.ProducerEpoch)
	case t.State != metadata.TxnOngoing || !t.HasPartition(p.tp):
		return kafkaErr(kerr.InvalidTxnState, "%s: not added to transaction %q (%v)", p.tp, txnID, t.State)
	}
	return nil
}

// tieredTxnBatch is a transactional batch of tiered data read on takeover (rebuildTieredProducers):
// a transaction still open there must hold the last stable offset back.
type tieredTxnBatch struct {
	info             segment.BatchInfo
	commit           bool  // a control batch's marker type
	coordinatorEpoch int32 // and its coordinator epoch
}

// rebuildTxns replays the transactional batches of the tiered data read on takeover, then the hot
// log, into the transaction index (on takeover, before serving).
func (p *partition) rebuildTxns() error {
	// Only what is still open carries over from tiered data: its aborted transactions come with
	// the tiered batches a fetch returns (abortedIn).
	var tiered txnIndex
	for _, tb := range p.tieredTxns {
		tiered.note(tb.info, tb.commit)
		if tb.info.Control() {
			tiered.mark(tb.info.ProducerID, tb.coordinatorEpoch)
		}
	}
	p.tieredTxns = nil
	p.txns = txnIndex{open: tiered.open, marked: tiered.marked}
	p.txnSeen.Store(len(tiered.open) > 0)
	if p.log.StartOffset() >= p.log.EndOffset() {
		return nil
	}
	var seen []segment.BatchInfo
	err := p.log.ScanBatches(p.log.StartOffset(), func(info segment.BatchInfo) error {
		if info.Transactional() {
			seen = append(seen, info)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.txnSeen.Store(p.txnSeen.Load() || len(seen) > 0)
	for _, info := range seen {
		commit := false
		if info.Control() {
			raw, err := p.log.Read(info.BaseOffset, info.Size(), info.BaseOffset+1)
			if err != nil {
				return err
			}
			var coordinatorEpoch int32
			if commit, coordinatorEpoch, err = readMarker(raw); err != nil {
				continue // not a transaction marker: closes nothing
			}
			p.txns.mark(info.ProducerID, coordinatorEpoch)
		}
		p.txns.note(info, commit)
	}
	return nil
}

// stable is the partition's last stable offset under high watermark hw.
func (p *partition) stable(hw int64) int64 {
	if !p.txnSeen.Load() {
		return hw
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txns.lastStable(hw)
}

// LastStableOffset answers ListOffsets(latest) for read_committed: min(high watermark, first
// offset of the oldest open transaction).
func (b *Broker) LastStableOffset(ctx context.Context, tp metadata.TopicPartition) (int64, error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return -1, err
	}
	return p.stable(p.plog.HighWatermark()), nil
}

// maxResolveBytes bounds how far past a tiered read readCommitted looks for the markers of the
// transactions the read ends inside.
const maxResolveBytes = 64 << 20

// readCommitted cuts a read_committed fetch at the last stable offset and lists the aborted
// transactions in what remains: from the index and, for records read from object storage (which
// the index may not cover after a takeover), from the control batches among them (abortedIn). A
// tiered read that ends inside a transaction whose outcome neither tells reads on for its marker
// (resolveForward); one still undecided after maxResolveBytes is cut off the answer, or, when the
// answer begins with it, shown (a deviation, see the comment at the top).
func (p *partition) readCommitted(ctx context.Context, res *FetchResult, offset int64, tiered bool) {
	lso := res.HighWatermark
	if p.txnSeen.Load() {
		p.mu.Lock()
		lso = p.txns.lastStable(res.HighWatermark)
		p.mu.Unlock()
	}
	res.LastStableOffset = lso
	recs, last := cutAt(res.Records, lso)
	res.Records = recs
	if len(recs) == 0 {
		return
	}
	if p.txnSeen.Load() {
		p.mu.Lock()
		res.Aborted = p.txns.abortedBetween(offset, last)
		p.mu.Unlock()
	}
	if !tiered {
		return
	}
	derived, open := abortedIn(recs)
	for pid, first := range open {
		for _, a := range res.Aborted {
			if a.ProducerID == pid && a.First <= first && a.last >= first {
				delete(open, pid) // the index knows it aborted
			}
		}
	}
	if len(open) > 0 {
		found := p.resolveForward(ctx, last+1, lso, open)
		derived = append(derived, found...)
		cut := int64(-1)
		for _, first := range open { // still undecided
			if first > offset && (cut < 0 || first < cut) {
				cut = first
			}
		}
		if cut > 0 {
			res.Records, _ = cutAt(recs, cut)
		}
	}
	res.Aborted = mergeAborted(res.Aborted, derived)
}

// committedSpans is readCommitted for hot-log spans that the read stopped at lso: the last stable
// offset is lso (or the high watermark of the read, if lower), and the aborted transactions come
// from the index (the hot log is the leader's own: the index covers it).
func (p *partition) committedSpans(res *FetchResult, offset, lso int64) {
	res.LastStableOffset = min(lso, res.HighWatermark)
	if p.txnSeen.Load() {
		p.mu.Lock()
		res.Aborted = p.txns.abortedBetween(offset, res.Spans.LastOffset())
		p.mu.Unlock()
	}
}

// resolveForward reads the partition from offset from (below lso) for the markers of the
// producers in open (producer id → first offset of its undecided transaction), up to
// maxResolveBytes. It returns the transactions found aborted and removes every decided one from
// open.
func (p *partition) resolveForward(ctx context.Context, from, lso int64, open map[int64]int64) []AbortedTxn {
	var aborted []AbortedTxn
	var buf []byte
	for scanned := 0; len(open) > 0 && from < lso && scanned < maxResolveBytes; {
		r, err := p.plog.Read(ctx, buf, from, 1<<20)
		if err != nil || len(r.Records) == 0 {
			break
		}
		recs, last := cutAt(r.Records, lso)
		if len(recs) == 0 {
			break
		}
		for pos := 0; pos < len(recs); {
			info, err := segment.ParseBatch(recs[pos:])
			if err != nil {
				return aborted
			}
			if first, ok := open[info.ProducerID]; ok && info.Control() && info.Transactional() && info.BaseOffset >= from {
				if commit, err := controlCommit(recs[pos : pos+info.Size()]); err == nil {
					delete(open, info.ProducerID)
					if !commit {
						aborted = append(aborted, AbortedTxn{ProducerID: info.ProducerID, First: first, last: info.BaseOffset})
					}
				}
			}
			pos += info.Size()
		}
		scanned += len(recs)
		from = last + 1
		if !r.Shared {
			buf = r.Records[:0]
		}
	}
	return aborted
}

// cutAt returns the whole batches of recs below limit and the last offset they hold.
func cutAt(recs []byte, limit int64) ([]byte, int64) {
	pos, last := 0, int64(-1)
	for pos+segment.BatchHeaderSize <= len(recs) {
		info, err := segment.ParseBatch(recs[pos:])
		if err != nil || info.BaseOffset >= limit || pos+info.Size() > len(recs) {
			break
		}
		pos += info.Size()
		last = info.LastOffset()
	}
	return recs[:pos], last
}

// abortedIn derives the aborted transactions from the control batches in recs: a producer's
// transaction starts at its first transactional batch after its previous marker (or at the
// start of recs). open maps the producers whose last transaction in recs has no marker there to
// its first offset.
func abortedIn(recs []byte) (aborted []AbortedTxn, open map[int64]int64) {
	var x txnIndex
	for pos := 0; pos+segment.BatchHeaderSize <= len(recs); {
		info, err := segment.ParseBatch(recs[pos:])
		if err != nil || pos+info.Size() > len(recs) {
			break
		}
		commit := false
		if info.Control() && info.Transactional() {
			c, err := controlCommit(recs[pos : pos+info.Size()])
			if err != nil {
				pos += info.Size()
				continue
			}
			commit = c
			if _, ok := x.open[info.ProducerID]; !ok && !commit {
				// Its batches precede recs: nothing here to drop, but say so harmlessly.
				x.aborted = append(x.aborted, AbortedTxn{ProducerID: info.ProducerID, First: info.BaseOffset, last: info.BaseOffset})
			}
		}
		x.note(info, commit)
		pos += info.Size()
	}
	for pid, o := range x.open {
		if open == nil {
			open = map[int64]int64{}
		}
		open[pid] = o.first
	}
	return x.aborted, open
}

// mergeAborted joins two lists of aborted transactions without duplicates, ordered by first
// offset (the order Kafka answers them in).
func mergeAborted(a, b []AbortedTxn) []AbortedTxn {
	out := append(slices.Clone(a), b...)
	slices.SortFunc(out, func(x, y AbortedTxn) int {
		if x.First != y.First {
			return cmp.Compare(x.First, y.First)
		}
		return cmp.Compare(x.ProducerID, y.ProducerID)
	})
	return slices.CompactFunc(out, func(x, y AbortedTxn) bool { return x.ProducerID == y.ProducerID && x.First == y.First })
}

// ProducerInfo is one producer's state in a partition, for DescribeProducers.
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32 // -1 when only a marker was seen at this epoch
	LastTimestamp int64 // unix ms of its newest batch
	// TxnStartOffset is the first offset of its open transaction here, -1 when none.
	TxnStartOffset int64
}

// Producers lists the producers a led partition knows (idempotent and transactional), ordered
// by producer id.
func (b *Broker) Producers(ctx context.Context, tp metadata.TopicPartition) ([]ProducerInfo, error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, st := range p.producers {
		pi := ProducerInfo{ProducerID: id, ProducerEpoch: st.epoch, LastSequence: -1, LastTimestamp: st.lastSeen, TxnStartOffset: -1}
		if st.n > 0 {
			pi.LastSequence = st.newest().lastSeq
		}
		if o, ok := p.txns.open[id]; ok {
			pi.TxnStartOffset = o.first
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out, nil
}
