package segment

import (
	"encoding/binary"
	"fmt"
)

// Record-level validation of a produced batch.
//
// ValidateBatch trusts the header's record count; CheckRecords walks the records themselves, as
// Kafka's broker does before it appends. The records section of a RecordBatch v2 (after the 61-byte
// header; compressed as a whole when the codec bits are set) is NumRecords records back to back:
//
//	+-------------------------------+
//	| length          varint        |  bytes of the record after this field
//	| attributes      int8          |  unused, any value
//	| timestampDelta  varlong       |
//	| offsetDelta     varint        |  must be the record's index: 0, 1, ..., NumRecords-1
//	| keyLength       varint        |  negative: null key
//	| key             [keyLength]   |
//	| valueLength     varint        |  negative: null value
//	| value           [valueLength] |
//	| headerCount     varint        |  ≥ 0
//	| headers         headerCount × |
//	|   keyLength     varint        |  ≥ 0 (a header key is never null)
//	|   key           [keyLength]   |
//	|   valueLength   varint        |  negative: null value
//	|   value         [valueLength] |
//	+-------------------------------+
//
// varint/varlong are zig-zag base-128 varints (protobuf sint32/sint64); a varint is at most 5 bytes.
// The fields must use exactly the record's length bytes, the records must use exactly the records
// section (or the whole decompressed stream), and the last offset delta must be the header's
// LastOffsetDelta.

// ErrInvalidRecord marks a batch whose records contradict its header or break the record format:
// a wrong count, a record length that does not match its fields, offset deltas out of order, a
// malformed varint. It wraps ErrCorrupt. Kafka answers such batches with INVALID_RECORD.
var ErrInvalidRecord = fmt.Errorf("%w: invalid records", ErrCorrupt)

// ErrInflateLimit marks a compressed batch that decompresses to more than InflateLimit allows
// (a decompression bomb, or data too compressible to accept). It wraps ErrCorrupt.
var ErrInflateLimit = fmt.Errorf("%w: decompressed records over the limit", ErrCorrupt)

// Bounds on how far CheckRecords lets a compressed batch inflate. Decompression is streamed, so the
// limit bounds CPU time per batch rather than memory; see InflateLimit.
const (
	MaxInflateRatio = 64       // decompressed bytes per compressed byte
	MinInflateLimit = 16 << 20 // any batch may inflate this far, whatever its size
	MaxInflateLimit = 256 << 20
)

// InflateLimit is the most bytes a batch whose compressed records take n bytes may decompress to:
// MaxInflateRatio × n, but at least MinInflateLimit (small batches of very repetitive values are
// legitimate) and at most MaxInflateLimit.
func InflateLimit(n int) int64 {
	return min(max(int64(n)*MaxInflateRatio, MinInflateLimit), MaxInflateLimit)
}

// CheckRecords walks the records of the batch at the start of b, whose header info was returned by
// ValidateBatch(b), and checks them against the record format above and against the header's
// NumRecords and LastOffsetDelta. Uncompressed records are walked in place without allocating;
// compressed ones are decompressed as a stream through pooled decoders (gzip, snappy — raw or
// xerial-framed —, lz4 frames, zstd), refusing to inflate beyond InflateLimit.
//
// Control and transactional batches are walked like any other (their records have the same
// format); whether to accept them is the caller's decision, as with ParseBatch.
//
// Errors wrap ErrCorrupt, and more precisely ErrInvalidRecord (the records lie) or ErrInflateLimit
// (a bomb); an error from the codec itself (a bad checksum, a malformed stream) wraps ErrCorrupt
// only. CheckRecords never panics on bad bytes and is safe for concurrent use.
func CheckRecords(b []byte, info BatchInfo) error {
	return walkBatch(b, info, false, nil)
}

// visitFunc is called by the record walker with each record, in order, once its fields have been
// checked. Returning true stops the walk: the records after that one are neither read nor checked,
// and the walk succeeds.
type visitFunc func(r walkedRecord) (stop bool)

