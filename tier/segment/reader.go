package segment

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
)

// ErrOutOfRange is returned by Reader.FindOffset for an offset the segment does not hold.
var ErrOutOfRange = errors.New("segment: offset out of range")

const scanChunk = 4096

// Reader reads a segment through an io.ReaderAt. It holds the decoded index and no file state, so
// it is safe for concurrent use if the io.ReaderAt is (an *os.File is).
type Reader struct {
	r  io.ReaderAt
	ix Index
}

// OpenReader opens a sealed segment of size bytes: it reads the footer and index, and checks the
// magic, the format version and the CRC32C. Errors about the bytes wrap ErrCorrupt; I/O errors from
// r are returned as they are.
func OpenReader(r io.ReaderAt, size int64) (*Reader, error) {
	if size < FooterSize+indexHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes is too short for a sealed segment", ErrCorrupt, size)
	}
	var fb [FooterSize]byte
	if err := readFull(r, fb[:], size-FooterSize); err != nil {
		return nil, err
	}
	f, err := decodeFooter(fb[:], size)
	if err != nil {
		return nil, err
	}
	idx := make([]byte, f.indexLen) // bounded by size, checked by decodeFooter
	if err := readFull(r, idx, f.indexPos); err != nil {
		return nil, err
	}
	ix, err := decodeIndex(idx, fb[:], f)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, ix: ix}, nil
}

// NewIndexedReader reads footer-less data (a hot log's active segment) described by an index the
// caller built with an Indexer and trusts. Only ix.DataSize bytes of r are read.
func NewIndexedReader(r io.ReaderAt, ix Index) *Reader { return &Reader{r: r, ix: ix} }

// Index returns the segment's index. Its Entries are shared; do not modify them.
func (r *Reader) Index() Index { return r.ix }

// FindOffset returns the position and header of the first batch whose last offset is ≥ offset: the
// batch holding offset, or after a gap left by compaction the next one. ErrOutOfRange when offset is
// outside [BaseOffset, NextOffset).
func (r *Reader) FindOffset(offset int64) (int64, BatchInfo, error) {
	if offset < r.ix.BaseOffset || offset >= r.ix.NextOffset {
		return 0, BatchInfo{}, fmt.Errorf("%w: %d not in [%d, %d)", ErrOutOfRange, offset, r.ix.BaseOffset, r.ix.NextOffset)
	}
	w := r.window(scanChunk)
	for pos := r.ix.Lookup(offset); pos < r.ix.DataSize; {
		info, err := w.header(pos)
		if err != nil {
			return 0, BatchInfo{}, err
		}
		if info.LastOffset() >= offset {
			return pos, info, nil
		}
		pos += int64(info.Size())
	}
	return 0, BatchInfo{}, fmt.Errorf("%w: offset %d below the index's next offset %d is missing from the data", ErrCorrupt, offset, r.ix.NextOffset)
}

// ReadBatches appends to dst the whole batches that start at pos (a batch boundary, e.g. from
// FindOffset) and returns dst and the position after the last batch appended. It stops at the end of
// the data, before a batch whose base offset is ≥ limit (limit < 0: no bound), and before a batch that
// would make len(dst) exceed maxBytes — except that a batch is always appended while dst is empty
// (KIP-74: a consumer can always make progress).
func (r *Reader) ReadBatches(dst []byte, pos int64, maxBytes int, limit int64) ([]byte, int64, error) {
	if limit < 0 {
		limit = math.MaxInt64
	}
	if pos < 0 || pos > r.ix.DataSize {
		return dst, pos, fmt.Errorf("%w: read position %d outside %d data bytes", ErrCorrupt, pos, r.ix.DataSize)
	}
	if pos == r.ix.DataSize {
		return dst, pos, nil
	}
	first := len(dst) == 0
	budget := int64(maxBytes) - int64(len(dst))
	if budget < BatchHeaderSize {
		if !first {
			return dst, pos, nil
		}
		budget = BatchHeaderSize
	}
	n := min(budget, r.ix.DataSize-pos)
	if n < BatchHeaderSize {
		return dst, pos, fmt.Errorf("%w: %d bytes at %d cannot hold a batch header", ErrCorrupt, n, pos)
	}
	// One read of the budget (or the rest of the data), then keep the whole batches in it.
	start := len(dst)
	dst = grow(dst, int(n))
	if err := readFull(r.r, dst[start:], pos); err != nil {
		return dst[:start], pos, err
	}
	keep := start
	for keep+BatchHeaderSize <= len(dst) {
		at := pos + int64(keep-start)
		info, err := parseHeader(dst[keep:])
		if err != nil {
			return dst[:start], pos, fmt.Errorf("at byte %d: %w", at, err)
		}
		if info.BaseOffset >= limit {
			break
		}
		size := info.Size()
		if at+int64(size) > r.ix.DataSize {
			return dst[:start], pos, fmt.Errorf("%w: batch at %d runs past the data end %d", ErrCorrupt, at, r.ix.DataSize)
		}
		if keep+size > len(dst) {
			if keep > start || !first {
				break
			}
			// The first batch alone exceeds the budget: read the rest of it.
			have := len(dst) - keep
			dst = grow(dst, size-have)
			if err := readFull(r.r, dst[keep+have:], at+int64(have)); err != nil {
				return dst[:start], pos, err
			}
		}
		keep += size
	}
	return dst[:keep], pos + int64(keep-start), nil
}

