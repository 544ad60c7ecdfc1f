package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
)

// Format constants. See the package doc for the layout.
const (
	Magic                = "STRATSEG"
	Version              = 1
	FooterSize           = 28
	indexHeaderSize      = 40
	indexEntrySize       = 24
	DefaultIndexInterval = 4096
)

// IndexEntry is one sparse index point: the batch that starts at Position has base offset Offset,
// and every batch before Position has a max timestamp ≤ MaxTimestampBefore (-1 when none).
type IndexEntry struct {
	Offset             int64
	Position           int64
	MaxTimestampBefore int64
}

// Index describes a segment's data: the offsets it covers, its size, its timestamps and the sparse
// entries. Entries is shared; treat it as read-only.
type Index struct {
	BaseOffset         int64 // first offset the segment covers (≤ the base offset of its first batch)
	NextOffset         int64 // offset after the last batch; == BaseOffset when empty
	DataSize           int64 // bytes of batches; the index starts here in a sealed segment
	MaxTimestamp       int64 // largest batch max timestamp, -1 when empty
	MaxTimestampOffset int64 // base offset of the first batch holding MaxTimestamp, -1 when empty
	Batches            int64
	Entries            []IndexEntry
}

// Lookup returns the position of the last index entry whose batch starts at or before offset. The
// batch holding offset starts there or later, before the next entry.
func (ix *Index) Lookup(offset int64) int64 {
	i := sort.Search(len(ix.Entries), func(i int) bool { return ix.Entries[i].Offset > offset })
	if i == 0 {
		return 0
	}
	return ix.Entries[i-1].Position
}

// lookupTime returns the position of the last entry with MaxTimestampBefore < ts: the first batch
// whose max timestamp is ≥ ts starts there or later, before the next entry.
func (ix *Index) lookupTime(ts int64) int64 {
	i := sort.Search(len(ix.Entries), func(i int) bool { return ix.Entries[i].MaxTimestampBefore >= ts })
	if i == 0 {
		return 0
	}
	return ix.Entries[i-1].Position
}

// Indexer builds an Index as batches are appended one after another. The zero value is not usable;
// call NewIndexer.
type Indexer struct {
	interval  int64
	sinceLast int64
	ix        Index
}

// NewIndexer starts an empty index for a segment whose first offset is base. interval ≤ 0 means
// DefaultIndexInterval.
func NewIndexer(base int64, interval int) *Indexer {
	if interval <= 0 {
		interval = DefaultIndexInterval
	}
	return &Indexer{
		interval: int64(interval),
		ix:       Index{BaseOffset: base, NextOffset: base, MaxTimestamp: -1, MaxTimestampOffset: -1},
	}
}

// ResumeIndexer continues building ix (for example one from Recover) as more batches are appended
// after ix.DataSize.
func ResumeIndexer(ix Index, interval int) *Indexer {
	x := NewIndexer(ix.BaseOffset, interval)
	x.ix = ix
	x.ix.Entries = append([]IndexEntry(nil), ix.Entries...)
	if n := len(ix.Entries); n > 0 {
		x.sinceLast = ix.DataSize - ix.Entries[n-1].Position
	}
	return x
}

// Add records a batch appended at position Index().DataSize.
func (x *Indexer) Add(info BatchInfo) {
	ix := &x.ix
	if ix.Batches == 0 || x.sinceLast >= x.interval {
		ix.Entries = append(ix.Entries, IndexEntry{Offset: info.BaseOffset, Position: ix.DataSize, MaxTimestampBefore: ix.MaxTimestamp})
		x.sinceLast = 0
	}
	if info.MaxTimestamp > ix.MaxTimestamp {
		ix.MaxTimestamp = info.MaxTimestamp
		ix.MaxTimestampOffset = info.BaseOffset
	}
	size := int64(info.Size())
	ix.DataSize += size
	x.sinceLast += size
	ix.Batches++
	ix.NextOffset = info.NextOffset()
}

// Index returns a snapshot. Later Adds never change what the snapshot sees.
func (x *Indexer) Index() Index {
	ix := x.ix
	ix.Entries = ix.Entries[:len(ix.Entries):len(ix.Entries)]
	return ix
}

// AppendTrailer appends the encoded index and footer to dst. Written right after DataSize bytes of
// batches, they make a sealed segment.
func (ix *Index) AppendTrailer(dst []byte) []byte {
	start := len(dst)
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(ix.BaseOffset))
	dst = be.AppendUint64(dst, uint64(ix.NextOffset))
	dst = be.AppendUint64(dst, uint64(ix.MaxTimestamp))
	dst = be.AppendUint64(dst, uint64(ix.MaxTimestampOffset))
	dst = be.AppendUint32(dst, uint32(ix.Batches))
	dst = be.AppendUint32(dst, uint32(len(ix.Entries)))
	for _, e := range ix.Entries {
		dst = be.AppendUint64(dst, uint64(e.Offset))
		dst = be.AppendUint64(dst, uint64(e.Position))
		dst = be.AppendUint64(dst, uint64(e.MaxTimestampBefore))
	}
	indexLen := len(dst) - start
	dst = be.AppendUint64(dst, uint64(ix.DataSize))
	dst = be.AppendUint32(dst, uint32(indexLen))
	dst = be.AppendUint16(dst, Version)
	dst = be.AppendUint16(dst, 0) // flags
	crc := crc32.Checksum(dst[start:], castagnoli)
	dst = be.AppendUint32(dst, crc)
	dst = append(dst, Magic...)
	return dst
}

