package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// readSize is how many bytes one read of a partition asks for, from either tier.
const readSize = 1 << 20

// Tail reads the part of a partition above its tiered end: the leader's hot log. cmd/strata
// answers from this node's broker when it leads the partition, and with a Kafka Fetch (and
// ListOffsets) to the leader the metadata names when another node does.
type Tail interface {
	// ReadTail returns whole record batches from offset on — at most about maxBytes, at least one
	// batch when any exists below the high watermark, none at or past it — and the high
	// watermark. An offset below the log start reads from the log start. Records are the
	// caller's until the next call.
	ReadTail(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) (records []byte, highWatermark int64, err error)
	// OffsetForTime is the offset of the first record whose timestamp is ≥ ts (Unix ms), as
	// ListOffsets answers; found is false when no record is that new.
	OffsetForTime(ctx context.Context, tp metadata.TopicPartition, ts int64) (offset int64, found bool, err error)
	// LeaderEpoch is the partition's current leader epoch: within one, the records below the
	// high watermark do not change (see the hot index).
	LeaderEpoch(ctx context.Context, tp metadata.TopicPartition) (int32, error)
}

// TierStats counts what a query read from one tier: batches are counted whole, as read; of
// Parquet objects, the column chunks fetched.
type TierStats struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// Stats is what a query read, per tier.
type Stats struct {
	Segment TierStats `json:"segment"` // segment and Parquet objects in object storage
	Hot     TierStats `json:"hot"`     // the leaders' hot logs
	// SegmentsPruned counts the catalog's segments skipped by their offsets and timestamps.
	SegmentsPruned int64 `json:"segments_pruned"`
	// SegmentsRead counts the segments read (wholly or in part).
	SegmentsRead int64 `json:"segments_read"`
	// RowGroupsPruned counts the row groups of Parquet objects read that were skipped by their
	// timestamp statistics or key bloom filters.
	RowGroupsPruned int64 `json:"row_groups_pruned"`
	// HotSpansPruned counts the spans of hot tails skipped by what earlier queries read of them
	// (their timestamps and keys; see the hot index).
	HotSpansPruned int64 `json:"hot_spans_pruned"`
}

// counters are a query's Stats, updated by its scans (possibly on several DuckDB threads).
type counters struct {
	segRows, segBytes, hotRows, hotBytes, pruned, read, groupsPruned, hotPruned atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{Segment: TierStats{Rows: c.segRows.Load(), Bytes: c.segBytes.Load()},
		Hot:            TierStats{Rows: c.hotRows.Load(), Bytes: c.hotBytes.Load()},
		SegmentsPruned: c.pruned.Load(), SegmentsRead: c.read.Load(), RowGroupsPruned: c.groupsPruned.Load(),
		HotSpansPruned: c.hotPruned.Load()}
}

// rowSink receives a scan's rows: the records of batches (segment objects, hot tails) one at a
// time, the rows of Parquet objects a block at a time. What it is handed aliases the scan's
// buffers: valid until the call returns. Each returns false to stop the scan.
type rowSink interface {
	record(partition int32, r *segment.StoredRecord) bool
	rows(partition int32, rs *columnar.Rows) bool
	// end hands over what the sink holds still, at the end of a scan's reads.
	end() bool
}

// scanner reads one topic's partitions within bounds: each partition's tiered part from segment
// and Parquet objects (pruned by the catalog), then its hot tail from the leader, so every offset
// comes from exactly one tier. Of Parquet objects it reads the columns proj names (besides what
// it needs itself), row group by row group.
type scanner struct {
	catalogs tier.CatalogStore
	objects  *tier.Reader
	tail     Tail
	hotIndex *hotIndex
	topic    metadata.Topic
	bounds   Bounds
	proj     columnar.Projection
	c        *counters

	rt  segment.Retainer
	buf []byte
}

// scanParallel is how many partitions a scan reads at once: a partition's reads wait on object
// storage and on its leader, one after the other.
const scanParallel = 4

