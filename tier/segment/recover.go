package segment

import (
	"errors"
	"fmt"
	"io"
)

// Recovered is the outcome of Recover: the index of the valid prefix and why the scan stopped.
type Recovered struct {
	// Index describes the valid prefix: Index.DataSize is its length in bytes and Index.NextOffset
	// the offset the next batch should get.
	Index Index
	// Torn is nil when every byte was a valid batch, else the reason the first bad byte
	// (at Index.DataSize) was rejected; it wraps ErrCorrupt.
	Torn error
}

// Recover scans a footer-less segment (a hot log's active file) of size bytes from position 0 and
// stops at the first torn or invalid batch. A footer-less file is written contiguously, so besides
// each batch's framing and CRC it requires the first batch to start at baseOffset and each next
// batch to start where the previous one ended. The error is non-nil only for I/O errors from r.
func Recover(r io.ReaderAt, size int64, baseOffset int64, indexInterval int) (Recovered, error) {
	x := NewIndexer(baseOffset, indexInterval)
	w := &window{r: r, end: size, chunk: 256 << 10}
	for pos := int64(0); pos < size; {
		info, err := w.batch(pos)
		if err == nil && info.BaseOffset != x.ix.NextOffset {
			err = fmt.Errorf("%w: batch at byte %d has base offset %d, want %d", ErrCorrupt, pos, info.BaseOffset, x.ix.NextOffset)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return Recovered{}, err
			}
			return Recovered{Index: x.Index(), Torn: err}, nil
		}
		x.Add(info)
		pos += int64(info.Size())
	}
	return Recovered{Index: x.Index()}, nil
}
