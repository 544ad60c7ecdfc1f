package tier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// ErrHotStart wraps a MoveLogStart failure after the catalog's log start moved: only the hot
// log's start did not (the hot log failed or closed). Readers already honour the new start.
var ErrHotStart = errors.New("tier: the log start moved in the catalog, not in the hot log")

// CatalogStore is the part of the metadata service a PartitionLog uses: the partition's catalog,
// and the leader-only move of its log start.
type CatalogStore interface {
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	SetLogStartOffset(ctx context.Context, tp metadata.TopicPartition, epoch int32, offset int64) ([]metadata.SegmentRef, error)
}

// TieredView is the leader's view of how far a partition is tiered: tier.Uploader, which
// refreshes it on every registration. A PartitionLog of a strata.durability=object partition
// bounds what consumers see by it.
type TieredView interface {
	// TieredEnd is one past the last offset registered in the catalog (-1: not known yet).
	TieredEnd(tp metadata.TopicPartition) int64
	// TieredChanged is closed when TieredEnd next moves (nil: never).
	TieredChanged(tp metadata.TopicPartition) <-chan struct{}
	// LatestTiered is the last offset in object storage, -1 when none (ListOffsets -5).
	LatestTiered(tp metadata.TopicPartition) int64
}

var _ TieredView = (*Uploader)(nil)

// PartitionLogConfig configures a PartitionLog.
type PartitionLogConfig struct {
	Partition metadata.TopicPartition
	TopicID   metadata.TopicID
	// Hot is the leader's hot log. Nil on a node that does not lead the partition: the log then
	// holds the tiered part only, and its high watermark is the catalog's tiered end.
	Hot *hotlog.Log
	// Objects reads the tiered part, with the catalogs of the metadata service Catalog names
	// (Earliest reads them through it). Nil: nothing below the hot log's start is readable.
	Objects *Reader
	// Catalog is the metadata service. Required with Objects, and for MoveLogStart.
	Catalog CatalogStore
	// Tiered is the leader's tiering view (the Uploader tracking Hot). With ObjectDurability it
	// bounds the high watermark; it also answers LatestTiered without a catalog read.
	Tiered TieredView
	// ObjectDurability: the high watermark is the tiered end (strata.durability=object), not
	// the hot log's fsynced offset. SetObjectDurability changes it later.
	ObjectDurability bool
	// Logger receives what a log-start move could not clean up locally (default: discard).
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c PartitionLogConfig) Validate() error {
	switch {
	case c.Hot == nil && c.Objects == nil:
		return fmt.Errorf("%w: %s: a partition log needs a hot log or an object reader", ErrConfig, c.Partition)
	case c.Objects != nil && c.Catalog == nil:
		return fmt.Errorf("%w: %s: Catalog is required with Objects", ErrConfig, c.Partition)
	case c.Hot == nil && c.ObjectDurability:
		return fmt.Errorf("%w: %s: ObjectDurability needs the leader's hot log", ErrConfig, c.Partition)
	}
	return nil
}

// PartitionLog is one partition's log across tiers: the leader's hot log on top of the catalog's
// objects. It answers "read from offset X", the offsets that bound the tiers, "find by timestamp"
// and "move the log start", whichever tier holds the data; the broker's Fetch, ListOffsets and
// DeleteRecords, tier retention and readers on other nodes all go through it.
//
//	log start        local start         tiered end          high watermark   log end
//	    |---- objects only ----|---- both tiers ----|---- hot log only ----|··· not visible ···|
//
// Offsets below the hot log's start are read from object storage; the rest from the hot log. On a
// node without the hot log (Config.Hot nil) the log ends at the tiered end.
//
// The high watermark is the end of what consumers may see: the hot log's fsynced offset, or with
// ObjectDurability the tiered end (registered in the catalog, so no node's death loses it). No
// read returns a batch at or past it.
//
// # Concurrency
//
// Safe for concurrent use. Reads take no lock of the PartitionLog's own (the hot log and the
// Reader have theirs); moves of the log start are serialized by one mutex, and each moves the
// catalog's start (under the leader's epoch) before the hot log's, so a reader never finds the
// hot log starting above a catalog that still names the offsets between.
type PartitionLog struct {
	cfg    PartitionLogConfig
	object atomic.Bool

	moveMu sync.Mutex // one log-start move at a time
	seen   atomic.Pointer[catalogLines]
	epochs epochCache // EndOffsetForEpoch's answers (partlog_epoch.go)
}

// catalogLines is what the last catalog read said (nil: not read yet).
type catalogLines struct {
	start, end int64 // log start, tiered end
	segments   bool  // the catalog names any object
}

