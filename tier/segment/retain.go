package segment

import (
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Key compaction's reads and rewrites of stored batches.
//
// A compacted batch keeps what the log cleaner of Apache Kafka keeps: the base offset, the last
// offset delta (so the offsets after the batch, and a producer's last sequence, do not move), the
// partition leader epoch, the producer id, epoch and base sequence, the first timestamp and the
// attributes; it holds only the records that survive, each byte for byte as it was (offset and
// timestamp deltas are relative to the unchanged base offset and first timestamp). The record
// count, the length, the max timestamp (unless the batch carries LogAppendTime) and the CRC32C are
// recomputed. The offset deltas of the survivors have gaps, which the readers of stored batches
// (RecordForTimestamp, the walker behind it) accept; CheckRecords, for produced batches, does not.

// StoredRecord is one record of a stored batch, as key compaction sees it. Key and Value are nil
// when null (a record without a key; a tombstone) and alias the batch, or the Retainer's buffer:
// they are valid until the next call.
type StoredRecord struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	// Raw is the whole record as stored, length varint included (headers are read from it).
	Raw []byte
}

// Retainer reads and rebuilds stored batches record by record. It reuses its buffers, so it is not
// safe for concurrent use; the zero value is ready.
type Retainer struct {
	inflated []byte
	recs     []byte
}

// Each calls fn with every record of the batch at the start of b (header info, from ValidateBatch
// or a Splitter), decompressing them whole first within InflateLimit. Offset gaps left by an
// earlier compaction are accepted. Errors wrap ErrCorrupt; an error from fn stops the walk and is
// returned as it is.
func (t *Retainer) Each(b []byte, info BatchInfo, fn func(StoredRecord) error) error {
	var ferr error
	err := t.walk(b, info, func(r walkedRecord) bool {
		ferr = fn(storedRecord(info, r))
		return ferr != nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// Retain appends to dst the batch at the start of b rebuilt with the records keep returns true
// for (see the top of this file), and returns dst and how many records it kept. When keep takes
// every record the batch is appended verbatim; when it takes none nothing is appended (see
// AppendEmptyBatch). compress, when set, is given the kept records of a compressed batch and returns
// them in the batch's codec (segment decompresses but does not compress), or nil to write them
// uncompressed; the rebuilt batch is uncompressed too when compress is nil. Errors wrap ErrCorrupt.
func (t *Retainer) Retain(dst, b []byte, info BatchInfo, keep func(StoredRecord) bool, compress func(codec int, records []byte) []byte) ([]byte, int, error) {
	t.recs = t.recs[:0]
	kept := 0
	maxTS := info.FirstTimestamp
	err := t.walk(b, info, func(r walkedRecord) bool {
		sr := storedRecord(info, r)
		if keep(sr) {
			t.recs = append(t.recs, r.Raw...)
			kept++
			maxTS = max(maxTS, sr.Timestamp)
		}
		return false
	})
	switch {
	case err != nil:
		return dst, 0, err
	case kept == int(info.NumRecords):
		return append(dst, b[:info.Size()]...), kept, nil
	case kept == 0:
		return dst, 0, nil
	}
	attrs := info.Attributes &^ AttrCompressionMask
	recs := t.recs
	if codec := info.Compression(); codec != CompressionNone && compress != nil {
		if c := compress(codec, t.recs); c != nil {
			recs, attrs = c, info.Attributes
		}
	}
	if info.LogAppendTime() {
		maxTS = info.MaxTimestamp
	}
	return appendRecordBatch(dst, rebuilt(info, attrs, maxTS, int32(kept), recs)), kept, nil
}

// AppendEmptyBatch appends the batch of header info rebuilt without any record: what key
// compaction keeps of a batch whose records all went when its offsets must still be covered (the
// last batch of a rewritten segment, whose index must end where the catalog says). Kafka's cleaner
// keeps such empty batches too (for a producer's last sequence); consumers skip to the offset
// after them.
func AppendEmptyBatch(dst []byte, info BatchInfo) []byte {
	maxTS := info.FirstTimestamp
	if info.LogAppendTime() {
		maxTS = info.MaxTimestamp
	}
	return appendRecordBatch(dst, rebuilt(info, info.Attributes&^AttrCompressionMask, maxTS, 0, nil))
}

func rebuilt(info BatchInfo, attrs int16, maxTS int64, n int32, recs []byte) kmsg.RecordBatch {
	return kmsg.RecordBatch{
		FirstOffset:          info.BaseOffset,
		Length:               int32(minBatchLength + len(recs)),
		PartitionLeaderEpoch: info.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      info.LastOffsetDelta,
		FirstTimestamp:       info.FirstTimestamp,
		MaxTimestamp:         maxTS,
		ProducerID:           info.ProducerID,
		ProducerEpoch:        info.ProducerEpoch,
		FirstSequence:        info.BaseSequence,
		NumRecords:           n,
		Records:              recs,
	}
}

func storedRecord(info BatchInfo, r walkedRecord) StoredRecord {
	sr := StoredRecord{Offset: info.BaseOffset + int64(r.OffsetDelta), Timestamp: info.FirstTimestamp + r.TimestampDelta, Raw: r.Raw}
	if info.LogAppendTime() {
		sr.Timestamp = info.MaxTimestamp
	}
	if r.KeyLen >= 0 {
		sr.Key = r.Key
	}
	if r.ValueLen >= 0 {
		sr.Value = r.Value
	}
	return sr
}

// walk decompresses the batch's records whole (into t.inflated) when they are compressed and walks
// them in place, gaps accepted, so that visit sees every record's bytes.
func (t *Retainer) walk(b []byte, info BatchInfo, visit visitFunc) error {
	size := info.Size()
	if size < BatchHeaderSize || size > len(b) {
		return fmt.Errorf("%w: batch of %d bytes does not hold the %d its header says", ErrCorrupt, len(b), size)
	}
	d := newDeltaCheck(true, info)
	if err := d.lastDelta(info.NumRecords); err != nil {
		return err
	}
	recs := b[BatchHeaderSize:size]
	var err error
	switch c := info.Compression(); c {
	case CompressionNone:
	case CompressionSnappy:
		t.inflated, err = decodeSnappy(t.inflated[:0], recs, InflateLimit(len(recs)))
		recs = t.inflated
	case CompressionGzip, CompressionLZ4, CompressionZstd:
		t.inflated, err = inflateAll(t.inflated[:0], c, recs)
		recs = t.inflated
	default:
		err = fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, c)
	}
	if err != nil {
		return err
	}
	return walkRecords(recs, info.NumRecords, &d, visit)
}

// inflateAll appends the decompressed gzip, lz4 or zstd records recs to dst, within InflateLimit.
func inflateAll(dst []byte, codec int, recs []byte) ([]byte, error) {
	f := inflaters[codec].Get().(*inflater)
	defer func() {
		f.close()
		inflaters[codec].Put(f)
	}()
	limit := InflateLimit(len(recs))
	if err := f.open(codec, recs, limit); err != nil {
		return dst, err
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := f.br.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		switch {
		case err == io.EOF:
			return dst, nil
		case err == errLimit:
			return dst, fmt.Errorf("%w: more than %d bytes (%s)", ErrInflateLimit, limit, codecName(codec))
		case err != nil:
			return dst, fmt.Errorf("%w: %s records: %v", ErrCorrupt, codecName(codec), err)
		}
	}
}