// footer is the decoded fixed-size tail of a sealed segment.
type footer struct {
	indexPos int64
	indexLen int64
	version  uint16
	flags    uint16
	crc      uint32
}

func decodeFooter(b []byte, size int64) (footer, error) {
	if len(b) != FooterSize {
		return footer{}, fmt.Errorf("%w: footer of %d bytes", ErrCorrupt, len(b))
	}
	if string(b[20:]) != Magic {
		return footer{}, fmt.Errorf("%w: bad footer magic %q", ErrCorrupt, b[20:])
	}
	be := binary.BigEndian
	f := footer{
		indexPos: int64(be.Uint64(b[0:])),
		indexLen: int64(be.Uint32(b[8:])),
		version:  be.Uint16(b[12:]),
		flags:    be.Uint16(b[14:]),
		crc:      be.Uint32(b[16:]),
	}
	if f.version != Version {
		return footer{}, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, f.version)
	}
	if f.indexPos < 0 || f.indexLen < indexHeaderSize || f.indexPos > size || f.indexPos+f.indexLen+FooterSize != size {
		return footer{}, fmt.Errorf("%w: footer places a %d-byte index at %d in a %d-byte segment", ErrCorrupt, f.indexLen, f.indexPos, size)
	}
	return f, nil
}

// decodeIndex checks the CRC of index+footer and decodes the index. It never allocates more than
// len(idx) justifies.
func decodeIndex(idx, foot []byte, f footer) (Index, error) {
	crc := crc32.Checksum(idx, castagnoli)
	crc = crc32.Update(crc, castagnoli, foot[:16])
	if crc != f.crc {
		return Index{}, fmt.Errorf("%w: index CRC32C %08x, footer says %08x", ErrCorrupt, crc, f.crc)
	}
	be := binary.BigEndian
	ix := Index{
		BaseOffset:         int64(be.Uint64(idx[0:])),
		NextOffset:         int64(be.Uint64(idx[8:])),
		MaxTimestamp:       int64(be.Uint64(idx[16:])),
		MaxTimestampOffset: int64(be.Uint64(idx[24:])),
		Batches:            int64(be.Uint32(idx[32:])),
		DataSize:           f.indexPos,
	}
	n := int64(be.Uint32(idx[36:]))
	if n != (int64(len(idx))-indexHeaderSize)/indexEntrySize || indexHeaderSize+n*indexEntrySize != int64(len(idx)) {
		return Index{}, fmt.Errorf("%w: index claims %d entries in %d bytes", ErrCorrupt, n, len(idx))
	}
	if ix.BaseOffset < 0 || ix.NextOffset < ix.BaseOffset {
		return Index{}, fmt.Errorf("%w: index offsets [%d, %d)", ErrCorrupt, ix.BaseOffset, ix.NextOffset)
	}
	if (ix.DataSize == 0) != (n == 0) || (ix.DataSize == 0) != (ix.Batches == 0) || n > ix.Batches {
		return Index{}, fmt.Errorf("%w: index of %d entries and %d batches for %d data bytes", ErrCorrupt, n, ix.Batches, ix.DataSize)
	}
	if n > 0 {
		ix.Entries = make([]IndexEntry, n)
	}
	prev := IndexEntry{Offset: -1, Position: -1, MaxTimestampBefore: -1}
	for i := range ix.Entries {
		p := idx[indexHeaderSize+i*indexEntrySize:]
		e := IndexEntry{Offset: int64(be.Uint64(p)), Position: int64(be.Uint64(p[8:])), MaxTimestampBefore: int64(be.Uint64(p[16:]))}
		switch {
		case i == 0 && (e.Position != 0 || e.Offset < ix.BaseOffset):
			return Index{}, fmt.Errorf("%w: first index entry %+v", ErrCorrupt, e)
		case e.Position <= prev.Position || e.Position >= ix.DataSize,
			e.Offset <= prev.Offset || e.Offset >= ix.NextOffset,
			e.MaxTimestampBefore < prev.MaxTimestampBefore && i > 0:
			return Index{}, fmt.Errorf("%w: index entry %d %+v out of order", ErrCorrupt, i, e)
		}
		ix.Entries[i] = e
		prev = e
	}
	return ix, nil
}
