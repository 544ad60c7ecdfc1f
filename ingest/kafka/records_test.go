package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// zstdBomb is the zstd-compressed records of one record whose value is n zero bytes.
func zstdBomb(t *testing.T, n int) []byte {
	t.Helper()
	body := []byte{0, 0, 0, 1} // attributes, timestamp delta, offset delta, null key
	body = binary.AppendVarint(body, int64(n))
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = zw.Write(binary.AppendVarint(nil, int64(len(body)+n+1)))
	_, _ = zw.Write(body)
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		_, _ = zw.Write(zeros[:min(left, len(zeros))])
	}
	_, _ = zw.Write([]byte{0}) // no headers
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestProduceRecordValidation sends batches whose header and CRC are right but whose records lie:
// each is refused with the error Kafka gives and nothing of it reaches the log. Batches franz-go
// compresses with every codec still go in.
func TestProduceRecordValidation(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := testCtx(t)
	n.createTopic(t, "recs", 1, nil)
	r := n.raw(t)

	if pr := r.produceRaw("recs", 0, recordBatch(3, -1, -1, -1), -1); pr.ErrorCode != 0 || pr.BaseOffset != 0 {
		t.Fatalf("good batch: %v base %d", kerr.ErrorForCode(pr.ErrorCode), pr.BaseOffset)
	}

	now := time.Now().UnixMilli()
	vals := [][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}
	recs := segmenttest.Batch{Values: vals}.Encode()[segment.BatchHeaderSize:] // three real records
	lying := func(codec int16, raw []byte, count int) []byte {
		return segmenttest.Batch{FirstTimestamp: now, RawRecords: raw, Codec: codec, Values: make([][]byte, count)}.Encode()
	}
	reordered := append([]byte{}, recs...)
	reordered[3] = 4 // the first record's offset delta (zig-zag 2): length, attributes, timestamp delta, offset delta

	cases := []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"count too high", lying(0, recs, 4), kerr.InvalidRecord},
		{"count too low", lying(0, recs, 2), kerr.InvalidRecord},
		{"truncated record", lying(0, recs[:len(recs)-1], 3), kerr.InvalidRecord},
		{"offset deltas out of order", lying(0, reordered, 3), kerr.InvalidRecord},
		{"zstd count too high", lying(segment.CompressionZstd, recs, 4), kerr.InvalidRecord},
		{"lz4 count too low", lying(segment.CompressionLZ4, recs, 2), kerr.InvalidRecord},
		{"gzip stream broken", segmenttest.Batch{FirstTimestamp: now, Attributes: segment.CompressionGzip,
			RawRecords: []byte("not a gzip stream"), Values: vals}.Encode(), kerr.CorruptMessage},
		{"zstd bomb", segmenttest.Batch{FirstTimestamp: now, Attributes: segment.CompressionZstd,
			RawRecords: zstdBomb(t, 4*segment.MinInflateLimit), Values: make([][]byte, 1)}.Encode(), kerr.MessageTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := segment.ValidateBatch(tc.batch); err != nil {
				t.Fatalf("the header must pass validation for the test to mean anything: %v", err)
			}
			pr := r.produceRaw("recs", 0, tc.batch, -1)
			if pr.ErrorCode != tc.want.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(pr.ErrorCode), tc.want)
			}
		})
	}
	adm := n.admin(t)
	end, err := adm.ListEndOffsets(ctx, "recs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("recs", 0); o.Err != nil || o.Offset != 3 {
		t.Fatalf("latest offset after the refused batches: %+v, want 3", o)
	}

	// Real compressed batches from franz-go, one client per codec.
	want := int64(3)
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl := n.client(t, kgo.DefaultProduceTopic("recs"), kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(50*time.Millisecond))
		var batch []*kgo.Record
		for i := range 50 {
			batch = append(batch, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte(i)}, 100+i),
				Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}}})
		}
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatalf("codec %v: %v", codec, err)
		}
		want += 50
	}
	end, err = adm.ListEndOffsets(ctx, "recs")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("recs", 0); o.Err != nil || o.Offset != want {
		t.Fatalf("latest offset after compressed produces: %+v, want %d", o, want)
	}
}