// tieredStart is the catalog's log start as last seen when it holds segments, else -1.
func (l *PartitionLog) tieredStart() int64 {
	if c := l.seen.Load(); c != nil && c.segments {
		return c.start
	}
	return -1
}

// NewPartitionLog validates cfg and returns the partition's log. It does no I/O.
func NewPartitionLog(cfg PartitionLogConfig) (*PartitionLog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &PartitionLog{cfg: cfg}
	l.object.Store(cfg.ObjectDurability)
	return l, nil
}

// Partition names the partition.
func (l *PartitionLog) Partition() metadata.TopicPartition { return l.cfg.Partition }

// TopicID is the identity of the partition's topic.
func (l *PartitionLog) TopicID() metadata.TopicID { return l.cfg.TopicID }

// Hot is the leader's hot log, nil on a node that only reads the tiered part.
func (l *PartitionLog) Hot() *hotlog.Log { return l.cfg.Hot }

// SetObjectDurability switches the high watermark between the tiered end (true) and the hot
// log's fsynced offset (a topic's strata.durability changed).
func (l *PartitionLog) SetObjectDurability(on bool) {
	if l.cfg.Hot != nil {
		l.object.Store(on)
	}
}

// objectView is the tiering view when it bounds the high watermark.
func (l *PartitionLog) objectView() (TieredView, bool) {
	if l.cfg.Tiered == nil || !l.object.Load() {
		return nil, false
	}
	return l.cfg.Tiered, true
}

// NoteCatalog records what a catalog read says about where tiered data starts. Whoever reads the
// partition's catalog may tell the log; it keeps the log start it reports fresh without a read of
// its own.
func (l *PartitionLog) NoteCatalog(c metadata.PartitionCatalog) {
	if !c.TopicID.IsZero() && c.TopicID != l.cfg.TopicID {
		c = metadata.PartitionCatalog{} // a newer topic's under the same name: nothing of ours
	}
	l.seen.Store(&catalogLines{start: c.LogStartOffset, end: c.TieredEnd(), segments: len(c.Segments) > 0})
}

// noteRegistered records a registration the leader's Uploader just made: the catalog now holds
// segments up to end, from start.
func (l *PartitionLog) noteRegistered(start, end int64) {
	l.seen.Store(&catalogLines{start: start, end: end, segments: true})
}

// Offsets are the lines between a partition's tiers, as last seen (no I/O).
type Offsets struct {
	// LogStart is the first readable offset: the catalog's log start as last seen when tiered data
	// reaches below the hot log, else the hot log's start.
	LogStart int64
	// LocalStart is the hot log's first offset (the tiered end on a node without the hot log).
	LocalStart int64
	// HighWatermark bounds what consumers see.
	HighWatermark int64
	// End is the next offset to be assigned (the high watermark on a node without the hot log).
	End int64
}

// Offsets returns the partition's offsets as this node knows them, without I/O. On a node without
// the hot log they come from the last catalog read (Earliest, Read); every one is -1 before it.
func (l *PartitionLog) Offsets() Offsets {
	if l.cfg.Hot == nil {
		c := l.seen.Load()
		if c == nil {
			return Offsets{LogStart: -1, LocalStart: -1, HighWatermark: -1, End: -1}
		}
		return Offsets{LogStart: c.start, LocalStart: c.end, HighWatermark: c.end, End: c.end}
	}
	hot, end := l.cfg.Hot.StartOffset(), l.cfg.Hot.EndOffset()
	return Offsets{LogStart: l.logStart(hot), LocalStart: hot, End: end, HighWatermark: l.highWatermark(end)}
}

// logStart is the first readable offset of a leader whose hot log starts at hot.
func (l *PartitionLog) logStart(hot int64) int64 {
	if ts := l.tieredStart(); l.cfg.Objects != nil && ts >= 0 && ts < hot {
		return ts
	}
	return hot
}

// HighWatermark is the first offset consumers may not see yet. See the type doc.
func (l *PartitionLog) HighWatermark() int64 {
	if l.cfg.Hot == nil {
		return l.Offsets().HighWatermark
	}
	return l.highWatermark(l.cfg.Hot.EndOffset())
}

func (l *PartitionLog) highWatermark(end int64) int64 {
	if tv, ok := l.objectView(); ok {
		// The Uploader's view, or the catalog as last read when that is further: a new leader
		// reads the catalog before the Uploader tracks the partition, and what the catalog
		// named then is registered, so it is visible from the first request on.
		te := tv.TieredEnd(l.cfg.Partition)
		if c := l.seen.Load(); c != nil {
			te = max(te, c.end)
		}
		if te < 0 { // the catalog was not read yet: nothing is known to be tiered
			return min(l.logStart(l.cfg.Hot.StartOffset()), end)
		}
		return min(te, end)
	}
	return min(l.cfg.Hot.DurableOffset(), end)
}

