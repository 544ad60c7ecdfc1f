package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Reading a stored batch into whole records, and writing one back from them, for layouts that keep
// records apart from their batches (tier/columnar). A batch rebuilt by RebuildBatch from what
// Records returned, with the same header fields, holds the same record bytes: each record is
// encoded by kmsg with its own attributes, timestamp and offset deltas, key, value and headers.

// Records calls fn with every record of the batch at the start of b (header info, from
// ValidateBatch or a Splitter), decoded whole by kmsg: attributes, deltas, key and value (nil when
// null), headers (a header value nil when null). The records are decompressed whole first, within
// InflateLimit; offset gaps left by key compaction are accepted. The record's slices alias the batch
// or the Retainer's buffer: they are valid until the next call. Errors wrap ErrCorrupt; an error
// from fn stops the walk and is returned as it is.
func (t *Retainer) Records(b []byte, info BatchInfo, fn func(*kmsg.Record) error) error {
	var (
		ferr error
		rec  kmsg.Record
	)
	err := t.walk(b, info, func(r walkedRecord) bool {
		if err := rec.UnsafeReadFrom(r.Raw); err != nil {
			ferr = fmt.Errorf("%w: record at offset delta %d: %v", ErrInvalidRecord, r.OffsetDelta, err)
			return true
		}
		ferr = fn(&rec)
		return ferr != nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// RebuiltSize is at least the bytes RebuildBatch appends for recs uncompressed (a compressed batch
// is rarely larger): the header, and each record's key, value and headers with room for their
// varints.
func RebuiltSize(recs []kmsg.Record) int {
	size := BatchHeaderSize
	for i := range recs {
		size += len(recs[i].Key) + len(recs[i].Value) + 24
		for _, h := range recs[i].Headers {
			size += len(h.Key) + len(h.Value) + 10
		}
	}
	return size
}

// RebuildBatch appends to dst a RecordBatch v2 with the header fields of info — base offset,
// partition leader epoch, attributes, last offset delta, first and max timestamps, producer id and
// epoch, base sequence — and recs, each encoded by kmsg as it is (its Length is recomputed). The
// record count, the length and the CRC32C follow from recs. When info's codec bits name a codec,
// compress (if set) is given the encoded records and returns them in that codec (not aliasing
// dst), or nil to write them uncompressed; without a compressed form the codec bits are cleared.
func RebuildBatch(dst []byte, info BatchInfo, recs []kmsg.Record, compress func(codec int, records []byte) []byte) []byte {
	// The records are encoded in place, after room for the header; the header goes in last.
	at := len(dst)
	dst = slices.Grow(dst, RebuiltSize(recs))[:at+BatchHeaderSize]
	for i := range recs {
		kr := &recs[i]
		// Length counts the bytes after its own varint: encode with a zero (one byte) to learn it,
		// then put its varint in the zero's place.
		start := len(dst)
		kr.Length = 0
		dst = kr.AppendTo(dst)
		kr.Length = int32(len(dst) - start - 1)
		var l [binary.MaxVarintLen32]byte
		n := binary.PutVarint(l[:], int64(kr.Length)) // kmsg's varint: zigzag, as binary's
		dst = append(dst, l[:n-1]...)
		copy(dst[start+n:], dst[start+1:len(dst)-(n-1)])
		copy(dst[start:], l[:n])
	}
	attrs := info.Attributes &^ AttrCompressionMask
	if codec := info.Compression(); codec != CompressionNone && compress != nil && len(recs) > 0 {
		if c := compress(codec, dst[at+BatchHeaderSize:]); c != nil {
			dst, attrs = append(dst[:at+BatchHeaderSize], c...), info.Attributes
		}
	}
	rb := rebuilt(info, attrs, info.MaxTimestamp, int32(len(recs)), nil)
	rb.Length = int32(len(dst) - at - batchLenSize)
	var hdr [BatchHeaderSize]byte
	copy(dst[at:], rb.AppendTo(hdr[:0]))
	binary.BigEndian.PutUint32(dst[at+crcOffset:], crc32.Checksum(dst[at+crcStart:], castagnoli))
	return dst
}