// walkedRecord is one record as the walker saw it. Body (the bytes after the length varint), Key
// and Value are set only by the in-place walker (uncompressed or snappy records, or records
// inflated whole first); the stream walker leaves them nil. A negative KeyLen or ValueLen is null.
type walkedRecord struct {
	OffsetDelta    int32
	TimestampDelta int64
	Raw            []byte // the whole record, length varint included
	Key, Value     []byte
	KeyLen         int32
	ValueLen       int32
}

// deltaCheck checks records' offset deltas. A batch as a producer sends it numbers its records
// 0, 1, ..., NumRecords-1. A stored batch that key compaction rebuilt (gaps true) keeps its base
// offset and last offset delta, as Kafka's log cleaner does, and holds the surviving records
// only: their deltas grow strictly and stay within LastOffsetDelta.
type deltaCheck struct {
	gaps bool
	last int32 // the header's LastOffsetDelta
	prev int32 // the previous record's delta, -1 before the first
}

func newDeltaCheck(gaps bool, info BatchInfo) deltaCheck {
	return deltaCheck{gaps: gaps, last: info.LastOffsetDelta, prev: -1}
}

func (d *deltaCheck) check(i, od int32) error {
	switch {
	case !d.gaps && od != i:
		return recordError(i, "offset delta %d, want %d", od, i)
	case d.gaps && (od <= d.prev || od > d.last):
		return recordError(i, "offset delta %d after %d, the header's last is %d", od, d.prev, d.last)
	}
	d.prev = od
	return nil
}

// lastDelta checks the header's LastOffsetDelta against the record count before a walk.
func (d *deltaCheck) lastDelta(numRecords int32) error {
	if !d.gaps {
		return checkLastDelta(numRecords, d.last)
	}
	if numRecords > 0 && int64(numRecords) > int64(d.last)+1 {
		return fmt.Errorf("%w: %d records with last offset delta %d", ErrInvalidRecord, numRecords, d.last)
	}
	return nil
}

// walkBatch walks the records of the batch at the start of b (header info), decompressing them
// when needed, checks them as CheckRecords documents, and calls visit (if not nil) for each. It is
// the one record walker behind CheckRecords and RecordForTimestamp.
//
// gaps accepts the offset-delta gaps key compaction leaves (see deltaCheck): readers of stored
// batches pass true, the checks of a produced batch false.
func walkBatch(b []byte, info BatchInfo, gaps bool, visit visitFunc) error {
	size := info.Size()
	if size < BatchHeaderSize || size > len(b) {
		return fmt.Errorf("%w: batch of %d bytes does not hold the %d its header says", ErrCorrupt, len(b), size)
	}
	recs := b[BatchHeaderSize:size]
	d := newDeltaCheck(gaps, info)
	switch c := info.Compression(); c {
	case CompressionNone:
		return walkRecords(recs, info.NumRecords, &d, visit)
	case CompressionSnappy:
		return checkSnappy(recs, info, &d, visit)
	case CompressionGzip, CompressionLZ4, CompressionZstd:
		return checkStream(c, recs, info, &d, visit)
	default:
		return fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
}

// recordError builds an ErrInvalidRecord error about record i.
func recordError(i int32, format string, args ...any) error {
	return fmt.Errorf("%w: record %d: %s", ErrInvalidRecord, i, fmt.Sprintf(format, args...))
}

// countError reports bytes left over after the records the header counts (extra > 0, or < 0 when
// how many is unknown) or records missing (extra == 0).
func countError(numRecords int32, extra int64) error {
	switch {
	case extra > 0:
		return fmt.Errorf("%w: %d bytes follow the %d records the header counts", ErrInvalidRecord, extra, numRecords)
	case extra < 0:
		return fmt.Errorf("%w: more bytes follow the %d records the header counts", ErrInvalidRecord, numRecords)
	}
	return fmt.Errorf("%w: the header counts %d records, the bytes end sooner", ErrInvalidRecord, numRecords)
}

// varint decodes a zig-zag varint from the start of b. n is the bytes it took, or ≤ 0 when b ends
// inside it or it overflows 64 bits.
func varint(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	return binary.Varint(b)
}

// varint32 is varint for a 32-bit field: at most 5 bytes, the value within int32.
func varint32(b []byte) (v int32, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int32(b[0]>>1) ^ -int32(b[0]&1), 1
	}
	w, n := binary.Varint(b)
	if n <= 0 || n > 5 || w != int64(int32(w)) {
		return 0, -1
	}
	return int32(w), n
}