// Changed returns a channel closed when the high watermark may have moved, for long polls: the hot
// log's fsync, or with ObjectDurability a registration in the catalog. Nil (never fires) on a node
// without the hot log. Take a new one after it fires.
func (l *PartitionLog) Changed() <-chan struct{} {
	if l.cfg.Hot == nil {
		return nil
	}
	if tv, ok := l.objectView(); ok {
		return tv.TieredChanged(l.cfg.Partition)
	}
	return l.cfg.Hot.DurableChanged()
}

// Earliest is the first readable offset, from a fresh read of the catalog: its log start when
// tiered data reaches below the hot log, else the hot log's start.
func (l *PartitionLog) Earliest(ctx context.Context) (int64, error) {
	if l.cfg.Objects == nil {
		return l.cfg.Hot.StartOffset(), nil
	}
	// Read through the Reader, which keeps the catalog for the reads that usually follow.
	c, err := l.cfg.Objects.loadCatalog(ctx, l.cfg.Partition)
	if err != nil {
		return -1, err
	}
	l.NoteCatalog(c)
	if l.cfg.Hot == nil {
		return c.LogStartOffset, nil
	}
	hot := l.cfg.Hot.StartOffset()
	if len(c.Segments) > 0 && c.LogStartOffset < hot {
		return c.LogStartOffset, nil
	}
	return hot, nil
}

// ReadResult is what a Read returns.
type ReadResult struct {
	// Records are whole RecordBatches as stored (compression intact), possibly none.
	Records []byte
	// Shared: Records belong to the block cache (read-only) and dst was not used.
	Shared bool
	// Tiered: Records came from object storage.
	Tiered bool
	// HighWatermark and LogStart as of the read.
	HighWatermark, LogStart int64
	// Spans, from ReadSpans only, hold the records instead of Records: hot-log batches left in
	// their segment files, for a send straight from the files (sendfile). The caller closes them.
	Spans *hotlog.Spans
}

// Len is the number of record bytes read (in Records or Spans).
func (r ReadResult) Len() int {
	if r.Spans != nil {
		return r.Spans.Len()
	}
	return len(r.Records)
}

// Read appends whole batches from offset to dst[:0] (growing it; see ReadResult.Shared), up to
// maxBytes but at least one batch when any exists below the high watermark (KIP-74), and never a
// batch at or past the high watermark. An offset inside a batch returns that whole batch. An
// offset between the high watermark and the log end returns nothing (as in Kafka, the log end,
// not the high watermark, bounds valid fetch offsets). Errors:
//   - ErrOffsetOutOfRange: offset outside [log start, log end] (LogStart in the result is fresh);
//   - the hot log's errors (hotlog.ErrClosed, hotlog.ErrTruncated: leadership moved; others: the
//     hot log failed);
//   - an object storage failure (a corrupt object wraps segment.ErrCorrupt and names its key).
func (l *PartitionLog) Read(ctx context.Context, dst []byte, offset int64, maxBytes int) (ReadResult, error) {
	return l.read(ctx, dst, offset, maxBytes, -1, -1)
}

// ReadSpans is Read for a caller that can send hot-log batches from their files: when what it
// reads from the hot log holds at least minBytes, it comes back as Spans (hotlog.ReadSpans), not
// Records. A hot-log read also stops before the first batch at or past stop (≥ 0; a last stable
// offset), which a tiered read (Records, as Read returns them) leaves to the caller.
func (l *PartitionLog) ReadSpans(ctx context.Context, dst []byte, offset int64, maxBytes, minBytes int, stop int64) (ReadResult, error) {
	return l.read(ctx, dst, offset, maxBytes, max(minBytes, 0), stop)
}

