package segment_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// decodeRecords decodes an uncompressed record set with kmsg, proving segmenttest writes real
// Kafka encoding.
func decodeRecords(t *testing.T, recs []byte) []kmsg.Record {
	t.Helper()
	var out []kmsg.Record
	for len(recs) > 0 {
		l, n := binary.Varint(recs)
		if n <= 0 || int(l)+n > len(recs) {
			t.Fatalf("bad record length prefix")
		}
		var r kmsg.Record
		if err := r.ReadFrom(recs[:n+int(l)]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		recs = recs[n+int(l):]
	}
	return out
}

func TestParseBatchFields(t *testing.T) {
	b := segmenttest.Batch{
		BaseOffset:     42,
		FirstTimestamp: 1_700_000_000_000,
		Timestamps:     []int64{1_700_000_000_000, 1_700_000_000_900, 1_700_000_000_300},
		Attributes:     segment.AttrTransactional,
		ProducerID:     7,
		ProducerEpoch:  3,
		BaseSequence:   11,
		Keys:           [][]byte{[]byte("k0"), nil, []byte("k2")},
		Values:         [][]byte{[]byte("v0"), []byte("v1"), nil},
	}.Encode()
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	want := segment.BatchInfo{
		BaseOffset: 42, Length: int32(len(b) - 12), PartitionLeaderEpoch: -1, Magic: 2,
		CRC: binary.BigEndian.Uint32(b[17:]), Attributes: segment.AttrTransactional, LastOffsetDelta: 2,
		FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_900, ProducerID: 7, ProducerEpoch: 3,
		BaseSequence: 11, NumRecords: 3,
	}
	if info != want {
		t.Fatalf("got  %+v\nwant %+v", info, want)
	}
	if !info.Transactional() || info.Control() || info.Compression() != segment.CompressionNone || !info.Idempotent() {
		t.Fatalf("attribute helpers wrong: %+v", info)
	}
	if info.Size() != len(b) || info.LastOffset() != 44 || info.NextOffset() != 45 {
		t.Fatalf("size/offset helpers wrong")
	}
	recs := decodeRecords(t, b[segment.BatchHeaderSize:])
	if len(recs) != 3 || string(recs[0].Key) != "k0" || recs[1].Key != nil || string(recs[1].Value) != "v1" ||
		recs[1].TimestampDelta64 != 900 || recs[2].OffsetDelta != 2 {
		t.Fatalf("records decode wrong: %+v", recs)
	}
	// ParseBatch agrees and tolerates trailing bytes.
	p, err := segment.ParseBatch(append(append([]byte(nil), b...), 1, 2, 3))
	if err != nil || p != info {
		t.Fatalf("ParseBatch = %+v, %v", p, err)
	}
}

func TestSetBaseOffsetKeepsCRC(t *testing.T) {
	b := segmenttest.Records(0, 1, 4, 10)
	segment.SetBaseOffset(b, 1<<40)
	segment.SetPartitionLeaderEpoch(b, 9)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if info.BaseOffset != 1<<40 || info.PartitionLeaderEpoch != 9 {
		t.Fatalf("got %+v", info)
	}
}

func TestValidateBatchRejects(t *testing.T) {
	good := segmenttest.Records(0, 1, 3, 20)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:60]},
		{"truncated records", good[:len(good)-1]},
		{"length too small", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 48); return b })},
		{"negative length", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 0xFFFFFFF0); return b })},
		{"magic 1", mut(func(b []byte) []byte { b[16] = 1; return b })},
		{"crc flipped", mut(func(b []byte) []byte { b[17] ^= 1; return b })},
		{"record byte flipped", mut(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b })},
		{"attributes changed", mut(func(b []byte) []byte { b[22] |= segment.AttrControl; return b })},
		{"unknown codec", mut(func(b []byte) []byte { b[22] |= 7; fixCRC(b); return b })},
		{"negative delta", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[23:], 0xFFFFFFFF); fixCRC(b); return b })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := segment.ValidateBatch(tc.b); !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

func TestSplitter(t *testing.T) {
	var all []byte
	for i := range 5 {
		all = append(all, segmenttest.Records(int64(i*3), 0, 3, 10)...)
	}
	s := segment.NewSplitter(all)
	n := 0
	for s.Next() {
		if s.Info().BaseOffset != int64(n*3) || !bytes.Equal(s.Batch(), all[s.Pos():s.Pos()+len(s.Batch())]) {
			t.Fatalf("batch %d wrong", n)
		}
		n++
	}
	if s.Err() != nil || n != 5 || s.Pos() != len(all) {
		t.Fatalf("n=%d pos=%d err=%v", n, s.Pos(), s.Err())
	}
	// A torn tail stops the splitter with ErrCorrupt at the torn batch.
	s = segment.NewSplitter(all[:len(all)-3])
	n = 0
	for s.Next() {
		n++
	}
	if n != 4 || !errors.Is(s.Err(), segment.ErrCorrupt) || s.Pos() != len(all)/5*4 {
		t.Fatalf("torn: n=%d pos=%d err=%v", n, s.Pos(), s.Err())
	}
}

// gzipBatch is a batch whose record set is gzip-compressed (attributes codec 1), as a producer with
// compression.type=gzip sends it.
func gzipBatch(t testing.TB, base int64) []byte {
	t.Helper()
	plain := segmenttest.Records(0, 5, 4, 50)[segment.BatchHeaderSize:]
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression) // stored blocks: the golden file stays stable across Go releases
	_, _ = zw.Write(plain)
	_ = zw.Close()
	return segmenttest.Batch{BaseOffset: base, FirstTimestamp: 5, Attributes: segment.CompressionGzip,
		Values: make([][]byte, 4), RawRecords: buf.Bytes()}.Encode()
}

func TestCompressedBatchPassesThrough(t *testing.T) {
	b := gzipBatch(t, 0)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if info.Compression() != segment.CompressionGzip || info.NumRecords != 4 {
		t.Fatalf("got %+v", info)
	}
	var seg bytes.Buffer
	w := segment.NewWriter(&seg, 0, 0)
	if _, err := w.Append(b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	r, err := segment.OpenReader(bytes.NewReader(seg.Bytes()), int64(seg.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := r.ReadBatches(nil, 0, 1<<20, -1)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("compressed batch changed on the way through: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(got[segment.BatchHeaderSize:]))
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	_, _ = plain.ReadFrom(zr)
	if recs := decodeRecords(t, plain.Bytes()); len(recs) != 4 {
		t.Fatalf("decompressed %d records", len(recs))
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := segmenttest.Records(0, 100, 3, 10)
	segment.SetLogAppendTime(b, 5555)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if !info.LogAppendTime() || info.MaxTimestamp != 5555 || info.FirstTimestamp != 100 || info.Compression() != 0 {
		t.Fatalf("got %+v", info)
	}
}
