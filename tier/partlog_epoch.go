package tier

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// Leader epochs of a partition's log (OffsetForLeaderEpoch, KIP-101/320).
//
// Every batch carries the epoch of the leader that appended it (the broker stamps it), and a new
// leader only ever appends after what the previous ones left, so along the log the batch epochs
// never go down. The start offset of epoch E is the base offset of its first batch; the end offset
// of E is the start of the first epoch above it. Strata keeps no separate epoch history: the end
// offset of E is found by a binary search for the first batch whose epoch is above E, probing one
// batch header at a time — in the hot log by scanning one header, below it through the Reader's
// block cache. The catalog narrows the tiered part first. A segment's catalog epoch is only a
// hint (its uploader's, which may be later than its batches' when a log was re-taken; a merged
// segment's is its first input's, which may be earlier): the search starts after the first batch
// of the last segment whose catalog epoch is ≤ E once a probe shows that batch's epoch is ≤ E, for
// then every batch before it is too.
//
// Cost of one lookup: for the current epoch, none (the log end). Otherwise one hot-log header
// read; when the answer lies below the hot log, the Reader's cached catalog and a few header
// probes, each the object's index (cached after the first) and one block of the block cache, with
// no read-ahead: three probes in two objects when an epoch ended at a segment's end, as it does
// at a takeover; about log2(offsets searched) probes when the catalog's hints do not help.
// Measured on MinIO with a cold cache over 50 objects of 24 offsets: 2 GETs when the hints hold, 7
// when every segment was registered under a later epoch than its batches'. Answers for epochs
// older than the current one never change (only the log start moves past them), so each
// PartitionLog caches them.

// maxEpochAnswers bounds the cached answers of one PartitionLog; the cache is emptied when full.
const maxEpochAnswers = 64

// errStopScan ends a hot-log header scan after the first batch.
var errStopScan = errors.New("tier: stop scan")

// batchSpan is what a probe learns of one batch.
type batchSpan struct {
	base, next int64 // first offset, one past the last
	epoch      int32 // PartitionLeaderEpoch
}

// epochAnswer is a cached EndOffsetForEpoch result.
type epochAnswer struct {
	epoch int32
	end   int64
}

// epochCache holds the answers for epochs older than the current one.
type epochCache struct {
	mu sync.Mutex
	m  map[int32]epochAnswer
}

func (c *epochCache) get(epoch int32) (epochAnswer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[epoch]
	return a, ok
}

