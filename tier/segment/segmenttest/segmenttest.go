// Package segmenttest builds real Kafka RecordBatch v2 bytes (encoded by franz-go's kmsg) for tests
// of code that stores or serves batches.
package segmenttest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch describes a batch to encode. Zero fields mean: offset 0, no producer (id -1), timestamps
// from FirstTimestamp with one millisecond per record.
type Batch struct {
	BaseOffset     int64
	FirstTimestamp int64
	// Timestamps, when set, gives each record's timestamp (len must equal len(Values)).
	Timestamps    []int64
	Attributes    int16
	ProducerID    int64 // 0 means -1 (no producer)
	ProducerEpoch int16
	BaseSequence  int32
	Keys          [][]byte
	Values        [][]byte
	// RawRecords, when set, replaces the encoded records (e.g. a compressed record set); NumRecords
	// and LastOffsetDelta then come from len(Values).
	RawRecords []byte
	// Codec, when set (1 gzip, 2 snappy, 3 lz4, 4 zstd), compresses the records (encoded or
	// RawRecords) with franz-go's compressor and sets the codec in the attributes.
	Codec int16
}

// Encode returns the batch's bytes with a correct CRC32C.
func (b Batch) Encode() []byte {
	pid := b.ProducerID
	if pid == 0 {
		pid = -1
	}
	epoch, seq := b.ProducerEpoch, b.BaseSequence
	if pid < 0 {
		epoch, seq = -1, -1
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          b.BaseOffset,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           b.Attributes,
		FirstTimestamp:       b.FirstTimestamp,
		MaxTimestamp:         b.FirstTimestamp,
		ProducerID:           pid,
		ProducerEpoch:        epoch,
		FirstSequence:        seq,
		NumRecords:           int32(len(b.Values)),
	}
	if len(b.Values) > 0 {
		rb.LastOffsetDelta = int32(len(b.Values) - 1)
	}
	var recs []byte
	for i, v := range b.Values {
		ts := b.FirstTimestamp + int64(i)
		if b.Timestamps != nil {
			ts = b.Timestamps[i]
		}
		if ts > rb.MaxTimestamp {
			rb.MaxTimestamp = ts
		}
		r := kmsg.Record{TimestampDelta64: ts - b.FirstTimestamp, OffsetDelta: int32(i), Value: v}
		if i < len(b.Keys) {
			r.Key = b.Keys[i]
		}
		// Length is the size of everything after the length varint.
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1) // the zero Length encodes as one byte
		recs = r.AppendTo(recs)
	}
	if b.RawRecords != nil {
		recs = b.RawRecords
	}
	if b.Codec != 0 {
		recs = Compress(b.Codec, recs)
		rb.Attributes = rb.Attributes&^0x07 | b.Codec
	}
	rb.Records = recs
	rb.Length = int32(49 + len(recs))
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], castagnoli))
	return out
}

// Records returns a batch of n records with values of size bytes each, timestamps from ts.
func Records(base int64, ts int64, n, size int) []byte {
	vals := make([][]byte, n)
	for i := range vals {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		vals[i] = v
	}
	return Batch{BaseOffset: base, FirstTimestamp: ts, Values: vals}.Encode()
}

// Compress compresses records with franz-go's compressor for codec (1 gzip, 2 snappy as one raw
// block, 3 lz4 frame, 4 zstd), as a franz-go producer does. It panics on an unknown codec.
func Compress(codec int16, records []byte) []byte {
	if codec < 1 || codec > 4 {
		panic(fmt.Sprintf("segmenttest: codec %d", codec))
	}
	comp := compressors()[codec]
	out, used := comp.Compress(new(bytes.Buffer), records)
	if int16(used) != codec {
		panic(fmt.Sprintf("segmenttest: compressing with codec %d used %d", codec, used))
	}
	return bytes.Clone(out)
}

// compressors holds one franz-go compressor per codec (building one, zstd's above all, is costly).
var compressors = sync.OnceValue(func() (cs [5]kgo.Compressor) {
	for i, c := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		comp, err := kgo.DefaultCompressor(c)
		if err != nil {
			panic(err)
		}
		cs[i+1] = comp
	}
	return cs
})