// walkRecords checks numRecords records laid out in recs, in place, calling visit (if not nil) with
// each.
func walkRecords(recs []byte, numRecords int32, d *deltaCheck, visit visitFunc) error {
	pos := 0
	for i := int32(0); i < numRecords; i++ {
		if pos == len(recs) {
			return countError(numRecords, 0)
		}
		length, n := varint32(recs[pos:])
		if n <= 0 {
			return recordError(i, "malformed length varint")
		}
		pos += n
		if length < 0 || int(length) > len(recs)-pos {
			return recordError(i, "length %d with %d bytes left", length, len(recs)-pos)
		}
		r, err := checkRecordBody(recs[pos:pos+int(length)], i, d)
		if err != nil {
			return err
		}
		r.Raw = recs[pos-n : pos+int(length)]
		if visit != nil && visit(r) {
			return nil
		}
		pos += int(length)
	}
	if pos != len(recs) {
		return countError(numRecords, int64(len(recs)-pos))
	}
	return d.lastDelta(numRecords)
}

func checkLastDelta(numRecords, lastOffsetDelta int32) error {
	if numRecords > 0 && lastOffsetDelta != numRecords-1 {
		return fmt.Errorf("%w: last offset delta %d in the header, %d in the records", ErrInvalidRecord, lastOffsetDelta, numRecords-1)
	}
	return nil
}

// checkRecordBody checks the fields of record i, body being exactly the bytes its length covers,
// and returns them (all but Raw).
func checkRecordBody(body []byte, i int32, d *deltaCheck) (r walkedRecord, err error) {
	if len(body) < 1 {
		return r, recordError(i, "no attributes byte")
	}
	p := 1 // attributes: not checked, as Kafka does not
	td, n := varint(body[p:])
	if n <= 0 {
		return r, recordError(i, "malformed timestamp delta")
	}
	r.TimestampDelta = td
	p += n
	od, n := varint32(body[p:])
	if n <= 0 {
		return r, recordError(i, "malformed offset delta")
	}
	if err := d.check(i, od); err != nil {
		return r, err
	}
	r.OffsetDelta = od
	p += n
	for f, field := range [...]string{"key", "value"} {
		l, n := varint32(body[p:])
		if n <= 0 {
			return r, recordError(i, "malformed %s length", field)
		}
		p += n
		var v []byte
		if l > 0 {
			if int(l) > len(body)-p {
				return r, recordError(i, "%s of %d bytes overruns the record's length by %d", field, l, int(l)-(len(body)-p))
			}
			v = body[p : p+int(l)]
			p += int(l)
		} else if l == 0 {
			v = body[p:p]
		}
		if f == 0 {
			r.Key, r.KeyLen = v, l
		} else {
			r.Value, r.ValueLen = v, l
		}
	}
	hc, n := varint32(body[p:])
	if n <= 0 || hc < 0 {
		return r, recordError(i, "malformed header count")
	}
	p += n
	if int(hc) > (len(body)-p)/2 { // each header takes at least two bytes
		return r, recordError(i, "%d headers in %d bytes", hc, len(body)-p)
	}
	for h := int32(0); h < hc; h++ {
		kl, n := varint32(body[p:])
		if n <= 0 || kl < 0 {
			return r, recordError(i, "header %d: malformed or null key length", h)
		}
		p += n
		if int(kl) > len(body)-p {
			return r, recordError(i, "header %d: key overruns the record", h)
		}
		p += int(kl)
		vl, n := varint32(body[p:])
		if n <= 0 {
			return r, recordError(i, "header %d: malformed value length", h)
		}
		p += n
		if vl > 0 {
			if int(vl) > len(body)-p {
				return r, recordError(i, "header %d: value overruns the record", h)
			}
			p += int(vl)
		}
	}
	if p != len(body) {
		return r, recordError(i, "length covers %d bytes, the fields %d", len(body), p)
	}
	return r, nil
}