func (c *epochCache) put(epoch int32, a epochAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxEpochAnswers {
		c.m = make(map[int32]epochAnswer)
	}
	c.m[epoch] = a
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch for this partition, whose current leader epoch is
// latest, as Apache Kafka's leader does:
//   - requested == latest: (latest, log end);
//   - requested < 0 or above latest: (-1, -1), UNDEFINED_EPOCH_OFFSET;
//   - otherwise (the largest epoch ≤ requested that wrote a batch, the offset where the next epoch
//     begins) — the log end when no later epoch wrote anything yet;
//   - requested below every epoch still in the log: (requested, the first remaining batch's
//     offset, at least the log start).
//
// The leader asks with its lease epoch as latest; on a node without the hot log the log ends at
// the tiered end. It reads batch headers (see the top of this file for the cost). Errors are the
// hot log's and object storage's; a log start that moves during the search may also surface as
// ErrOffsetOutOfRange.
func (l *PartitionLog) EndOffsetForEpoch(ctx context.Context, requested, latest int32) (epoch int32, end int64, err error) {
	o := l.Offsets()
	logEnd := o.End
	switch {
	case requested < 0 || requested > latest:
		return -1, -1, nil
	case requested == latest:
		return latest, logEnd, nil
	}
	if a, ok := l.epochs.get(requested); ok && a.end >= o.LogStart {
		return a.epoch, a.end, nil
	}
	epoch, end, err = l.endOffsetForEpoch(ctx, requested, logEnd)
	if err != nil {
		return -1, -1, fmt.Errorf("tier: end offset of epoch %d in %s: %w", requested, l.cfg.Partition, err)
	}
	if end < logEnd { // a later epoch has begun: this answer is final
		l.epochs.put(requested, epochAnswer{epoch: epoch, end: end})
	}
	return epoch, end, nil
}

func (l *PartitionLog) endOffsetForEpoch(ctx context.Context, requested int32, logEnd int64) (int32, int64, error) {
	hi := logEnd // the search's upper bound: the base of a known batch above requested, or the log end
	if hot := l.cfg.Hot; hot != nil {
		hotStart := hot.StartOffset()
		if hotStart < logEnd {
			b, err := l.probe(ctx, hotStart)
			if err != nil {
				return -1, -1, err
			}
			if b.epoch <= requested { // the answer lies in the hot log
				return searchEpochEnd(b.next, logEnd, logEnd, requested, b.epoch, l.probeFn(ctx))
			}
			hi = b.base
		} else {
			hi = hotStart
		}
		if l.cfg.Objects == nil {
			return requested, hi, nil
		}
	}
	c, err := l.cfg.Objects.catalog(ctx, l.cfg.Partition, l.cfg.TopicID, 0)
	if err != nil {
		return -1, -1, err
	}
	if len(c.Segments) == 0 || (!c.TopicID.IsZero() && c.TopicID != l.cfg.TopicID) {
		return requested, hi, nil
	}
	if l.cfg.Hot == nil {
		hi = c.TieredEnd()
	}
	tieredHi := min(hi, c.TieredEnd())
	// The Reader's cached catalog may not have seen a log-start move yet that this log has.
	lo := max(c.LogStartOffset, c.Segments[0].BaseOffset, l.tieredStart())
	atHi := hi
	lo, seed, tieredHi, atHi, err := seedFromCatalog(c.Segments, lo, tieredHi, atHi, requested, l.probeFn(ctx))
	if err != nil {
		return -1, -1, err
	}
	return searchEpochEnd(lo, tieredHi, atHi, requested, seed, l.probeFn(ctx))
}

// seedFromCatalog narrows the search over tiered segments between lo and hi (the base of a known
// batch above requested, or the end: atHi is the answer there). It starts after the first batch of
// the last segment whose catalog epoch is ≤ requested, when a probe shows that batch's own epoch is
// ≤ requested too — every batch before it then is — and returns that batch's epoch as the seed
// (else lo and -1). It then probes the next segment's first batch: above requested, it bounds the
// search to the one segment (a takeover starts a new segment, so an epoch usually ends at one's
// end); at or below, the search starts after it. The catalog epoch is only a hint (see the top of
// this file): it can be later or earlier than the batches'.
func seedFromCatalog(segs []metadata.SegmentRef, lo, hi, atHi int64, requested int32, probe func(int64) (batchSpan, error)) (newLo int64, seed int32, newHi, newAtHi int64, err error) {
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.Epoch > requested || s.BaseOffset >= hi || s.NextOffset <= lo {
			continue
		}
		b, err := probe(max(s.BaseOffset, lo))
		if err != nil {
			return lo, -1, hi, atHi, err
		}
		if b.epoch > requested {
			break
		}
		lo, seed = max(b.next, lo), b.epoch
		if i+1 < len(segs) && segs[i+1].BaseOffset >= lo && segs[i+1].BaseOffset < hi {
			n, err := probe(segs[i+1].BaseOffset)
			if err != nil {
				return lo, -1, hi, atHi, err
			}
			if n.epoch > requested {
				hi = max(n.base, lo)
				atHi = hi
			} else {
				lo, seed = max(n.next, lo), n.epoch
			}
		}
		return lo, seed, hi, atHi, nil
	}
	return lo, -1, hi, atHi, nil
}

