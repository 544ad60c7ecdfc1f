package segment

import (
	"errors"
	"fmt"
	"io"
)

// ErrSealed is returned by Writer.Append after Seal.
var ErrSealed = errors.New("segment: writer is sealed")

// Writer writes a segment to an io.Writer: batches back to back, then on Seal the index and footer.
// It is not safe for concurrent use. After a write error the Writer keeps returning that error.
type Writer struct {
	w      io.Writer
	ix     *Indexer
	sealed bool
	err    error
	buf    []byte
}

// NewWriter starts a segment whose first offset is baseOffset (the base offset of the first batch,
// and the segment's offsets if it stays empty). indexInterval ≤ 0 means DefaultIndexInterval.
func NewWriter(w io.Writer, baseOffset int64, indexInterval int) *Writer {
	return &Writer{w: w, ix: NewIndexer(baseOffset, indexInterval)}
}

// Append validates one whole RecordBatch v2 (len(batch) must be its size) and writes it verbatim.
// Offsets must grow: the batch's base offset must be at least the segment's next offset (gaps are
// allowed, as compaction leaves them). The batch is not retained.
func (w *Writer) Append(batch []byte) (BatchInfo, error) {
	return w.append(batch, ValidateBatch)
}

// AppendValidated is Append for a batch whose CRC was already checked (one read back from the hot
// log, which takes only validated batches): its header is parsed, its CRC is not computed again.
func (w *Writer) AppendValidated(batch []byte) (BatchInfo, error) {
	return w.append(batch, ParseBatch)
}

// append writes batch once parse (ValidateBatch or ParseBatch) accepts its header.
func (w *Writer) append(batch []byte, parse func([]byte) (BatchInfo, error)) (BatchInfo, error) {
	if w.err != nil {
		return BatchInfo{}, w.err
	}
	if w.sealed {
		return BatchInfo{}, ErrSealed
	}
	info, err := parse(batch)
	if err != nil {
		return BatchInfo{}, err
	}
	if info.Size() != len(batch) {
		return BatchInfo{}, fmt.Errorf("%w: %d bytes after a %d-byte batch", ErrCorrupt, len(batch)-info.Size(), info.Size())
	}
	if next := w.ix.ix.NextOffset; info.BaseOffset < next {
		return BatchInfo{}, fmt.Errorf("segment: batch base offset %d below the segment's next offset %d", info.BaseOffset, next)
	}
	if _, err := w.w.Write(batch); err != nil {
		w.err = fmt.Errorf("segment: write batch: %w", err)
		return BatchInfo{}, w.err
	}
	w.ix.Add(info)
	return info, nil
}

// Seal writes the index and footer and returns the final index. The Writer accepts no more batches.
func (w *Writer) Seal() (Index, error) {
	if w.err != nil {
		return Index{}, w.err
	}
	if w.sealed {
		return Index{}, ErrSealed
	}
	ix := w.ix.Index()
	w.buf = ix.AppendTrailer(w.buf[:0])
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("segment: write index: %w", err)
		return Index{}, w.err
	}
	w.sealed = true
	return ix, nil
}

// Index returns a snapshot of the index of the batches appended so far.
func (w *Writer) Index() Index { return w.ix.Index() }

// Size is the number of bytes written so far (the trailer included once sealed).
func (w *Writer) Size() int64 {
	n := w.ix.ix.DataSize
	if w.sealed {
		n += int64(len(w.buf))
	}
	return n
}
