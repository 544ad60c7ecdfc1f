package tier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// ParquetGroupRead is one row group of a Parquet object to read, over its offsets [From, To).
type ParquetGroupRead struct {
	Group    int
	From, To int64
}

// ErrValuesRebuilt is ParquetColumns' answer for a projection with `value` of an object whose
// values are partly held only in their JSON columns (columnar.Object.RebuildsValues): read its
// batches instead.
var ErrValuesRebuilt = errors.New("tier: the object's values are rebuilt from its JSON columns")

// ParquetColumns reads the projected columns of the row groups reads names (in order) of seg, a
// catalog entry in the Parquet format, with no batch rebuilt, and calls fn with their rows
// (columnar.Object.ReadColumns; i is the index in reads of the group they are of) until it
// returns false. done is how many of reads were handed over whole. Only the bytes those columns need are
// fetched (columnar.Object.ColumnRanges): each group's with ranged GETs of their own, around the
// block cache, the next groups' while one is decoded, and kept in a cache of their own (a query
// asked again, a dashboard's, reads the same few columns of the same groups). fetched counts the
// bytes of those ranges, fetched or found in that cache (and any read outside them, through the
// block cache).
// Errors are as Read's for the entry: an object gone wraps objstore.ErrNotFound, corrupt bytes
// segment.ErrCorrupt; a projection of `value` that the object cannot serve from its value column,
// ErrValuesRebuilt.
func (r *Reader) ParquetColumns(ctx context.Context, seg metadata.SegmentRef, reads []ParquetGroupRead, p columnar.Projection,
	fn func(i int, rows *columnar.Rows) bool) (done int, fetched int64, err error) {
	if seg.Format != metadata.FormatParquet {
		return 0, 0, fmt.Errorf("tier: %s is not a Parquet object", seg.Key)
	}
	o, rec, err := r.openParquet(ctx, seg)
	if err != nil {
		return 0, 0, err
	}
	if p.Value && o.RebuildsValues() {
		return 0, 0, fmt.Errorf("%w: %s", ErrValuesRebuilt, seg.Key)
	}
	// Fetches run ahead of the decoding, up to parquetFetchesAhead groups at once (the chunks of
	// a few columns are small: the GETs' round trips, not their bytes, are what a scan waits for).
	ctx, cancel := context.WithCancel(ctx)
	fetches := make([]*rangeFetch, len(reads))
	for i := range fetches {
		fetches[i] = &rangeFetch{done: make(chan struct{}), fallback: rec}
	}
	slots := make(chan struct{}, parquetFetchesAhead)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i, rd := range reads {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				for _, f := range fetches[i:] {
					f.err = ctx.Err()
					close(f.done)
				}
				return
			}
			wg.Add(1)
			go func(f *rangeFetch) {
				defer wg.Done()
				defer close(f.done)
				ranges, err := o.ColumnRanges(rd.Group, p, rd.From, rd.To)
				if err == nil {
					err = f.get(ctx, r, seg, ranges)
				}
				f.err = err
			}(fetches[i])
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i, rd := range reads {
		f := fetches[i]
		<-f.done
		if f.err != nil {
			return i, fetched, r.parquetErr(seg, rec, f.err)
		}
		more := true
		err := o.ReadColumns(ctx, f, seg.Size, rd.Group, p, rd.From, rd.To, func(rows *columnar.Rows) bool {
			more = fn(i, rows)
			return more
		})
		fetched += f.bytes + f.outside.Load()
		fetches[i] = nil // its bytes are garbage now
		<-slots
		if err != nil {
			return i, fetched, r.parquetErr(seg, rec, err)
		}
		if !more {
			return i, fetched, nil
		}
	}
	return len(reads), fetched, nil
}

// parquetFetchesAhead bounds the row groups ParquetColumns fetches at once.
const parquetFetchesAhead = 8

// rangeFetch holds byte ranges of one object fetched with ranged GETs and serves reads of them;
// a read outside them (none is expected: the ranges are what the decoder reads) goes through the
// block cache instead.
type rangeFetch struct {
	done     chan struct{} // closed once ranges and bufs, or err, are set
	ranges   []columnar.ByteRange
	bufs     [][]byte
	bytes    int64
	err      error
	fallback io.ReaderAt
	outside  atomic.Int64 // bytes read through fallback
}

func (f *rangeFetch) get(ctx context.Context, r *Reader, seg metadata.SegmentRef, ranges []columnar.ByteRange) error {
	for _, rg := range ranges {
		if rg.Start < 0 || rg.End > seg.Size || rg.Len() <= 0 {
			return fmt.Errorf("%w: bytes [%d, %d) of a %d-byte object", segment.ErrCorrupt, rg.Start, rg.End, seg.Size)
		}
		key := chunkKey{rangeOf(seg), rg}
		if b := r.chunks.get(key); b != nil {
			f.bytes += int64(len(b))
			f.ranges, f.bufs = append(f.ranges, rg), append(f.bufs, b)
			continue
		}
		rc, err := r.cfg.Bucket.GetRange(ctx, seg.Key, seg.Position+rg.Start, rg.Len())
		if err != nil {
			return err
		}
		b := make([]byte, rg.Len())
		n, err := io.ReadFull(rc, b)
		rc.Close()
		f.bytes += int64(n)
		if err != nil {
			return fmt.Errorf("reading bytes [%d, %d): %w", rg.Start, rg.End, err)
		}
		if int64(len(b)) <= chunkCacheBytes/8 { // a whole row group of a big object is not worth the others it would push out
			r.chunks.put(key, b)
		}
		f.ranges, f.bufs = append(f.ranges, rg), append(f.bufs, b)
	}
	return nil
}

// ReadAt serves p from the fetched ranges when one holds it whole.
func (f *rangeFetch) ReadAt(p []byte, off int64) (int, error) {
	i := sort.Search(len(f.ranges), func(i int) bool { return f.ranges[i].End > off })
	if i < len(f.ranges) && f.ranges[i].Start <= off && off+int64(len(p)) <= f.ranges[i].End {
		return copy(p, f.bufs[i][off-f.ranges[i].Start:]), nil
	}
	n, err := f.fallback.ReadAt(p, off)
	f.outside.Add(int64(n))
	return n, err
}

// chunkCacheBytes bounds the bytes of column chunks a Reader keeps.
const chunkCacheBytes = 64 << 20

type chunkKey struct {
	obj objRange
	r   columnar.ByteRange
}

// newChunkCache keeps byte ranges ParquetColumns fetched, least recently used dropped first, up
// to chunkCacheBytes. Slices it returns are shared: read them, never write them.
func newChunkCache() *lru[chunkKey, []byte] {
	return newLRU[chunkKey](chunkCacheBytes, func(b []byte) int64 { return int64(len(b)) })
}
