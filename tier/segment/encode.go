package segment

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one record for AppendBatch. A nil Key or Value is encoded as null.
type Record struct {
	Timestamp int64
	Key       []byte
	Value     []byte
}

// NewBatch is a RecordBatch v2 for AppendBatch: the header fields a producer chooses and the
// records. Everything else follows from the records: the length, last offset delta (len-1), max
// timestamp (the largest of FirstTimestamp and the records'), record count and CRC32C; the
// partition leader epoch is -1, for the broker to set.
type NewBatch struct {
	BaseOffset     int64
	FirstTimestamp int64 // record timestamps are stored as deltas from it
	Attributes     int16 // the codec bits must name the codec Compress applies
	ProducerID     int64 // -1: none (then ProducerEpoch and BaseSequence are -1 too)
	ProducerEpoch  int16
	BaseSequence   int32
	Records        []Record
	// Compress, when set, is given the encoded records and returns the bytes the batch carries
	// instead: the stream of the codec in Attributes (segment decompresses but does not compress;
	// a producer's compressor such as franz-go's does).
	Compress func(records []byte) []byte
}

// AppendBatch appends b encoded as one RecordBatch v2 to dst, with franz-go's kmsg encoders.
func AppendBatch(dst []byte, b NewBatch) []byte {
	var recs []byte
	maxTS := b.FirstTimestamp
	for i, r := range b.Records {
		maxTS = max(maxTS, r.Timestamp)
		kr := kmsg.Record{TimestampDelta64: r.Timestamp - b.FirstTimestamp, OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		// Length counts the bytes after its own varint: encode once with a zero (one byte) to learn it.
		start := len(recs)
		recs = kr.AppendTo(recs)
		kr.Length = int32(len(recs) - start - 1)
		recs = kr.AppendTo(recs[:start])
	}
	if b.Compress != nil {
		recs = b.Compress(recs)
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          b.BaseOffset,
		Length:               int32(minBatchLength + len(recs)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           b.Attributes,
		LastOffsetDelta:      int32(len(b.Records) - 1),
		FirstTimestamp:       b.FirstTimestamp,
		MaxTimestamp:         maxTS,
		ProducerID:           b.ProducerID,
		ProducerEpoch:        b.ProducerEpoch,
		FirstSequence:        b.BaseSequence,
		NumRecords:           int32(len(b.Records)),
		Records:              recs,
	}
	if len(b.Records) == 0 {
		rb.LastOffsetDelta = 0
	}
	return appendRecordBatch(dst, rb)
}

// appendRecordBatch appends rb (Length and every field but the CRC set) and its CRC32C to dst.
func appendRecordBatch(dst []byte, rb kmsg.RecordBatch) []byte {
	start := len(dst)
	dst = rb.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start+crcOffset:], crc32.Checksum(dst[start+crcStart:], castagnoli))
	return dst
}