// searchEpochEnd finds where the first batch of an epoch above requested begins, between lo and
// hi: every batch below lo has an epoch ≤ requested (seed is the last one's, -1 if there is none),
// and at hi the log ends or an epoch above requested has begun, at offset atHi. probe(o) returns
// the batch holding o, or the first one after it; batch epochs never go down along the log. It
// returns the epoch of the last batch at or below requested (requested itself if there is none)
// and the end offset. Probes: one at hi-1 first (an epoch usually ends where the next leader's
// data begins), then a binary search, then one at the boundary.
func searchEpochEnd(lo, hi, atHi int64, requested, seed int32, probe func(int64) (batchSpan, error)) (int32, int64, error) {
	epoch, limit := seed, hi
	if lo < hi {
		b, err := probe(hi - 1)
		if err != nil {
			return -1, -1, err
		}
		if b.epoch <= requested {
			lo, epoch = max(b.next, lo), b.epoch
		} else {
			hi = max(lo, min(hi-1, b.base))
		}
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		b, err := probe(mid)
		if err != nil {
			return -1, -1, err
		}
		if b.epoch <= requested {
			lo, epoch = b.next, b.epoch // b.next > mid ≥ lo: lo always grows
		} else {
			hi = max(lo, min(mid, b.base))
		}
	}
	end := atHi
	if lo < limit { // stopped at a batch above requested: where does it begin?
		b, err := probe(lo)
		if err != nil {
			return -1, -1, err
		}
		end = min(max(b.base, lo), atHi)
	}
	if epoch < 0 {
		return requested, end, nil
	}
	return epoch, end, nil
}

func (l *PartitionLog) probeFn(ctx context.Context) func(int64) (batchSpan, error) {
	return func(o int64) (batchSpan, error) { return l.probe(ctx, o) }
}

// probe reads the header of the batch holding offset o, or of the first batch after it: from the
// hot log when o is in it, else through the Reader.
func (l *PartitionLog) probe(ctx context.Context, o int64) (batchSpan, error) {
	if hot := l.cfg.Hot; hot != nil && o >= hot.StartOffset() {
		var b batchSpan
		found := false
		err := hot.ScanBatches(o, func(info segment.BatchInfo) error {
			b, found = batchSpan{base: info.BaseOffset, next: info.NextOffset(), epoch: info.PartitionLeaderEpoch}, true
			return errStopScan
		})
		switch {
		case err != nil && !errors.Is(err, errStopScan):
			return b, err
		case !found:
			return b, fmt.Errorf("%w: no batch at or after %d in the hot log", ErrOffsetOutOfRange, o)
		}
		return b, nil
	}
	if l.cfg.Objects == nil {
		return batchSpan{}, fmt.Errorf("%w: %d below the hot log", ErrOffsetOutOfRange, o)
	}
	var info segment.BatchInfo
	err := l.cfg.Objects.againIfGone(ctx, l.cfg.Partition, func() (err error) {
		info, err = l.cfg.Objects.batchHeader(ctx, l.cfg.Partition, l.cfg.TopicID, o)
		return err
	})
	if err != nil {
		return batchSpan{}, err
	}
	return batchSpan{base: info.BaseOffset, next: info.NextOffset(), epoch: info.PartitionLeaderEpoch}, nil
}

// batchHeader returns the header of the tiered batch holding offset, or of the first one after it
// (a gap left by compaction), read through the block cache (the object's index, then the header's
// block). Unlike Read it is not a consumer's read: it starts no read-ahead and leaves the
// partition's sequential-read position alone. The header is not CRC-checked: the CRC does not
// cover the partition leader epoch anyway.
func (r *Reader) batchHeader(ctx context.Context, tp metadata.TopicPartition, topicID metadata.TopicID, offset int64) (segment.BatchInfo, error) {
	c, err := r.catalog(ctx, tp, topicID, offset)
	if err != nil {
		return segment.BatchInfo{}, err
	}
	if c.TopicID != topicID || offset < c.LogStartOffset || offset >= c.TieredEnd() {
		return segment.BatchInfo{}, fmt.Errorf("%w: %s offset %d not in tiered range [%d, %d)", ErrOffsetOutOfRange, tp, offset,
			c.LogStartOffset, c.TieredEnd())
	}
	segs := c.Segments
	seg := segs[sort.Search(len(segs), func(i int) bool { return segs[i].NextOffset > offset })]
	if seg.Format == metadata.FormatParquet {
		return r.parquetBatchHeader(ctx, seg, offset)
	}
	oi, err := r.index(ctx, seg, false)
	if err != nil {
		return segment.BatchInfo{}, err
	}
	sr := segment.NewIndexedReader(&objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: oi.size}, oi.ix)
	_, info, err := sr.FindOffset(max(offset, oi.ix.BaseOffset))
	if err != nil {
		return segment.BatchInfo{}, r.corrupt(seg.Key, err)
	}
	return info, nil
}
