package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// objectFile is an io.ReaderAt over one segment (a whole object, or a range of a shared one:
// offsets are relative to the range's start) through the block cache, for one call's ctx. Blocks
// a read needs are fetched in parallel, each by one GET shared with any concurrent reader.
type objectFile struct {
	r    *Reader
	ctx  context.Context
	obj  objRange
	size int64 // the segment's size
}

// ReadAt reads len(p) bytes at off, or up to the object's end with io.EOF.
func (o *objectFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > o.size {
		return 0, fmt.Errorf("%w: read at %d of a %d-byte object", segment.ErrCorrupt, off, o.size)
	}
	end := min(off+int64(len(p)), o.size)
	if end == off {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	bs := o.r.cfg.BlockSize
	first, last := off/bs, (end-1)/bs
	blocks := make([]*block, 0, last-first+1)
	for idx := first; idx <= last; idx++ {
		b, fetch := o.r.blocks.lookup(blockKey{o.obj, idx}, true)
		if fetch {
			o.r.startFetch(b, o.size)
		}
		blocks = append(blocks, b)
	}
	n := 0
	for _, b := range blocks {
		select {
		case <-b.ready:
		case <-o.ctx.Done():
			return n, o.ctx.Err()
		}
		if b.err != nil {
			return n, b.err
		}
		start := b.key.idx * bs
		lo, hi := max(off, start), min(end, start+int64(len(b.data)))
		if hi <= lo {
			return n, fmt.Errorf("%w: object %s: block %d holds %d bytes", segment.ErrCorrupt, o.obj, b.key.idx, len(b.data))
		}
		n += copy(p[lo-off:], b.data[lo-start:hi-start])
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// view returns the n bytes at off without copying them when they lie in one block, or in
// consecutive blocks loaded by one GET (which sit back to back in its buffer); ok is false
// otherwise, after the blocks have loaded (a caller copying them instead needs them too).
// verified reports that the GET's batches were checked already. The slice is the cache's: read
// it, never write it.
func (o *objectFile) view(off, n int64) (v []byte, ok, verified bool, err error) {
	bs := o.r.cfg.BlockSize
	if n <= 0 || off < 0 || off+n > o.size {
		return nil, false, false, nil
	}
	first, last := off/bs, (off+n-1)/bs
	var blocks [16]*block
	if last-first >= int64(len(blocks)) || last-first > o.r.cfg.ReadAheadGetBytes/bs {
		return nil, false, false, nil // more than one GET's worth (see readAhead): never one run
	}
	bl := blocks[:0]
	for idx := first; idx <= last; idx++ {
		// Counted below: a view that falls back to a copy looks the blocks up again.
		b, fetch := o.r.blocks.lookup(blockKey{o.obj, idx}, false)
		if fetch {
			o.r.startFetch(b, o.size)
		}
		bl = append(bl, b)
	}
	var hits [len(blocks)]bool
	total := 0
	for i, b := range bl {
		select {
		case <-b.ready:
			hits[i] = true
		default:
			select {
			case <-b.ready:
			case <-o.ctx.Done():
				return nil, false, false, o.ctx.Err()
			}
		}
		if b.err != nil {
			return nil, false, false, b.err
		}
		if i > 0 && !b.follows(bl[i-1]) {
			return nil, false, false, nil
		}
		total += len(b.data)
	}
	for _, h := range hits[:len(bl)] {
		o.r.blocks.count(h)
	}
	b := bl[0]
	lo := int(off - b.key.idx*bs)
	if lo >= len(b.data) || lo+int(n) > total {
		return nil, false, false, fmt.Errorf("%w: object %s: blocks %d-%d hold %d bytes", segment.ErrCorrupt, o.obj, first, last, total)
	}
	at := b.at + lo
	return b.run.buf[at : at+int(n) : at+int(n)], true, b.run.verified(off, off+n), nil
}

// startFetchRun loads consecutive blocks of one object (each started by a lookup that returned
// fetch=true) with one ranged GET, on a goroutine owned by the Reader. Each block is published as
// soon as its bytes have arrived, so a reader waiting for the first does not wait for the rest.
// A read-ahead run (ahead) first waits for one of ReadAheadGets slots, in the order the runs were
// started; other fetches have a reader waiting and go at once. Once the bytes are in, the same goroutine checks the batches in them, so that the reads of a
// replay need not: all of them when whole is set (the run is all of that object, whose index it
// caches too), else those that start at an index entry when the object's index is cached.
func (r *Reader) startFetchRun(run []*block, objSize int64, whole *metadata.SegmentRef, ahead bool) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if ahead && r.aheadSlots != nil {
			select {
			case r.aheadSlots <- struct{}{}:
				defer func() { <-r.aheadSlots }()
			case <-r.ctx.Done():
			}
		}
		i := 0
		var ru *runBuf
		err := r.fetchRange(run[0].key, len(run), objSize, func(got *runBuf, at, n int) {
			ru = got
			r.blocks.done(run[i], got, at, n, nil)
			i++
		})
		for ; i < len(run); i++ {
			r.blocks.done(run[i], nil, 0, 0, err)
		}
		switch {
		case err != nil:
		case whole != nil && int64(len(ru.buf)) == objSize:
			r.verifyWhole(*whole, ru)
		default:
			r.checkRun(run[0].key.obj, ru)
		}
	}()
}

// verifyWhole checks a whole object's bytes as a read would (footer, index against the catalog,
// every batch's CRC and offsets), caches its index and marks the run verified. A failure is left
// for the reads, which report it against the object's key.
func (r *Reader) verifyWhole(seg metadata.SegmentRef, ru *runBuf) {
	sr, err := segment.OpenReader(bytes.NewReader(ru.buf), int64(len(ru.buf)))
	if err != nil {
		return
	}
	ix := sr.Index()
	if ix.BaseOffset > seg.BaseOffset || ix.NextOffset != seg.NextOffset || ix.DataSize > int64(len(ru.buf)) {
		return
	}
	if checkBatches(ru.buf[:ix.DataSize], ix.BaseOffset, ix.NextOffset) != nil || segment.WholeBatches(ru.buf[:ix.DataSize]) != int(ix.DataSize) {
		return
	}
	r.indexes.put(rangeOf(seg), &objectIndex{ix: ix, size: int64(len(ru.buf))})
	ru.setChecked(0, ix.DataSize)
}

// checkRun checks the whole batches of part of an object, from the first index entry at or after
// the run's start (a batch boundary), when the object's index is cached; it marks what passed.
// A failure is left for the reads, which report it against the object's key.
func (r *Reader) checkRun(key objRange, ru *runBuf) {
	oi := r.indexes.get(key)
	if oi == nil {
		return
	}
	ents := oi.ix.Entries
	i := sort.Search(len(ents), func(i int) bool { return ents[i].Position >= ru.start })
	end := min(ru.start+int64(len(ru.buf)), oi.ix.DataSize)
	if i == len(ents) || ents[i].Position >= end {
		return
	}
	from := ents[i].Position
	b := ru.buf[from-ru.start : end-ru.start]
	n := segment.WholeBatches(b)
	if n == 0 || checkBatches(b[:n], oi.ix.BaseOffset, oi.ix.NextOffset) != nil {
		return
	}
	ru.setChecked(from, from+int64(n))
}

// startFetch loads b (started by a lookup that returned fetch=true) on a goroutine owned by the
// Reader. The fetch runs under the Reader's context, not a caller's, because other readers may
// wait for the same block.
func (r *Reader) startFetch(b *block, objSize int64) {
	r.startFetchRun([]*block{b}, objSize, nil, false)
}

// fetchRange GETs blocks consecutive blocks from k on (fewer at the object's end) into one buffer
// and hands each block's place in it to got, in order, as it arrives. It returns the error that
// stopped it, if any.
func (r *Reader) fetchRange(k blockKey, blocks int, objSize int64, got func(ru *runBuf, at, n int)) error {
	bs := r.cfg.BlockSize
	off := k.idx * bs
	n := min(bs*int64(blocks), objSize-off)
	if n <= 0 {
		return fmt.Errorf("%w: object %s: block %d past the %d-byte segment", segment.ErrCorrupt, k.obj, k.idx, objSize)
	}
	began := time.Now()
	rc, err := r.cfg.Bucket.GetRange(r.ctx, k.obj.key, k.obj.pos+off, n)
	if err != nil {
		return fmt.Errorf("tier: get %s [%d, +%d): %w", k.obj.key, k.obj.pos+off, n, err)
	}
	defer rc.Close()
	ru := &runBuf{buf: make([]byte, n), start: off}
	buf := ru.buf
	for done := int64(0); done < n; {
		data := buf[done:min(done+bs, n)]
		if _, err := io.ReadFull(rc, data); err != nil {
			// A short body is either a cut connection or an object shorter than the catalog says.
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				if a, herr := r.cfg.Bucket.Head(r.ctx, k.obj.key); herr == nil && (a.Size < k.obj.pos+objSize || (k.obj.pos == 0 && a.Size != objSize && !IsSharedKey(k.obj.key))) {
					return fmt.Errorf("%w: object %s holds %d bytes, the catalog names %d at %d", segment.ErrCorrupt, k.obj.key, a.Size, objSize, k.obj.pos)
				}
			}
			return fmt.Errorf("tier: get %s [%d, +%d): %w", k.obj.key, k.obj.pos+off, n, err)
		}
		r.m.getBytes.Add(float64(len(data)))
		got(ru, int(done), len(data))
		done += int64(len(data))
	}
	r.m.getSeconds.Observe(time.Since(began).Seconds())
	return nil
}
