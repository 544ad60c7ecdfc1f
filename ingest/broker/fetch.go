package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// Special ListOffsets timestamps (KIP-79, KIP-734, KIP-1005).
const (
	LatestTimestamp        int64 = -1
	EarliestTimestamp      int64 = -2
	MaxTimestamp           int64 = -3
	EarliestLocalTimestamp int64 = -4
	LatestTieredTimestamp  int64 = -5
)

// FetchResult is what one partition contributes to a Fetch response.
type FetchResult struct {
	// Records are whole RecordBatches as stored (compression intact), possibly empty.
	Records []byte
	// HighWatermark is the end of what consumers may see: the durable offset of the hot log
	// (strata.durability=local) or the tiered end (object). Records never reach at or past it.
	HighWatermark  int64
	LogStartOffset int64
	// Release, when set, hands Records' buffer back for reuse by later fetches. Call it at most
	// once, after the last use of Records (for a Fetch response: once it is written); never
	// calling it only leaves the buffer to the garbage collector.
	Release func()
}

// readBufs recycles hot-log read buffers between fetches: a Fetch reads up to max_bytes (often
// megabytes) per partition, and fresh buffers cost zeroing, page faults and GC work.
var readBufs sync.Pool // of *[]byte

// maxPooledRead bounds the buffers kept for reuse.
const maxPooledRead = 64 << 20

func readBuf() *[]byte {
	if b, ok := readBufs.Get().(*[]byte); ok {
		return b
	}
	return new([]byte)
}

// releaser returns the Release of a FetchResult whose Records came from buf.
func releaser(buf *[]byte, recs []byte) func() {
	done := false
	return func() {
		if done || cap(recs) > maxPooledRead {
			return
		}
		done = true
		*buf = recs[:0]
		readBufs.Put(buf)
	}
}

// Fetch reads whole batches from offset, up to maxBytes but at least one batch when any exists
// below the high watermark (KIP-74), and never a batch at or past the high watermark. offset inside
// a batch returns that whole batch. An offset between the high watermark and the log end returns
// nothing (as in Kafka, where the log end, not the high watermark, bounds valid fetch offsets);
// OFFSET_OUT_OF_RANGE outside [log start, log end].
func (b *Broker) Fetch(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) (FetchResult, error) {
	p, err := b.servingLog(ctx, tp)
	if err != nil {
		return FetchResult{}, err
	}
	hot, end := p.log.StartOffset(), p.log.EndOffset()
	hw := b.highWatermark(p, end)
	res := FetchResult{HighWatermark: hw, LogStartOffset: b.logStart(p)}
	if offset < 0 || offset > end {
		return res, kafkaErr(kerr.OffsetOutOfRange, "%s: offset %d outside [%d, %d]", tp, offset, res.LogStartOffset, end)
	}
	if offset >= hw {
		return res, nil
	}
	if offset >= hot {
		buf := readBuf()
		recs, err := p.log.ReadAppend(*buf, offset, maxBytes, hw)
		switch {
		case err == nil:
			res.Records = recs
			if cap(recs) > 0 {
				res.Release = releaser(buf, recs)
			}
			b.m.fetchedBytes.Add(float64(len(recs)))
			return res, nil
		case !errors.Is(err, hotlog.ErrOffsetOutOfRange):
			return res, logError(tp, fmt.Sprintf("read at %d", offset), err)
		}
		// Local retention removed it meanwhile: it is in object storage if anywhere.
	}
	if b.cfg.TieredReader == nil {
		return res, kafkaErr(kerr.OffsetOutOfRange, "%s: offset %d below the log start %d", tp, offset, hot)
	}
	if ts := p.tieredStart.Load(); ts >= 0 && offset < ts {
		return res, kafkaErr(kerr.OffsetOutOfRange, "%s: offset %d below the log start %d", tp, offset, ts)
	}
	recs, release, err := b.readTiered(ctx, p, offset, maxBytes)
	if err != nil {
		if Code(err) == kerr.OffsetOutOfRange.Code {
			if start, serr := b.earliest(ctx, p); serr == nil {
				res.LogStartOffset = start
			}
			return res, err
		}
		return res, tieredError(ctx, tp, "tiered read", err)
	}
	if p.tieredStart.Load() < 0 { // first tiered read since the catalog was last looked at
		if start, err := b.earliest(ctx, p); err == nil {
			res.LogStartOffset = start
		}
	}
	res.Records, res.Release = recs, release
	b.m.fetchedBytes.Add(float64(len(recs)))
	b.m.tieredBytes.Add(float64(len(recs)))
	return res, nil
}

// Changed returns a channel closed when tp's high watermark may have moved, for long-poll
// fetches: the hot log's fsync (strata.durability=local) or a registration in the catalog
// (object). The channel of a partition this node does not lead is nil (never fires).
func (b *Broker) Changed(tp metadata.TopicPartition) <-chan struct{} {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil {
		return nil
	}
	return b.visibleChanged(p)
}

