package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/tier/segment"
)

// Idempotent producers. Per partition and producer id the broker keeps the producer epoch and the
// sequence ranges of the last maxCachedBatches batches, like Apache Kafka:
//
//	epoch < known epoch                        → INVALID_PRODUCER_EPOCH
//	epoch > known epoch, base sequence != 0    → OUT_OF_ORDER_SEQUENCE_NUMBER
//	same epoch, batch equals a cached batch    → duplicate: success with the original offsets
//	same epoch, base sequence != last + 1      → OUT_OF_ORDER_SEQUENCE_NUMBER
//	unknown producer id                        → accepted (state may predate the scanned tail)
//
// Sequences wrap from MaxInt32 to 0. The state is rebuilt when a partition is opened by scanning
// the tail of its hot log (Config.ProducerStateScanBytes); producers idle beyond that window are
// treated as unknown. Producers silent for Config.ProducerIDExpiration (Kafka's
// producer.id.expiration.ms, default 1 day) are forgotten at the next reconcile. Deviation from
// Apache Kafka: no producer-state snapshots; the state lives only while this node leads.

const maxCachedBatches = 5

type cachedBatch struct {
	firstSeq, lastSeq int32
	base, last        int64
}

type producerState struct {
	lastSeen int64 // unix ms of the newest batch (append time, or batch timestamp when rebuilt)
	epoch    int16
	batches  [maxCachedBatches]cachedBatch
	n        int // batches held (≤ maxCachedBatches)
	head     int // index of the newest batch
}

func (s *producerState) newest() cachedBatch { return s.batches[s.head] }

func (s *producerState) push(c cachedBatch) {
	if s.n > 0 {
		s.head = (s.head + 1) % maxCachedBatches
	}
	s.batches[s.head] = c
	if s.n < maxCachedBatches {
		s.n++
	}
}

// lastSequence is base + delta with Kafka's wrap-around at MaxInt32.
func lastSequence(base, delta int32) int32 {
	return int32((int64(base) + int64(delta)) % (math.MaxInt32 + 1))
}

func nextSequence(seq int32) int32 {
	if seq == math.MaxInt32 {
		return 0
	}
	return seq + 1
}

// checkSequence decides whether info may be appended. It returns the cached batch and true for a
// duplicate. Callers hold p.mu.
func (p *partition) checkSequence(info segment.BatchInfo) (cachedBatch, bool, error) {
	if info.ProducerID < 0 {
		return cachedBatch{}, false, nil
	}
	st := p.producers[info.ProducerID]
	if st == nil {
		return cachedBatch{}, false, nil
	}
	switch {
	case info.ProducerEpoch < st.epoch:
		return cachedBatch{}, false, kafkaErr(kerr.InvalidProducerEpoch, "%s: producer %d epoch %d < %d",
			p.tp, info.ProducerID, info.ProducerEpoch, st.epoch)
	case info.ProducerEpoch > st.epoch:
		if info.BaseSequence != 0 {
			return cachedBatch{}, false, kafkaErr(kerr.OutOfOrderSequenceNumber, "%s: producer %d new epoch %d starts at sequence %d, want 0",
				p.tp, info.ProducerID, info.ProducerEpoch, info.BaseSequence)
		}
		return cachedBatch{}, false, nil
	}
	if st.n == 0 {
		return cachedBatch{}, false, nil // only a transaction marker seen at this epoch
	}
	last := lastSequence(info.BaseSequence, info.LastOffsetDelta)
	for i := 0; i < st.n; i++ {
		c := st.batches[i]
		if c.firstSeq == info.BaseSequence && c.lastSeq == last {
			return c, true, nil
		}
	}
	if want := nextSequence(st.newest().lastSeq); info.BaseSequence != want {
		return cachedBatch{}, false, kafkaErr(kerr.OutOfOrderSequenceNumber, "%s: producer %d epoch %d sequence %d, want %d",
			p.tp, info.ProducerID, info.ProducerEpoch, info.BaseSequence, want)
	}
	return cachedBatch{}, false, nil
}

// recordSequence remembers an appended batch seen at unix ms now. Callers hold p.mu (or own p
// exclusively).
func (p *partition) recordSequence(info segment.BatchInfo, base, last, now int64) {
	if info.ProducerID < 0 {
		return
	}
	if p.producers == nil {
		p.producers = map[int64]*producerState{}
	}
	st := p.producers[info.ProducerID]
	if st == nil || info.ProducerEpoch > st.epoch {
		st = &producerState{epoch: info.ProducerEpoch}
		p.producers[info.ProducerID] = st
	} else if info.ProducerEpoch < st.epoch {
		return // an old epoch's batch seen during a rebuild scan
	}
	st.lastSeen = max(st.lastSeen, now)
	if info.Control() {
		return // a transaction marker: it sets the epoch but carries no sequence
	}
	st.push(cachedBatch{
		firstSeq: info.BaseSequence,
		lastSeq:  lastSequence(info.BaseSequence, info.LastOffsetDelta),
		base:     base,
		last:     last,
	})
}

// rebuildProducers scans the tail of the log (at least scanBytes of the newest segments) and
// replays every idempotent batch into the producer state, after whatever is already there (see
// Broker.rebuildTieredProducers). It returns the hot-log bytes it considered.
func (p *partition) rebuildProducers(scanBytes int64) (int64, error) {
	segs := p.log.Segments()
	from := p.log.StartOffset()
	var total int64
	for i := len(segs) - 1; i >= 0; i-- {
		total += segs[i].Size
		if total >= scanBytes {
			from = max(from, segs[i].BaseOffset)
			break
		}
	}
	if p.producers == nil {
		p.producers = map[int64]*producerState{}
	}
	if from >= p.log.EndOffset() {
		return total, nil
	}
	return total, p.log.ScanBatches(from, func(info segment.BatchInfo) error {
		p.recordSequence(info, info.BaseOffset, info.LastOffset(), info.MaxTimestamp)
		return nil
	})
}

// expireProducers forgets producers whose newest batch is older than cutoff (unix ms).
func (p *partition) expireProducers(cutoff int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id, st := range p.producers {
		if st.lastSeen < cutoff {
			delete(p.producers, id)
			n++
		}
	}
	return n
}