// BatchesEnd is ReadBatches without the data, for a caller that sends the bytes from the file
// itself (sendfile): it returns the position after the whole batches that ReadBatches would
// append from pos to a dst already holding have bytes, and the last offset of the last of them
// (-1: none). It reads few headers: the index says where batches start, so it jumps to the last
// entry that the budget and limit take whole and reads headers from there on (scanChunk bytes at
// a time). The batches jumped over are the index's word: their headers are not read, and when
// none after the jump is taken the last offset is the one before the entry's (exact where
// offsets have no gaps, as in a hot log).
func (r *Reader) BatchesEnd(pos int64, have, maxBytes int, limit int64) (end, last int64, err error) {
	if limit < 0 {
		limit = math.MaxInt64
	}
	if pos < 0 || pos > r.ix.DataSize {
		return pos, -1, fmt.Errorf("%w: read position %d outside %d data bytes", ErrCorrupt, pos, r.ix.DataSize)
	}
	first := have == 0
	budget := int64(maxBytes) - int64(have)
	end, last = pos, -1
	// Every batch before an entry at or below pos+budget starts below the entry's offset and ends
	// by its position: taken whole, if the entry's offset is below limit.
	es := r.ix.Entries
	if i := sort.Search(len(es), func(i int) bool { return es[i].Position > pos+budget || es[i].Offset >= limit }); i > 0 &&
		es[i-1].Position > pos && es[i-1].Position <= r.ix.DataSize {
		end, last = es[i-1].Position, es[i-1].Offset-1
	}
	w := r.window(scanChunk)
	for end < r.ix.DataSize {
		info, err := w.header(end)
		if err != nil {
			return pos, -1, err
		}
		if info.BaseOffset >= limit {
			break
		}
		size := int64(info.Size())
		if end+size-pos > budget && (end > pos || !first) {
			break
		}
		end += size
		last = info.LastOffset()
	}
	return end, last, nil
}

// Scan calls fn with the position and header of every batch from pos (a batch boundary) to the end.
// An error from fn stops the scan and is returned.
func (r *Reader) Scan(pos int64, fn func(pos int64, info BatchInfo) error) error {
	w := r.window(64 << 10)
	for pos < r.ix.DataSize {
		info, err := w.header(pos)
		if err != nil {
			return err
		}
		if err := fn(pos, info); err != nil {
			return err
		}
		pos += int64(info.Size())
	}
	return nil
}

