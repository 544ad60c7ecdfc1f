package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka RecordBatch v2 header layout. The header is BatchHeaderSize bytes; the records follow.
const (
	BatchHeaderSize    = 61 // baseOffset .. numRecords
	batchLenOffset     = 8  // int32 batchLength: bytes after this field
	batchLenSize       = 12 // baseOffset + batchLength: bytes not counted by batchLength
	minBatchLength     = BatchHeaderSize - batchLenSize
	epochOffset        = 12 // int32 partitionLeaderEpoch (not covered by the CRC)
	magicOffset        = 16
	crcOffset          = 17 // uint32 CRC32C over bytes [crcStart, end of batch)
	crcStart           = 21 // also where the attributes start
	maxTimestampOffset = 35

	// MaxBatchSize bounds a single batch. Kafka's own limits (message.max.bytes) are far lower; this
	// guards readers of outside bytes against absurd lengths.
	MaxBatchSize = 1 << 30
)

// Attribute bits of a RecordBatch v2.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Compression codecs in the low attribute bits.
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchInfo is the decoded header of one RecordBatch v2. It holds no reference to the batch bytes.
type BatchInfo struct {
	BaseOffset           int64
	Length               int32 // the batchLength field: bytes after the first 12
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's total size in bytes.
func (b BatchInfo) Size() int { return int(b.Length) + batchLenSize }

// LastOffset is the offset of the batch's last record.
func (b BatchInfo) LastOffset() int64 { return b.BaseOffset + int64(b.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (b BatchInfo) NextOffset() int64 { return b.LastOffset() + 1 }

// Compression is the codec in the attribute bits (CompressionNone ... CompressionZstd).
func (b BatchInfo) Compression() int { return int(b.Attributes & AttrCompressionMask) }

// Transactional reports the transactional attribute bit.
func (b BatchInfo) Transactional() bool { return b.Attributes&AttrTransactional != 0 }

// Control reports the control-batch attribute bit (transaction markers).
func (b BatchInfo) Control() bool { return b.Attributes&AttrControl != 0 }

// LogAppendTime reports whether the batch's timestamps are broker append times.
func (b BatchInfo) LogAppendTime() bool { return b.Attributes&AttrLogAppendTime != 0 }

// Idempotent reports whether the batch carries a producer id.
func (b BatchInfo) Idempotent() bool { return b.ProducerID >= 0 }

// ParseBatch decodes the header of the RecordBatch v2 at the start of b. b must hold the whole batch
// (trailing bytes after it are allowed and ignored; see BatchInfo.Size). It checks the framing (length
// and magic) but not the CRC; use ValidateBatch for bytes from outside. Errors wrap ErrCorrupt.
func ParseBatch(b []byte) (BatchInfo, error) {
	if len(b) < BatchHeaderSize {
		return BatchInfo{}, fmt.Errorf("%w: batch of %d bytes is shorter than its header", ErrCorrupt, len(b))
	}
	length := int64(int32(binary.BigEndian.Uint32(b[batchLenOffset:])))
	if length < minBatchLength || length > MaxBatchSize {
		return BatchInfo{}, fmt.Errorf("%w: batch length %d out of range", ErrCorrupt, length)
	}
	if length+batchLenSize > int64(len(b)) {
		return BatchInfo{}, fmt.Errorf("%w: batch length %d exceeds the %d bytes available", ErrCorrupt, length, len(b)-batchLenSize)
	}
	var rb kmsg.RecordBatch
	if err := rb.UnsafeReadFrom(b[:length+batchLenSize]); err != nil {
		return BatchInfo{}, fmt.Errorf("%w: batch header: %v", ErrCorrupt, err)
	}
	return fromKmsg(&rb)
}

// parseHeader decodes a batch header from h, which holds at least the header but maybe not all the
// records. It is used when scanning a segment through an io.ReaderAt. When the whole batch is in h
// it is ParseBatch; otherwise kmsg decodes the fields from a copy whose length field is patched to
// an empty record set.
func parseHeader(h []byte) (BatchInfo, error) {
	if len(h) < BatchHeaderSize {
		return BatchInfo{}, fmt.Errorf("%w: truncated batch header", ErrCorrupt)
	}
	length := int64(int32(binary.BigEndian.Uint32(h[batchLenOffset:])))
	if length < minBatchLength || length > MaxBatchSize {
		return BatchInfo{}, fmt.Errorf("%w: batch length %d out of range", ErrCorrupt, length)
	}
	if length+batchLenSize <= int64(len(h)) {
		return ParseBatch(h)
	}
	var buf [BatchHeaderSize]byte
	copy(buf[:], h)
	binary.BigEndian.PutUint32(buf[batchLenOffset:], minBatchLength)
	var rb kmsg.RecordBatch
	if err := rb.UnsafeReadFrom(buf[:]); err != nil {
		return BatchInfo{}, fmt.Errorf("%w: batch header: %v", ErrCorrupt, err)
	}
	rb.Length = int32(length)
	return fromKmsg(&rb)
}

func fromKmsg(rb *kmsg.RecordBatch) (BatchInfo, error) {
	info := BatchInfo{
		BaseOffset:           rb.FirstOffset,
		Length:               rb.Length,
		PartitionLeaderEpoch: rb.PartitionLeaderEpoch,
		Magic:                rb.Magic,
		CRC:                  uint32(rb.CRC),
		Attributes:           rb.Attributes,
		LastOffsetDelta:      rb.LastOffsetDelta,
		FirstTimestamp:       rb.FirstTimestamp,
		MaxTimestamp:         rb.MaxTimestamp,
		ProducerID:           rb.ProducerID,
		ProducerEpoch:        rb.ProducerEpoch,
		BaseSequence:         rb.FirstSequence,
		NumRecords:           rb.NumRecords,
	}
	if info.Magic != 2 {
		return BatchInfo{}, fmt.Errorf("%w: batch magic %d, want 2", ErrCorrupt, info.Magic)
	}
	return info, nil
}

// ValidateBatch checks the RecordBatch v2 at the start of b as bytes from outside: framing, magic 2,
// a known compression codec, non-negative offset delta and record count, and the CRC32C over
// bytes [21, Size). Errors wrap ErrCorrupt. Trailing bytes after the batch are ignored.
func ValidateBatch(b []byte) (BatchInfo, error) {
	info, err := ParseBatch(b)
	if err != nil {
		return BatchInfo{}, err
	}
	if c := info.Compression(); c > CompressionZstd {
		return BatchInfo{}, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
	if info.LastOffsetDelta < 0 || info.NumRecords < 0 {
		return BatchInfo{}, fmt.Errorf("%w: negative lastOffsetDelta %d or record count %d", ErrCorrupt, info.LastOffsetDelta, info.NumRecords)
	}
	if got := crc32.Checksum(b[crcStart:info.Size()], castagnoli); got != info.CRC {
		return BatchInfo{}, fmt.Errorf("%w: batch CRC32C %08x, header says %08x", ErrCorrupt, got, info.CRC)
	}
	return info, nil
}

// SetBaseOffset rewrites the baseOffset of the batch at the start of b. The CRC does not cover it.
// b must hold at least the first 8 bytes.
func SetBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[:8], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the partitionLeaderEpoch of the batch at the start of b (not
// covered by the CRC either). b must hold at least the first 16 bytes.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[epochOffset:epochOffset+4], uint32(epoch))
}

// SetLogAppendTime marks the batch at the start of b (already validated, so b holds all of it) as
// carrying broker append time ts, as Kafka does for message.timestamp.type=LogAppendTime: it sets the
// timestamp-type attribute bit and maxTimestamp, then recomputes the CRC, which covers both.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[crcStart:])
	binary.BigEndian.PutUint16(b[crcStart:], attrs|AttrLogAppendTime)
	binary.BigEndian.PutUint64(b[maxTimestampOffset:], uint64(ts))
	size := int(int32(binary.BigEndian.Uint32(b[batchLenOffset:]))) + batchLenSize
	binary.BigEndian.PutUint32(b[crcOffset:], crc32.Checksum(b[crcStart:size], castagnoli))
}

// Splitter walks a byte slice batch by batch, validating each (CRC included):
//
//	s := segment.NewSplitter(b)
//	for s.Next() {
//		use(s.Batch(), s.Info())
//	}
//	if err := s.Err(); err != nil { ... } // wraps ErrCorrupt; s.Pos() is where the bad bytes start
//
// Batch returns a sub-slice of b, valid as long as b is.
type Splitter struct {
	b     []byte
	pos   int
	batch []byte
	info  BatchInfo
	err   error
}

// NewSplitter returns a Splitter over b.
func NewSplitter(b []byte) *Splitter { return &Splitter{b: b} }

// Next advances to the next batch. It returns false at the end of b or at the first invalid or
// incomplete batch (then Err is non-nil).
func (s *Splitter) Next() bool {
	if s.err != nil {
		return false
	}
	if s.batch != nil {
		s.pos += len(s.batch)
		s.batch = nil
	}
	if s.pos >= len(s.b) {
		return false
	}
	info, err := ValidateBatch(s.b[s.pos:])
	if err != nil {
		s.err = fmt.Errorf("at byte %d: %w", s.pos, err)
		return false
	}
	s.info = info
	s.batch = s.b[s.pos : s.pos+info.Size() : s.pos+info.Size()]
	return true
}

// Batch is the current batch's bytes.
func (s *Splitter) Batch() []byte { return s.batch }

// Info is the current batch's header.
func (s *Splitter) Info() BatchInfo { return s.info }

// Pos is the byte position of the current batch, or after Next returned false, of the first byte not
// consumed.
func (s *Splitter) Pos() int { return s.pos }

// Err is the reason Next stopped early, or nil at a clean end.
func (s *Splitter) Err() error { return s.err }

// WholeBatches returns the length of the longest prefix of b that holds whole batches, going by
// their length fields alone (no CRC or header checks: validate the prefix before trusting it). A
// length field out of range ends the prefix.
func WholeBatches(b []byte) int {
	n := 0
	for len(b)-n >= BatchHeaderSize {
		length := int64(int32(binary.BigEndian.Uint32(b[n+batchLenOffset:])))
		if length < minBatchLength || length > MaxBatchSize || int64(n)+length+batchLenSize > int64(len(b)) {
			break
		}
		n += int(length) + batchLenSize
	}
	return n
}