// read is Read, and ReadSpans when minSpan ≥ 0.
func (l *PartitionLog) read(ctx context.Context, dst []byte, offset int64, maxBytes, minSpan int, stop int64) (ReadResult, error) {
	if l.cfg.Hot == nil {
		return l.readObjects(ctx, dst, offset, maxBytes)
	}
	o := l.Offsets()
	res := ReadResult{HighWatermark: o.HighWatermark, LogStart: o.LogStart}
	if offset < 0 || offset > o.End {
		return res, fmt.Errorf("%w: %s offset %d outside [%d, %d]", ErrOffsetOutOfRange, l.cfg.Partition, offset, o.LogStart, o.End)
	}
	if offset >= o.HighWatermark {
		return res, nil
	}
	if offset >= o.LocalStart {
		var recs []byte
		var spans *hotlog.Spans
		var err error
		if minSpan >= 0 {
			limit := o.HighWatermark
			if stop >= 0 {
				limit = min(limit, stop)
			}
			recs, spans, err = l.cfg.Hot.ReadSpans(dst, offset, maxBytes, limit, minSpan)
		} else {
			recs, err = l.cfg.Hot.ReadAppend(dst, offset, maxBytes, o.HighWatermark)
		}
		switch {
		case errors.Is(err, hotlog.ErrOffsetOutOfRange):
			// Local retention removed it meanwhile: it is in object storage if anywhere.
		case err != nil && l.tieredCopy(ctx, err, offset):
			l.cfg.Logger.Warn("tier: reading the hot log failed; serving the tiered copy", "partition", l.cfg.Partition,
				"offset", offset, "err", err)
		default:
			res.Records, res.Spans = recs, spans
			return res, err
		}
	}
	if l.cfg.Objects == nil {
		return res, fmt.Errorf("%w: %s offset %d below the log start %d", ErrOffsetOutOfRange, l.cfg.Partition, offset, o.LocalStart)
	}
	if ts := l.tieredStart(); ts >= 0 && offset < ts {
		return res, fmt.Errorf("%w: %s offset %d below the log start %d", ErrOffsetOutOfRange, l.cfg.Partition, offset, ts)
	}
	recs, shared, err := l.cfg.Objects.ReadAppend(ctx, dst, l.cfg.Partition, l.cfg.TopicID, offset, maxBytes)
	if err != nil {
		if errors.Is(err, ErrOffsetOutOfRange) {
			if start, serr := l.Earliest(ctx); serr == nil {
				res.LogStart = start
			}
		}
		return res, err
	}
	if l.tieredStart() < 0 { // the first tiered read since the catalog was last looked at
		if start, err := l.Earliest(ctx); err == nil {
			res.LogStart = start
		}
	}
	res.Records, res.Shared, res.Tiered = recs, shared, true
	return res, nil
}

// tieredCopy reports whether a hot-log read at offset that failed with err (an I/O error, a
// damaged file) may be served from object storage instead: the offset is tiered, and the failure
// is not the log closing or being cut back under a change of leadership.
func (l *PartitionLog) tieredCopy(ctx context.Context, err error, offset int64) bool {
	if l.cfg.Objects == nil || ctx.Err() != nil || errors.Is(err, hotlog.ErrClosed) || errors.Is(err, hotlog.ErrTruncated) {
		return false
	}
	end := int64(-1)
	if l.cfg.Tiered != nil {
		end = l.cfg.Tiered.TieredEnd(l.cfg.Partition)
	}
	if c := l.seen.Load(); c != nil {
		end = max(end, c.end)
	}
	return offset < end
}

// readObjects is Read on a node without the hot log: the catalog (as the Reader caches it) bounds
// the log.
func (l *PartitionLog) readObjects(ctx context.Context, dst []byte, offset int64, maxBytes int) (ReadResult, error) {
	c, err := l.cfg.Objects.catalog(ctx, l.cfg.Partition, l.cfg.TopicID, offset)
	if err != nil {
		return ReadResult{HighWatermark: -1, LogStart: -1}, err
	}
	l.NoteCatalog(c)
	res := ReadResult{HighWatermark: c.TieredEnd(), LogStart: c.LogStartOffset}
	if c.TopicID != l.cfg.TopicID && !c.TopicID.IsZero() {
		return res, fmt.Errorf("%w: %s: the catalog belongs to another topic of that name", ErrOffsetOutOfRange, l.cfg.Partition)
	}
	switch {
	case offset < c.LogStartOffset || offset > c.TieredEnd():
		return res, fmt.Errorf("%w: %s offset %d outside [%d, %d]", ErrOffsetOutOfRange, l.cfg.Partition, offset, c.LogStartOffset, c.TieredEnd())
	case offset == c.TieredEnd():
		return res, nil
	}
	recs, shared, err := l.cfg.Objects.ReadAppend(ctx, dst, l.cfg.Partition, l.cfg.TopicID, offset, maxBytes)
	if err != nil {
		return res, err
	}
	res.Records, res.Shared, res.Tiered = recs, shared, true
	return res, nil
}

