// Package segmenttest builds real Kafka RecordBatch v2 bytes (encoded by segment.AppendBatch, with
// franz-go's kmsg and, for compressed batches, franz-go's compressors) for tests of code that stores
// or serves batches.
package segmenttest

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/segment"
)

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

// Encode returns the batch's bytes with a correct CRC32C, encoded by segment.AppendBatch.
func (b Batch) Encode() []byte {
	nb := segment.NewBatch{
		BaseOffset:     b.BaseOffset,
		FirstTimestamp: b.FirstTimestamp,
		Attributes:     b.Attributes,
		ProducerID:     b.ProducerID,
		ProducerEpoch:  b.ProducerEpoch,
		BaseSequence:   b.BaseSequence,
		Records:        make([]segment.Record, len(b.Values)),
	}
	if nb.ProducerID == 0 {
		nb.ProducerID = -1
	}
	if nb.ProducerID < 0 {
		nb.ProducerEpoch, nb.BaseSequence = -1, -1
	}
	for i, v := range b.Values {
		r := &nb.Records[i]
		r.Timestamp, r.Value = b.FirstTimestamp+int64(i), v
		if b.Timestamps != nil {
			r.Timestamp = b.Timestamps[i]
		}
		if i < len(b.Keys) {
			r.Key = b.Keys[i]
		}
	}
	if b.RawRecords != nil || b.Codec != 0 {
		nb.Compress = func(recs []byte) []byte {
			if b.RawRecords != nil {
				recs = b.RawRecords
			}
			if b.Codec != 0 {
				recs = Compress(b.Codec, recs)
			}
			return recs
		}
	}
	if b.Codec != 0 {
		nb.Attributes = nb.Attributes&^segment.AttrCompressionMask | b.Codec
	}
	return segment.AppendBatch(nil, nb)
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
