package segment

import (
	"encoding/binary"
	"fmt"

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

// RebuildBatch appends to dst a RecordBatch v2 with the header fields of info — base offset,
// partition leader epoch, attributes, last offset delta, first and max timestamps, producer id and
// epoch, base sequence — and recs, each encoded by kmsg as it is (its Length is recomputed). The
// record count, the length and the CRC32C follow from recs. When info's codec bits name a codec,
// compress (if set) is given the encoded records and returns them in that codec, or nil to write
// them uncompressed; without a compressed form the codec bits are cleared.
func RebuildBatch(dst []byte, info BatchInfo, recs []kmsg.Record, compress func(codec int, records []byte) []byte) []byte {
	size := 0
	for i := range recs {
		size += len(recs[i].Key) + len(recs[i].Value) + 24
		for _, h := range recs[i].Headers {
			size += len(h.Key) + len(h.Value) + 10
		}
	}
	raw := make([]byte, 0, size)
	for i := range recs {
		kr := &recs[i]
		// Length counts the bytes after its own varint: encode with a zero (one byte) to learn it,
		// then put its varint in the zero's place.
		start := len(raw)
		kr.Length = 0
		raw = kr.AppendTo(raw)
		kr.Length = int32(len(raw) - start - 1)
		var l [binary.MaxVarintLen32]byte
		n := binary.PutVarint(l[:], int64(kr.Length)) // kmsg's varint: zigzag, as binary's
		raw = append(raw, l[:n-1]...)
		copy(raw[start+n:], raw[start+1:len(raw)-(n-1)])
		copy(raw[start:], l[:n])
	}
	attrs := info.Attributes &^ AttrCompressionMask
	if codec := info.Compression(); codec != CompressionNone && compress != nil && len(recs) > 0 {
		if c := compress(codec, raw); c != nil {
			raw, attrs = c, info.Attributes
		}
	}
	return appendRecordBatch(dst, rebuilt(info, attrs, info.MaxTimestamp, int32(len(recs)), raw))
}
