package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// Reads of catalog entries in the Parquet format (metadata.FormatParquet, written by compaction's
// conversion of a strata.cold.format=parquet topic): the object's bytes come through the same
// block cache as segment objects', its footer is read per request, and the batches are rebuilt by
// tier/columnar. A read of a Parquet entry returns batches of that object only.

// ioRecorder is the ReaderAt a Parquet object is read through: it remembers the first error a read
// met, so that a failure arrow-go's decoder reports as corrupt is reported as what it was (an
// object gone, a cancelled request, a failed GET).
type ioRecorder struct {
	of  *objectFile
	mu  sync.Mutex
	err error
}

func (r *ioRecorder) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.of.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return n, err
}

// parquetErr is the error of a Parquet read of seg: the I/O error behind it when there was one
// (errors.Is(err, objstore.ErrNotFound) makes the read look again), else err, named and, when
// corrupt, logged and counted.
func (r *Reader) parquetErr(seg metadata.SegmentRef, rec *ioRecorder, err error) error {
	rec.mu.Lock()
	ioErr := rec.err
	rec.mu.Unlock()
	if ioErr != nil && !errors.Is(ioErr, segment.ErrCorrupt) {
		return fmt.Errorf("tier: object %s: %w", seg.Key, ioErr)
	}
	return r.corrupt(seg.Key, err)
}

// maxParquetFooters bounds the opened Parquet objects a Reader keeps (each holds its footer and
// the batches of the row group read last, about 1 MiB).
const maxParquetFooters = 64

// parquetFooters keeps opened Parquet objects by key, so that a read parses no footer and a
// sequential reader finds the row group it is in already rebuilt. When full it is emptied.
type parquetFooters struct {
	mu      sync.Mutex
	objs    map[objRange]*columnar.Object
	pending map[objRange]bool // being opened by prefetchParquet
}

// opening marks o as being opened in the background, unless it is already: then it returns false.
func (p *parquetFooters) opening(o objRange) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending[o] {
		return false
	}
	if p.pending == nil {
		p.pending = make(map[objRange]bool)
	}
	p.pending[o] = true
	return true
}

func (p *parquetFooters) opened(o objRange) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, o)
}

func (p *parquetFooters) get(o objRange) *columnar.Object {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.objs[o]
}

func (p *parquetFooters) put(o objRange, obj *columnar.Object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil || len(p.objs) >= maxParquetFooters {
		p.objs = make(map[objRange]*columnar.Object)
	}
	p.objs[o] = obj
}

// openParquet reads seg's footer (or takes it from the cache), and checks it covers what the
// catalog says. The object returned reads through ctx.
func (r *Reader) openParquet(ctx context.Context, seg metadata.SegmentRef) (*columnar.Object, *ioRecorder, error) {
	rec := &ioRecorder{of: &objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: seg.Size}}
	if cached := r.parquet.get(rangeOf(seg)); cached != nil {
		o, err := cached.WithReader(rec, seg.Size)
		if err != nil {
			return nil, rec, r.parquetErr(seg, rec, err)
		}
		return o, rec, nil
	}
	o, err := columnar.Open(rec, seg.Size)
	if err != nil {
		return nil, rec, r.parquetErr(seg, rec, err)
	}
	if base, next := o.Range(); base > seg.BaseOffset || next != seg.NextOffset {
		return nil, rec, r.corrupt(seg.Key, fmt.Errorf("%w: Parquet object covers [%d, %d), catalog says [%d, %d)",
			segment.ErrCorrupt, base, next, seg.BaseOffset, seg.NextOffset))
	}
	r.parquet.put(rangeOf(seg), o)
	return o, rec, nil
}