// Verify reads every batch and checks its CRC, that offsets grow, and that the data agrees with the
// index. Use it on bytes fetched from object storage before trusting them. Errors wrap ErrCorrupt.
func (r *Reader) Verify() error {
	w := r.window(1 << 20)
	x := NewIndexer(r.ix.BaseOffset, 1)
	for pos := int64(0); pos < r.ix.DataSize; {
		info, err := w.batch(pos)
		if err != nil {
			return err
		}
		if info.BaseOffset < x.ix.NextOffset {
			return fmt.Errorf("%w: batch at %d has base offset %d below %d", ErrCorrupt, pos, info.BaseOffset, x.ix.NextOffset)
		}
		x.Add(info)
		pos += int64(info.Size())
	}
	got := x.Index()
	if got.NextOffset != r.ix.NextOffset || got.Batches != r.ix.Batches || got.MaxTimestamp != r.ix.MaxTimestamp || got.MaxTimestampOffset != r.ix.MaxTimestampOffset {
		return fmt.Errorf("%w: data (next %d, %d batches, max ts %d@%d) disagrees with the index (next %d, %d batches, max ts %d@%d)",
			ErrCorrupt, got.NextOffset, got.Batches, got.MaxTimestamp, got.MaxTimestampOffset,
			r.ix.NextOffset, r.ix.Batches, r.ix.MaxTimestamp, r.ix.MaxTimestampOffset)
	}
	for _, e := range r.ix.Entries {
		if _, info, err := r.FindOffset(e.Offset); err != nil || info.BaseOffset != e.Offset {
			return fmt.Errorf("%w: index entry %+v does not point at a batch", ErrCorrupt, e)
		}
	}
	return nil
}

func (r *Reader) window(chunk int) *window {
	return &window{r: r.r, end: r.ix.DataSize, chunk: chunk}
}

// window serves small reads at increasing positions from one buffered chunk of an io.ReaderAt.
type window struct {
	r     io.ReaderAt
	end   int64
	chunk int
	buf   []byte
	off   int64
}

// get returns bytes [pos, pos+n), valid until the next call. It never reads or allocates past end.
func (w *window) get(pos int64, n int) ([]byte, error) {
	if pos < 0 || n < 0 || pos > w.end || int64(n) > w.end-pos {
		return nil, fmt.Errorf("%w: %d bytes at %d run past the end %d", ErrCorrupt, n, pos, w.end)
	}
	if pos >= w.off && pos+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[pos-w.off:][:n], nil
	}
	want := int64(max(n, w.chunk))
	want = min(want, w.end-pos)
	if int64(cap(w.buf)) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	if err := readFull(w.r, w.buf, pos); err != nil {
		w.buf = w.buf[:0]
		return nil, err
	}
	w.off = pos
	return w.buf[:n], nil
}

// rest extends h, the bytes at pos, to the end of the buffered chunk.
func (w *window) rest(pos int64, h []byte) []byte {
	if pos >= w.off && pos-w.off < int64(len(w.buf)) {
		return w.buf[pos-w.off:]
	}
	return h
}

// header decodes the batch header at pos and checks that the batch fits before end.
func (w *window) header(pos int64) (BatchInfo, error) {
	h, err := w.get(pos, BatchHeaderSize)
	if err != nil {
		return BatchInfo{}, err
	}
	info, err := parseHeader(w.rest(pos, h))
	if err != nil {
		return BatchInfo{}, fmt.Errorf("at byte %d: %w", pos, err)
	}
	if int64(info.Size()) > w.end-pos {
		return BatchInfo{}, fmt.Errorf("%w: %d-byte batch at %d runs past the end %d", ErrCorrupt, info.Size(), pos, w.end)
	}
	return info, nil
}

// batch reads and validates (CRC included) the whole batch at pos.
func (w *window) batch(pos int64) (BatchInfo, error) {
	info, err := w.header(pos)
	if err != nil {
		return BatchInfo{}, err
	}
	b, err := w.get(pos, info.Size())
	if err != nil {
		return BatchInfo{}, err
	}
	if info, err = ValidateBatch(b); err != nil {
		return BatchInfo{}, fmt.Errorf("at byte %d: %w", pos, err)
	}
	return info, nil
}

// readFull reads len(p) bytes at off. A short read means the source is shorter than its stated
// size, which is corruption; other errors are I/O errors and are returned as they are.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: short read of %d bytes at %d, want %d", ErrCorrupt, n, off, len(p))
	}
	return fmt.Errorf("segment: read at %d: %w", off, err)
}

// grow extends b by n bytes, reallocating with room to spare when needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	return slices.Grow(b, n)[:len(b)+n]
}