// ListOffset answers ListOffsets for one partition: the offset and timestamp for ts, which is a
// time in milliseconds or one of the special values above.
//
//   - Latest (-1): the high watermark. Earliest (-2) and EarliestLocal (-4): the hot log's start
//     (with nothing tiered yet the two agree).
//   - MaxTimestamp (-3): the base offset of the batch holding the largest timestamp, and that
//     timestamp; -1/-1 for an empty log.
//   - LatestTiered (-5): the last offset held in object storage per the catalog; -1 when nothing
//     is tiered (what Apache Kafka answers when remote storage holds nothing).
//   - a time: the offset of the first record (from the log start, tiered or hot) whose timestamp
//     is ≥ ts, and that record's timestamp — its batch's append time for LogAppendTime batches —
//     as Kafka answers; -1/-1 when no visible record is that new.
func (b *Broker) ListOffset(ctx context.Context, tp metadata.TopicPartition, ts int64) (offset, timestamp int64, err error) {
	p, err := b.servingLog(ctx, tp)
	if err != nil {
		return -1, -1, err
	}
	switch ts {
	case LatestTimestamp:
		return b.highWatermark(p, p.log.EndOffset()), -1, nil
	case EarliestTimestamp:
		off, err := b.earliest(ctx, p)
		if err != nil {
			return -1, -1, fmt.Errorf("broker: earliest offset of %s: %w", tp, err)
		}
		return off, -1, nil
	case EarliestLocalTimestamp:
		return p.log.StartOffset(), -1, nil
	case MaxTimestamp:
		mts, off := p.log.MaxTimestamp()
		if off >= b.highWatermark(p, p.log.EndOffset()) {
			return -1, -1, nil // not visible yet (Kafka answers none above the high watermark)
		}
		return off, mts, nil
	case LatestTieredTimestamp:
		if b.cfg.Tiering != nil {
			return b.cfg.Tiering.LatestTiered(tp), -1, nil
		}
		cat, err := b.store.GetCatalog(ctx, tp)
		if err != nil {
			return -1, -1, fmt.Errorf("broker: catalog of %s: %w", tp, err)
		}
		if len(cat.Segments) == 0 {
			return -1, -1, nil
		}
		return cat.TieredEnd() - 1, -1, nil
	}
	if ts < 0 {
		return -1, -1, kafkaErr(kerr.InvalidRequest, "%s: unknown special timestamp %d", tp, ts)
	}
	// Offsets below the hot log's start are only in object storage: look there first.
	if hot := p.log.StartOffset(); b.cfg.TieredReader != nil {
		if start, err := b.earliest(ctx, p); err != nil {
			return -1, -1, fmt.Errorf("broker: earliest offset of %s: %w", tp, err)
		} else if start < hot {
			// start was just read from the catalog; the reader's cached copy may not have it yet.
			off, at, ok, err := b.cfg.TieredReader.OffsetForTimestamp(ctx, tp, p.topicID, ts, start, hot)
			if err != nil {
				return -1, -1, tieredError(ctx, tp, "tiered timestamp lookup", err)
			}
			if ok {
				return off, at, nil
			}
		}
	}
	off, at, ok, err := p.log.OffsetForTimestamp(ts)
	if err != nil {
		return -1, -1, logError(tp, fmt.Sprintf("timestamp lookup of %d", ts), err)
	}
	if !ok || off >= b.highWatermark(p, p.log.EndOffset()) {
		return -1, -1, nil
	}
	return off, at, nil
}

// Offsets returns a led partition's log start and high watermark.
func (b *Broker) Offsets(ctx context.Context, tp metadata.TopicPartition) (start, hw int64, err error) {
	p, err := b.servingLog(ctx, tp)
	if err != nil {
		return -1, -1, err
	}
	return p.log.StartOffset(), b.highWatermark(p, p.log.EndOffset()), nil
}

// DeleteRecords moves the partition's log start to offset (-1: the high watermark) and returns the
// new low watermark. The move is recorded in the catalog first, then applied locally.
func (b *Broker) DeleteRecords(ctx context.Context, tp metadata.TopicPartition, offset int64) (int64, error) {
	p, err := b.servingLog(ctx, tp)
	if err != nil {
		return -1, err
	}
	p.mu.Lock() // no appends while the start moves
	defer p.mu.Unlock()
	hw := b.highWatermark(p, p.log.EndOffset())
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, kafkaErr(kerr.OffsetOutOfRange, "%s: delete below %d outside [0, %d]", tp, offset, hw)
	}
	if offset <= b.logStart(p) {
		return b.logStart(p), nil
	}
	dropped, err := b.store.SetLogStartOffset(ctx, tp, p.currentLease().Epoch, offset)
	if err != nil {
		if errors.Is(err, metadata.ErrFenced) {
			return -1, kafkaErr(kerr.NotLeaderForPartition, "%s: fenced: %v", tp, err)
		}
		return -1, fmt.Errorf("broker: set log start of %s: %w", tp, err)
	}
	if b.cfg.Tiering != nil && len(dropped) > 0 {
		b.cfg.Tiering.ScheduleDelete(dropped)
	}
	if p.tieredStart.Load() >= 0 {
		p.tieredStart.Store(offset)
	}
	if offset > p.log.StartOffset() {
		if err := p.log.SetStartOffset(offset); err != nil {
			return -1, fmt.Errorf("broker: set local start of %s: %w", tp, err)
		}
		if err := p.log.DeleteSegmentsBelow(offset); err != nil {
			b.log.Warn("broker: delete segments below log start", "partition", tp, "offset", offset, "err", err)
		}
	}
	return b.logStart(p), nil
}