// scan hands every record within the bounds to sinks from newSink, partition by partition in
// offset order, up to scanParallel partitions at once, each reader with a sink of its own (so
// partitions interleave; each partition's rows stay in offset order). It stops early when a
// sink returns false, and returns the first error (the others stop).
func (s *scanner) scan(ctx context.Context, newSink func() rowSink) error {
	if s.bounds.Empty() {
		return nil
	}
	var parts []int32
	for p := range s.topic.Partitions {
		if s.bounds.HasPartition(p) {
			parts = append(parts, p)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int32, len(parts))
	for _, p := range parts {
		next <- p
	}
	close(next)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(scanParallel, len(parts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := *s // a reader of its own: buffers are per reader
			r.rt, r.buf = segment.Retainer{}, nil
			out := newSink()
			err := func() error {
				for p := range next {
					more, err := r.partition(ctx, p, out)
					if err != nil || !more {
						return err
					}
				}
				return nil
			}()
			if err == nil && !out.end() {
				err = ctx.Err()
			}
			mu.Lock()
			if err != nil && firstErr == nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				firstErr = err
			}
			mu.Unlock()
			if err != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func (s *scanner) partition(ctx context.Context, p int32, out rowSink) (bool, error) {
	tp := metadata.TopicPartition{Topic: s.topic.Name, Partition: p}
	cat, err := s.catalogs.GetCatalog(ctx, tp)
	tieredEnd := int64(0)
	switch {
	case errors.Is(err, metadata.ErrNotFound): // nothing tiered yet
	case err != nil:
		return false, fmt.Errorf("query: catalog of %s: %w", tp, err)
	case !cat.TopicID.IsZero() && cat.TopicID != s.topic.ID: // a deleted topic's leftovers
	default:
		tieredEnd = cat.TieredEnd()
		more, err := s.tiered(ctx, tp, cat, out)
		if err != nil || !more {
			return more, err
		}
	}
	return s.hot(ctx, tp, tieredEnd, out)
}

// end is one past the last offset the bounds allow.
func (s *scanner) end() int64 {
	if s.bounds.MaxOffset == math.MaxInt64 {
		return math.MaxInt64
	}
	return s.bounds.MaxOffset + 1
}

// tiered reads the catalog's segments that the bounds do not rule out.
func (s *scanner) tiered(ctx context.Context, tp metadata.TopicPartition, cat metadata.PartitionCatalog, out rowSink) (bool, error) {
	picked := Pick(cat.Segments, s.bounds)
	s.c.pruned.Add(int64(len(cat.Segments) - len(picked)))
	if len(picked) == 0 {
		return true, nil
	}
	plog, err := tier.NewPartitionLog(tier.PartitionLogConfig{Partition: tp, TopicID: s.topic.ID, Objects: s.objects, Catalog: s.catalogs})
	if err != nil {
		return false, err
	}
	for _, seg := range picked {
		s.c.read.Add(1)
		r := offsetRange{max(seg.BaseOffset, cat.LogStartOffset, s.bounds.MinOffset), min(seg.NextOffset, s.end())}
		if seg.Format == metadata.FormatParquet {
			more, err := s.parquet(ctx, plog, tp, seg, r, out)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		more, err := s.readRange(ctx, plog, tp, r, out)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// parquet reads r of seg, a Parquet object: the projected columns of the row groups the bounds do
// not rule out. An object gone meanwhile (merged by compaction) is read through plog instead,
// whose catalog names what replaced it; so are the values of a json-columns object, some of
// which only its batches, rebuilt, hold.
func (s *scanner) parquet(ctx context.Context, plog *tier.PartitionLog, tp metadata.TopicPartition, seg metadata.SegmentRef, r offsetRange, out rowSink) (bool, error) {
	groups, err := s.objects.ParquetRowGroups(ctx, seg)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return s.readRange(ctx, plog, tp, r, out)
		}
		return false, fmt.Errorf("query: reading %s: %w", tp, err)
	}
	var may []bool
	if s.bounds.Keys != nil {
		if may, err = s.objects.ParquetKeyGroups(ctx, seg, s.bounds.Keys); err != nil {
			return false, fmt.Errorf("query: reading %s: %w", tp, err)
		}
	}
	reads, pruned := pickGroups(groups, may, seg.NextOffset, r, s.bounds)
	s.c.groupsPruned.Add(int64(pruned))
	more := true
	done, fetched, err := s.objects.ParquetColumns(ctx, seg, reads, s.proj, func(_ int, rows *columnar.Rows) bool {
		s.c.segRows.Add(int64(len(rows.Sel)))
		more = out.rows(tp.Partition, rows)
		return more
	})
	s.c.segBytes.Add(fetched)
	if errors.Is(err, objstore.ErrNotFound) || errors.Is(err, tier.ErrValuesRebuilt) {
		for _, rd := range reads[done:] {
			if more, err := s.readRange(ctx, plog, tp, offsetRange{rd.From, rd.To}, out); err != nil || !more {
				return more, err
			}
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("query: reading %s: %w", tp, err)
	}
	return more, nil
}

// offsetRange is [from, to) of a partition's offsets.
type offsetRange struct{ from, to int64 }

// pickGroups is what a scan within b reads of r of a Parquet object whose row groups are groups
// (in offset order) and whose range ends at next: each row group of r but those whose timestamp
// statistics lie wholly outside b's time bounds or, when may is not nil, whose may is false (their
// key bloom filter holds none of b's keys), with the part of r it holds. pruned counts the groups
// left out. Each group's batches run from its FirstBase to the next group's. Pure.
func pickGroups(groups []columnar.RowGroup, may []bool, next int64, r offsetRange, b Bounds) (out []tier.ParquetGroupRead, pruned int) {
	for i, g := range groups {
		from, to := g.FirstBase, next
		if i+1 < len(groups) {
			to = groups[i+1].FirstBase
		}
		from, to = max(from, r.from), min(to, r.to)
		if from >= to {
			continue
		}
		if g.MaxTimestamp < b.MinTime || g.MinTimestamp > b.MaxTime || (may != nil && i < len(may) && !may[i]) {
			pruned++
			continue
		}
		out = append(out, tier.ParquetGroupRead{Group: i, From: from, To: to})
	}
	// Offsets before the first group (empty batches only) hold no rows: nothing to read there.
	return out, pruned
}

// readRange reads the batches of [rg.from, rg.to) of a tiered partition through plog.
func (s *scanner) readRange(ctx context.Context, plog *tier.PartitionLog, tp metadata.TopicPartition, rg offsetRange, out rowSink) (bool, error) {
	off, end := rg.from, rg.to
	for off < end {
		res, err := plog.Read(ctx, s.buf, off, readSize)
		if errors.Is(err, tier.ErrOffsetOutOfRange) && res.LogStart > off {
			off = res.LogStart // retention moved the start meanwhile: what is gone is gone
			continue
		}
		if err != nil {
			return false, fmt.Errorf("query: reading %s at %d: %w", tp, off, err)
		}
		if !res.Shared {
			s.buf = res.Records[:0]
		}
		if len(res.Records) == 0 {
			break
		}
		next, more, err := s.batches(res.Records, tp.Partition, off, end, &s.c.segRows, &s.c.segBytes, out)
		if err != nil || !more {
			return more, err
		}
		if next <= off {
			break
		}
		off = next
	}
	return true, nil
}

// hot reads the partition from from (its tiered end) to the high watermark through Tail, skipping
// the spans the hot index rules out, and adds what it read to the index.
func (s *scanner) hot(ctx context.Context, tp metadata.TopicPartition, from int64, out rowSink) (bool, error) {
	off, end := max(from, s.bounds.MinOffset), s.end()
	if s.bounds.MinTime > math.MinInt64 && s.bounds.MinTime > 0 {
		at, found, err := s.tail.OffsetForTime(ctx, tp, s.bounds.MinTime)
		if err != nil {
			return false, fmt.Errorf("query: offset for time in %s: %w", tp, err)
		}
		if !found {
			return true, nil
		}
		off = max(off, at)
	}
	epoch := int32(-1)
	if s.hotIndex != nil {
		if e, err := s.tail.LeaderEpoch(ctx, tp); err == nil {
			epoch = e
		}
	}
	var spans []hotSpan
	defer func() {
		if len(spans) > 0 {
			if e, err := s.tail.LeaderEpoch(ctx, tp); err == nil && e == epoch {
				s.hotIndex.add(tp, s.topic.ID, epoch, from, spans)
			}
		}
	}()
	hw := int64(-1)
	for off < end {
		knownEnd := int64(-1) // of the span holding off, when the index has one
		if epoch >= 0 {
			if sp, ok := s.hotIndex.lookup(tp, s.topic.ID, epoch, off); ok {
				if sp.excludes(s.bounds, s.hotIndex.seed) {
					s.c.hotPruned.Add(1)
					off = sp.next
					continue
				}
				knownEnd = sp.next
			}
		}
		recs, h, err := s.tail.ReadTail(ctx, tp, off, readSize)
		if err != nil {
			return false, fmt.Errorf("query: reading %s at %d from its leader: %w", tp, off, err)
		}
		if hw < 0 {
			hw = h // read up to the high watermark as the scan began: a scan ends
			end = min(end, hw)
		}
		if len(recs) == 0 {
			break
		}
		next, more, err := s.batches(recs, tp.Partition, off, end, &s.c.hotRows, &s.c.hotBytes, out)
		if err != nil {
			return false, err
		}
		if epoch >= 0 && (knownEnd < 0 || next > knownEnd) { // what the read holds beyond the index
			if sp, ok := s.hotIndex.summarize(recs, &s.rt); ok {
				spans = append(spans, sp)
			}
		}
		if !more {
			return false, nil
		}
		if next <= off {
			break
		}
		off = next
	}
	return true, nil
}

// batches hands out the records of b whose offsets are in [from, end) and returns the offset after
// the last batch walked. Control batches (transaction markers) hold no rows.
func (s *scanner) batches(b []byte, partition int32, from, end int64, rows, bytes *atomic.Int64, out rowSink) (next int64, more bool, err error) {
	next = from
	sp := segment.NewSplitter(b)
	for sp.Next() {
		info := sp.Info()
		if info.BaseOffset >= end {
			return next, true, nil
		}
		bytes.Add(int64(info.Size()))
		next = info.NextOffset()
		if info.Control() || info.NextOffset() <= from {
			continue
		}
		if info.MaxTimestamp >= 0 && !info.LogAppendTime() && info.MaxTimestamp < s.bounds.MinTime {
			continue // every record is older than the bounds allow
		}
		stop := false
		err := s.rt.Each(sp.Batch(), info, func(r segment.StoredRecord) error {
			if r.Offset < from || r.Offset >= end {
				return nil
			}
			rows.Add(1)
			if !out.record(partition, &r) {
				stop = true
				return errStop
			}
			return nil
		})
		if stop {
			return next, false, nil
		}
		if err != nil {
			return next, false, fmt.Errorf("query: partition %d batch at %d: %w", partition, info.BaseOffset, err)
		}
	}
	if err := sp.Err(); err != nil {
		return next, false, fmt.Errorf("query: partition %d: %w", partition, err)
	}
	return next, true, nil
}

var errStop = errors.New("query: scan stopped")