// readParquet returns the batches of seg from offset on, as Read does for a segment object, and
// starts fetching the object's blocks ahead of the reader. Batches that lie back to back in a
// rebuilt row group's buffer are returned uncopied (shared: the object cache's bytes, read-only);
// otherwise they are appended to dst[:0].
func (r *Reader) readParquet(ctx context.Context, dst []byte, segs []metadata.SegmentRef, offset int64, maxBytes int) (out []byte, shared bool, err error) {
	seg := segs[0]
	if r.cfg.ReadAheadBlocks > 0 && offset <= seg.BaseOffset && r.parquet.get(rangeOf(seg)) == nil {
		// A read from the object's start needs its first blocks: their GET goes with the
		// footer's instead of after it.
		r.readAhead(segs, 0)
	}
	o, rec, err := r.openParquet(ctx, seg)
	if err != nil {
		return dst[:0], false, err
	}
	from := max(offset, seg.BaseOffset)
	if r.cfg.ReadAheadBlocks > 0 {
		r.readAhead(segs, o.Position(from))
		// A sequential reader finds the next row group rebuilt: its decoding overlaps this
		// read's sending and the consumer's next request.
		o = o.ReadAhead(r.parquetAhead(seg))
	}
	out, shared, err = o.BatchesShared(ctx, dst[:0], from, maxBytes, columnar.CodecOfObject)
	if err != nil {
		return dst[:0], false, r.parquetErr(seg, rec, err)
	}
	if r.cfg.ReadAheadBlocks > 0 && len(segs) > 1 && segs[1].Format == metadata.FormatParquet {
		next := from
		for s := segment.NewSplitter(out); s.Next(); {
			next = s.Info().NextOffset()
		}
		if o.InLastGroup(next) {
			// So does the next object's first row group, when this read came to this one's last.
			r.prefetchParquet(segs[1:])
		}
	}
	if info, err := segment.ParseBatch(out); err == nil && info.BaseOffset > from {
		// An object converted from a segment without gaps holds a batch for every offset of its
		// range: a read that starts past from skips records (unless key compaction had left a
		// gap in that segment). Said, so that such a skip is seen where it happens.
		r.log.Warn("tier: a Parquet read starts past the offset asked for", "key", seg.Key, "offset", from,
			"first_batch", info.BaseOffset, "base", seg.BaseOffset, "next", seg.NextOffset)
	}
	r.m.parquetBytes.Add(float64(len(out)))
	return out, shared, nil
}

// parquetAhead is the reader a Parquet object's rebuilds ahead read seg through, bound to their own
// context.
func (r *Reader) parquetAhead(seg metadata.SegmentRef) func(ctx context.Context) io.ReaderAt {
	return func(ctx context.Context) io.ReaderAt {
		return &objectFile{r: r, ctx: ctx, obj: rangeOf(seg), size: seg.Size}
	}
}

// prefetchParquet opens segs[0], a Parquet entry, in the background (its footer then waits in the
// cache) and starts rebuilding its first row group, for the sequential reader about to come to it;
// unless it is open already or being opened. A failure leaves nothing: the read that needs the
// object meets it again, and reports it.
func (r *Reader) prefetchParquet(segs []metadata.SegmentRef) {
	seg := segs[0]
	key := rangeOf(seg)
	if r.ctx.Err() != nil || r.parquet.get(key) != nil || !r.parquet.opening(key) {
		return
	}
	r.readAhead(segs, 0)
	r.wg.Add(1)
	go func() { // owned by the Reader: Close cancels r.ctx and waits
		defer r.wg.Done()
		defer r.parquet.opened(key)
		ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
		defer cancel()
		o, _, err := r.openParquet(ctx, seg)
		if err != nil {
			return
		}
		o.ReadAhead(r.parquetAhead(seg)).Prefetch(seg.BaseOffset, columnar.CodecOfObject)
	}()
}

// parquetTimestamp is OffsetForTimestamp within one Parquet entry.
func (r *Reader) parquetTimestamp(ctx context.Context, seg metadata.SegmentRef, ts, from int64) (offset, timestamp int64, found bool, err error) {
	o, rec, err := r.openParquet(ctx, seg)
	if err != nil {
		return -1, -1, false, err
	}
	offset, timestamp, found, err = o.FindTimestamp(ctx, ts, from)
	if err != nil {
		return -1, -1, false, r.parquetErr(seg, rec, err)
	}
	return offset, timestamp, found, nil
}

// parquetBatchHeader is the header of the batch of seg holding offset, or of the first after it.
func (r *Reader) parquetBatchHeader(ctx context.Context, seg metadata.SegmentRef, offset int64) (segment.BatchInfo, error) {
	o, rec, err := r.openParquet(ctx, seg)
	if err != nil {
		return segment.BatchInfo{}, err
	}
	b, err := o.Batches(ctx, nil, max(offset, seg.BaseOffset), 1, segment.CompressionNone)
	if err != nil {
		return segment.BatchInfo{}, r.parquetErr(seg, rec, err)
	}
	info, err := segment.ParseBatch(b)
	if err != nil {
		return segment.BatchInfo{}, r.corrupt(seg.Key, err)
	}
	return info, nil
}