// OffsetForTimestamp answers ListOffsets by time: the offset of the first visible record (from the
// log start, tiered or hot) whose timestamp is ≥ ts, and that record's timestamp — its batch's
// append time for LogAppendTime batches — as Kafka answers; found is false when no visible record
// is that new.
func (l *PartitionLog) OffsetForTimestamp(ctx context.Context, ts int64) (offset, timestamp int64, found bool, err error) {
	hot := int64(-1)
	if l.cfg.Hot != nil {
		hot = l.cfg.Hot.StartOffset()
	}
	// Offsets below the hot log's start are only in object storage: look there first.
	if l.cfg.Objects != nil {
		start, err := l.Earliest(ctx)
		if err != nil {
			return -1, -1, false, err
		}
		if before := hot; l.cfg.Hot == nil || start < hot {
			if l.cfg.Hot == nil {
				before = 1<<63 - 1
			}
			// start was just read from the catalog; the reader's cached copy may not have it yet.
			off, at, ok, err := l.cfg.Objects.OffsetForTimestamp(ctx, l.cfg.Partition, l.cfg.TopicID, ts, start, before)
			if err != nil || ok || l.cfg.Hot == nil {
				return off, at, ok, err
			}
		}
	}
	off, at, ok, err := l.cfg.Hot.OffsetForTimestamp(ts)
	if err != nil || !ok || off >= l.HighWatermark() {
		return -1, -1, false, err
	}
	return off, at, true, nil
}

// MaxTimestamp is the largest timestamp in the hot log and the offset of the batch holding it;
// -1/-1 when the hot log has none visible (or there is no hot log here).
func (l *PartitionLog) MaxTimestamp() (timestamp, offset int64) {
	if l.cfg.Hot == nil {
		return -1, -1
	}
	ts, off := l.cfg.Hot.MaxTimestamp()
	if off >= l.HighWatermark() {
		return -1, -1 // not visible yet (Kafka answers none above the high watermark)
	}
	return ts, off
}

// LatestTiered is the last offset held in object storage, -1 when none (ListOffsets -5, KIP-1005).
func (l *PartitionLog) LatestTiered(ctx context.Context) (int64, error) {
	if l.cfg.Tiered != nil {
		return l.cfg.Tiered.LatestTiered(l.cfg.Partition), nil
	}
	if l.cfg.Catalog == nil {
		return -1, nil
	}
	c, err := l.cfg.Catalog.GetCatalog(ctx, l.cfg.Partition)
	if err != nil {
		return -1, fmt.Errorf("tier: catalog of %s: %w", l.cfg.Partition, err)
	}
	l.NoteCatalog(c)
	if len(c.Segments) == 0 {
		return -1, nil
	}
	return c.TieredEnd() - 1, nil
}

// MoveLogStart moves the partition's log start forward to offset under the leader's epoch: first
// in the catalog (so every node stops reading below it), then in the hot log, whose segments wholly
// below it are deleted. It never moves the start back. It returns the segments that left the
// catalog, whose objects the caller deletes after a grace period (reads in flight may still use
// them), also with an error wrapping ErrHotStart. A stale epoch gives an error wrapping
// metadata.ErrFenced. The caller checks that offset is
// a valid new start (DeleteRecords: at most the high watermark).
func (l *PartitionLog) MoveLogStart(ctx context.Context, epoch int32, offset int64) (dropped []metadata.SegmentRef, err error) {
	l.moveMu.Lock()
	defer l.moveMu.Unlock()
	if l.cfg.Catalog != nil {
		dropped, err = l.cfg.Catalog.SetLogStartOffset(ctx, l.cfg.Partition, epoch, offset)
		if err != nil {
			return nil, fmt.Errorf("tier: move the log start of %s to %d: %w", l.cfg.Partition, offset, err)
		}
		if c := l.seen.Load(); c != nil && offset > c.start {
			l.seen.Store(&catalogLines{start: offset, end: max(c.end, offset), segments: c.segments && offset < c.end})
		}
	}
	hot := l.cfg.Hot
	if hot == nil {
		return dropped, nil
	}
	if offset > hot.StartOffset() && offset <= hot.EndOffset() {
		if err := hot.SetStartOffset(offset); err != nil {
			return dropped, fmt.Errorf("%w: %s to %d: %w", ErrHotStart, l.cfg.Partition, offset, err)
		}
	}
	if err := hot.DeleteSegmentsBelow(offset); err != nil && !errors.Is(err, hotlog.ErrClosed) {
		// The start has moved; the files below it are only disk space now.
		l.cfg.Logger.Warn("tier: delete hot segments below the log start", "partition", l.cfg.Partition, "offset", offset, "err", err)
	}
	return dropped, nil
}
