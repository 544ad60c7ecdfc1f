package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
)

// Special ListOffsets timestamps (KIP-79, KIP-734, KIP-1005, KIP-1023).
const (
	LatestTimestamp                int64 = -1
	EarliestTimestamp              int64 = -2
	MaxTimestamp                   int64 = -3
	EarliestLocalTimestamp         int64 = -4
	LatestTieredTimestamp          int64 = -5
	EarliestPendingUploadTimestamp int64 = -6
)

// FetchResult is what one partition contributes to a Fetch response.
type FetchResult struct {
	// Records are whole RecordBatches as stored (compression intact), possibly empty.
	Records []byte
	// HighWatermark is the end of what consumers may see: the durable offset of the hot log
	// (strata.durability=local) or the tiered end (object). Records never reach at or past it.
	HighWatermark  int64
	LogStartOffset int64
	// LastStableOffset is min(high watermark, first offset of the oldest open transaction).
	LastStableOffset int64
	// Aborted lists, for a read_committed fetch, the aborted transactions overlapping Records.
	Aborted []AbortedTxn
	// Spans, from FetchSpans only, hold the records instead of Records: hot-log batches left in
	// their segment files, to be written with Spans.WriteTo (sendfile). Release closes them.
	Spans *hotlog.Spans
	// Release, when set, hands Records' buffer back for reuse by later fetches, or closes Spans.
	// Call it at most once, after the last use of Records or Spans (for a Fetch response: once it
	// is written). Never calling it leaves the buffer to the garbage collector, but Spans' files
	// open until then.
	Release func()
}

// Len is the number of record bytes fetched (in Records or Spans).
func (r FetchResult) Len() int {
	if r.Spans != nil {
		return r.Spans.Len()
	}
	return len(r.Records)
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

// Fetch reads whole batches from offset across the tiers (tier.PartitionLog.Read): up to
// maxBytes but at least one batch when any exists below the high watermark (KIP-74), never a batch
// at or past it. OFFSET_OUT_OF_RANGE outside [log start, log end].
func (b *Broker) Fetch(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) (FetchResult, error) {
	return b.FetchIsolated(ctx, tp, offset, maxBytes, false)
}

// FetchIsolated is Fetch with an isolation level: readCommitted stops at the last stable offset
// and lists the aborted transactions in the range (txn.go).
func (b *Broker) FetchIsolated(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int, readCommitted bool) (FetchResult, error) {
	return b.fetch(ctx, tp, offset, maxBytes, readCommitted, -1)
}

// FetchSpans is FetchIsolated for a caller that writes the records to a socket itself: records
// that come from the hot log and hold at least minBytes are returned as Spans, sent from the
// segment files (sendfile) rather than read into memory. A read_committed read from the hot log
// stops at the last stable offset as of its start.
func (b *Broker) FetchSpans(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes, minBytes int, readCommitted bool) (FetchResult, error) {
	return b.fetch(ctx, tp, offset, maxBytes, readCommitted, max(minBytes, 0))
}

// fetch is FetchIsolated, and FetchSpans when minSpan ≥ 0.
func (b *Broker) fetch(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int, readCommitted bool, minSpan int) (FetchResult, error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return FetchResult{}, err
	}
	buf := readBuf()
	var r tier.ReadResult
	stop := int64(-1)
	if minSpan >= 0 {
		if readCommitted {
			// Spans cannot be cut afterwards: the read itself stops at the last stable offset.
			stop = p.stable(p.plog.HighWatermark())
		}
		r, err = p.plog.ReadSpans(ctx, *buf, offset, maxBytes, minSpan, stop)
	} else {
		r, err = p.plog.Read(ctx, *buf, offset, maxBytes)
	}
	res := FetchResult{Records: r.Records, Spans: r.Spans, HighWatermark: r.HighWatermark, LogStartOffset: r.LogStart}
	switch {
	case r.Spans != nil:
		readBufs.Put(buf)
		res.Release = func() { _ = r.Spans.Close() }
	case err != nil || r.Shared || cap(r.Records) == 0:
		readBufs.Put(buf)
	default:
		res.Release = releaser(buf, r.Records)
	}
	if err != nil {
		res.Records, res.Release = nil, nil
		return res, readError(ctx, tp, fmt.Sprintf("read at %d", offset), err)
	}
	if readCommitted && res.Spans != nil {
		p.committedSpans(&res, offset, stop)
	} else if readCommitted {
		p.readCommitted(ctx, &res, offset, r.Tiered)
	} else {
		res.LastStableOffset = p.stable(res.HighWatermark)
	}
	b.m.fetchedBytes.Add(float64(r.Len()))
	if r.Tiered {
		b.m.tieredBytes.Add(float64(len(r.Records)))
	}
	return res, nil
}

