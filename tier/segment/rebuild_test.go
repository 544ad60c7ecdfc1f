package segment_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// Records then RebuildBatch of every codec gives the batch back: byte for byte when uncompressed,
// the same header and records (and a valid CRC) when compressed again.
func TestRecordsRebuildBatch(t *testing.T) {
	for codec := int16(0); codec <= 4; codec++ {
		t.Run(fmt.Sprint("codec ", codec), func(t *testing.T) {
			b := segmenttest.Batch{BaseOffset: 40, FirstTimestamp: 1000, ProducerID: 7, ProducerEpoch: 1, BaseSequence: 9, Codec: codec,
				Keys: [][]byte{[]byte("a"), nil, {}}, Values: [][]byte{[]byte("x"), []byte("y"), nil}}.Encode()
			info, err := segment.ValidateBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			var ret segment.Retainer
			var recs []kmsg.Record
			if err := ret.Records(b, info, func(r *kmsg.Record) error {
				c := *r
				c.Key, c.Value = bytes.Clone(r.Key), bytes.Clone(r.Value)
				recs = append(recs, c)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || recs[1].Key != nil || recs[2].Key == nil || recs[2].Value != nil {
				t.Fatalf("records %+v: nulls and empties not kept apart", recs)
			}
			got := segment.RebuildBatch(nil, info, recs, func(c int, r []byte) []byte { return segmenttest.Compress(int16(c), r) })
			gi, err := segment.ValidateBatch(got)
			if err != nil {
				t.Fatal(err)
			}
			if codec == 0 && !bytes.Equal(got, b) {
				t.Fatalf("rebuilt\n%x\nwant\n%x", got, b)
			}
			if err := segment.CheckRecords(got, gi); err != nil {
				t.Fatal(err)
			}
			gi.CRC, gi.Length, info.CRC, info.Length = 0, 0, 0, 0
			if gi != info {
				t.Fatalf("header %+v, want %+v", gi, info)
			}
			uncompressed := segment.RebuildBatch(nil, info, recs, nil)
			if ui, err := segment.ValidateBatch(uncompressed); err != nil || ui.Compression() != 0 {
				t.Fatalf("without a compressor: codec %d, %v", ui.Compression(), err)
			}
		})
	}
}

func TestRecordsCorrupt(t *testing.T) {
	b := segmenttest.Batch{Codec: 4, Values: [][]byte{[]byte("x")}}.Encode()
	info, _ := segment.ValidateBatch(b)
	b[len(b)-2] ^= 0xff
	var ret segment.Retainer
	if err := ret.Records(b, info, func(*kmsg.Record) error { return nil }); err == nil {
		t.Fatal("corrupt zstd records read without an error")
	}
}