// readError maps a failed read of a partition to the Kafka error a client acts on:
// OFFSET_OUT_OF_RANGE, else as failedRead.
func readError(ctx context.Context, tp metadata.TopicPartition, op string, err error) error {
	if errors.Is(err, tier.ErrOffsetOutOfRange) {
		return kafkaErr(kerr.OffsetOutOfRange, "%s: %s: %v", tp, op, err)
	}
	return failedRead(ctx, tp, op, err)
}

// failedRead maps any other failure of a read (a hot log or object storage) as logError does —
// NOT_LEADER_OR_FOLLOWER when the hot log was closed or cut under it (leadership moved),
// KAFKA_STORAGE_ERROR (retried by clients) for a failed hot log or object store, corruption
// included — except that a read whose request deadline ended is REQUEST_TIMED_OUT. Never
// UNKNOWN_SERVER_ERROR, which clients treat as fatal.
func failedRead(ctx context.Context, tp metadata.TopicPartition, op string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, hotlog.ErrClosed) && !errors.Is(err, hotlog.ErrTruncated) {
		return kafkaErr(kerr.RequestTimedOut, "%s: %s: %v", tp, op, err)
	}
	return logError(tp, op, err)
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
	return p.plog.Changed()
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
//   - EarliestPendingUpload (-6): the first offset not yet in object storage (not below the log
//     start), or the log start when nothing is tiered yet, as Apache Kafka answers.
//   - a time: the offset of the first record (from the log start, tiered or hot) whose timestamp
//     is ≥ ts, and that record's timestamp — its batch's append time for LogAppendTime batches —
//     as Kafka answers; -1/-1 when no visible record is that new.
func (b *Broker) ListOffset(ctx context.Context, tp metadata.TopicPartition, ts int64) (offset, timestamp int64, err error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return -1, -1, err
	}
	switch ts {
	case LatestTimestamp:
		return p.plog.HighWatermark(), -1, nil
	case EarliestTimestamp:
		off, err := p.plog.Earliest(ctx)
		if err != nil {
			return -1, -1, fmt.Errorf("broker: earliest offset of %s: %w", tp, err)
		}
		return off, -1, nil
	case EarliestLocalTimestamp:
		return p.log.StartOffset(), -1, nil
	case MaxTimestamp:
		mts, off := p.plog.MaxTimestamp()
		return off, mts, nil
	case LatestTieredTimestamp, EarliestPendingUploadTimestamp:
		off, err := p.plog.LatestTiered(ctx)
		if err != nil {
			return -1, -1, fmt.Errorf("broker: latest tiered offset of %s: %w", tp, err)
		}
		if ts == LatestTieredTimestamp {
			return off, -1, nil
		}
		start, err := p.plog.Earliest(ctx)
		if err != nil {
			return -1, -1, fmt.Errorf("broker: earliest offset of %s: %w", tp, err)
		}
		return max(off+1, start), -1, nil
	}
	if ts < 0 {
		return -1, -1, kafkaErr(kerr.InvalidRequest, "%s: unknown special timestamp %d", tp, ts)
	}
	off, at, ok, err := p.plog.OffsetForTimestamp(ctx, ts)
	if err != nil {
		return -1, -1, readError(ctx, tp, fmt.Sprintf("timestamp lookup of %d", ts), err)
	}
	if !ok {
		return -1, -1, nil
	}
	return off, at, nil
}

// Offsets returns a led partition's log start and high watermark.
func (b *Broker) Offsets(ctx context.Context, tp metadata.TopicPartition) (start, hw int64, err error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return -1, -1, err
	}
	o := p.plog.Offsets()
	return o.LocalStart, o.HighWatermark, nil
}

// DeleteRecords moves the partition's log start to offset (-1: the high watermark) and returns the
// new low watermark (tier.PartitionLog.MoveLogStart: the catalog first, then the hot log).
func (b *Broker) DeleteRecords(ctx context.Context, tp metadata.TopicPartition, offset int64) (int64, error) {
	p, err := b.leaderFor(ctx, tp)
	if err != nil {
		return -1, err
	}
	p.mu.Lock() // no appends while the start moves
	defer p.mu.Unlock()
	hw := p.plog.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return -1, kafkaErr(kerr.OffsetOutOfRange, "%s: delete below %d outside [0, %d]", tp, offset, hw)
	}
	// The log start from the catalog itself: a view held here may predate a registration.
	start, err := p.plog.Earliest(ctx)
	if err != nil {
		return -1, fmt.Errorf("broker: log start of %s: %w", tp, err)
	}
	if offset <= start {
		return start, nil
	}
	dropped, err := p.plog.MoveLogStart(ctx, p.currentLease().Epoch, offset)
	if b.cfg.Tiering != nil && len(dropped) > 0 {
		b.cfg.Tiering.ScheduleDelete(dropped)
	}
	if err != nil {
		if errors.Is(err, metadata.ErrFenced) {
			return -1, kafkaErr(kerr.NotLeaderForPartition, "%s: fenced: %v", tp, err)
		}
		return -1, fmt.Errorf("broker: %w", err)
	}
	return p.plog.Offsets().LogStart, nil
}
