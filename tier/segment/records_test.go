package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// codecs are the ways a producer can write a batch's records; snappy comes raw (franz-go's
// Compress) and xerial-framed (the Java client, and franz-go's streaming producer).
var codecs = []struct {
	name  string
	codec int16
	comp  func(raw []byte) []byte
}{
	{"none", 0, func(raw []byte) []byte { return raw }},
	{"gzip", segment.CompressionGzip, func(raw []byte) []byte { return segmenttest.Compress(segment.CompressionGzip, raw) }},
	{"snappy", segment.CompressionSnappy, func(raw []byte) []byte { return segmenttest.Compress(segment.CompressionSnappy, raw) }},
	{"snappy-xerial", segment.CompressionSnappy, xerial},
	{"lz4", segment.CompressionLZ4, func(raw []byte) []byte { return segmenttest.Compress(segment.CompressionLZ4, raw) }},
	{"zstd", segment.CompressionZstd, func(raw []byte) []byte { return segmenttest.Compress(segment.CompressionZstd, raw) }},
}

// xerial frames raw as the Java client's snappy stream does, in 32 KiB chunks.
func xerial(raw []byte) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(raw) > 0 {
		n := min(len(raw), 32<<10)
		block := s2.EncodeSnappy(nil, raw[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		raw = raw[n:]
	}
	return out
}

// rec is record i (offset delta i) with its length field filled in.
func rec(i int, key, value []byte, headers ...kmsg.Header) kmsg.Record {
	r := kmsg.Record{TimestampDelta64: int64(i) * 3, OffsetDelta: int32(i), Key: key, Value: value, Headers: headers}
	r.Length = int32(len(r.AppendTo(nil)) - 1) // a zero length takes one byte
	return r
}

func appendRecords(rs ...kmsg.Record) []byte {
	var out []byte
	for _, r := range rs {
		out = r.AppendTo(out)
	}
	return out
}

// records is n ordinary records: keys on the even ones, a header on every third, a null value on
// the fifth.
func records(n int) []kmsg.Record {
	rs := make([]kmsg.Record, n)
	for i := range rs {
		var key []byte
		if i%2 == 0 {
			key = []byte{'k', byte(i)}
		}
		value := bytes.Repeat([]byte{byte('a' + i%26)}, 10+i)
		if i == 4 {
			value = nil
		}
		var hs []kmsg.Header
		if i%3 == 0 {
			hs = []kmsg.Header{{Key: "h", Value: []byte("v")}, {Key: "null"}}
		}
		rs[i] = rec(i, key, value, hs...)
	}
	return rs
}

// makeBatch encodes a batch whose header counts n records around raw records compressed by comp.
func makeBatch(codec int16, comp func([]byte) []byte, raw []byte, n int) []byte {
	return segmenttest.Batch{Attributes: codec, RawRecords: comp(raw), Values: make([][]byte, n)}.Encode()
}

// check validates b's header, which must pass, then returns CheckRecords' verdict.
func check(t testing.TB, b []byte) error {
	t.Helper()
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatalf("ValidateBatch: %v", err)
	}
	return segment.CheckRecords(b, info)
}

// rewrite patches a batch header field through fn and fixes the CRC.
func rewrite(b []byte, fn func([]byte)) []byte {
	b = bytes.Clone(b)
	fn(b)
	binary.BigEndian.PutUint32(b[17:21], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

func TestCheckRecords(t *testing.T) {
	valid := records(50)
	big := rec(0, nil, bytes.Repeat([]byte("0123456789abcdef"), 8<<10)) // 128 KiB, crosses buffers
	tests := []struct {
		name string
		raw  []byte
		n    int
		// patch, when set, rewrites the encoded batch (CRC fixed after).
		patch func([]byte)
		want  error // nil, or the sentinel the error must wrap
	}{
		{name: "one record", raw: appendRecords(rec(0, nil, []byte("v"))), n: 1},
		{name: "fifty records", raw: appendRecords(valid...), n: 50},
		{name: "empty key and value", raw: appendRecords(rec(0, []byte{}, []byte{})), n: 1},
		{name: "large value", raw: appendRecords(big), n: 1},
		{name: "count too high", raw: appendRecords(valid[:3]...), n: 4, want: segment.ErrInvalidRecord},
		{name: "count too low", raw: appendRecords(valid[:3]...), n: 2, want: segment.ErrInvalidRecord},
		{name: "no records", raw: []byte{}, n: 1, want: segment.ErrInvalidRecord},
		{name: "truncated record", raw: appendRecords(valid[:3]...)[:len(appendRecords(valid[:3]...))-1], n: 3, want: segment.ErrInvalidRecord},
		{name: "offset deltas out of order", raw: appendRecords(rec(0, nil, nil), rec(2, nil, nil), rec(1, nil, nil)), n: 3, want: segment.ErrInvalidRecord},
		{name: "offset delta repeated", raw: appendRecords(rec(0, nil, nil), rec(0, nil, nil)), n: 2, want: segment.ErrInvalidRecord},
		{name: "length longer than fields", raw: func() []byte {
			r := rec(0, nil, []byte("v"))
			r.Length++
			return append(appendRecords(r), 0)
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "length shorter than fields", raw: func() []byte {
			r := rec(0, nil, []byte("value"))
			r.Length--
			return appendRecords(r)
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "varint too long", raw: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, n: 1, want: segment.ErrInvalidRecord},
		{name: "varint unterminated", raw: []byte{0x80, 0x80}, n: 1, want: segment.ErrInvalidRecord},
		{name: "negative length", raw: []byte{0x01, 0, 0, 0, 1, 1, 0}, n: 1, want: segment.ErrInvalidRecord},
		{name: "key overruns record", raw: func() []byte {
			// length 6: attrs, ts, delta, key length 10 → overrun.
			return []byte{12, 0, 0, 0, 20, 'k', 'k'}
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "null header key", raw: func() []byte {
			// attrs, ts, delta, key null, value null, 1 header with key length -1, value null.
			body := []byte{0, 0, 0, 1, 1, 2, 1, 1}
			return append([]byte{byte(len(body) << 1)}, body...)
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "negative header count", raw: func() []byte {
			body := []byte{0, 0, 0, 1, 1, 1}
			return append([]byte{byte(len(body) << 1)}, body...)
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "header count beyond bytes", raw: func() []byte {
			body := []byte{0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}
			return append([]byte{byte(len(body) << 1)}, body...)
		}(), n: 1, want: segment.ErrInvalidRecord},
		{name: "last offset delta disagrees", raw: appendRecords(valid[:3]...), n: 3, patch: func(b []byte) {
			binary.BigEndian.PutUint32(b[23:27], 5) // lastOffsetDelta
		}, want: segment.ErrInvalidRecord},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					b := makeBatch(c.codec, c.comp, tt.raw, tt.n)
					if tt.patch != nil {
						b = rewrite(b, tt.patch)
					}
					err := check(t, b)
					switch {
					case tt.want == nil && err != nil:
						t.Fatalf("valid batch rejected: %v", err)
					case tt.want != nil && !errors.Is(err, tt.want):
						t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
					}
				})
			}
		})
	}
}

// TestCheckRecordsCodecErrors feeds broken compressed streams: the codec's error wraps ErrCorrupt,
// not ErrInvalidRecord, and nothing panics.
func TestCheckRecordsCodecErrors(t *testing.T) {
	raw := appendRecords(records(20)...)
	flipLast := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 0xff; return b }
	tests := []struct {
		name  string
		codec int16
		recs  []byte
	}{
		{"gzip garbage", segment.CompressionGzip, []byte("not gzip at all")},
		{"gzip bad trailer", segment.CompressionGzip, flipLast(segmenttest.Compress(segment.CompressionGzip, raw))},
		{"gzip cut", segment.CompressionGzip, segmenttest.Compress(segment.CompressionGzip, raw)[:30]},
		{"lz4 garbage", segment.CompressionLZ4, []byte("not lz4 at all")},
		{"lz4 cut", segment.CompressionLZ4, segmenttest.Compress(segment.CompressionLZ4, raw)[:30]},
		{"zstd garbage", segment.CompressionZstd, []byte("not zstd at all")},
		{"zstd cut", segment.CompressionZstd, segmenttest.Compress(segment.CompressionZstd, raw)[:20]},
		{"zstd 1 GiB window", segment.CompressionZstd, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00}},
		{"snappy garbage", segment.CompressionSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"snappy impossible claim", segment.CompressionSnappy, []byte{0x80, 0x80, 0x80, 0x01, 0x00}},
		{"snappy cut", segment.CompressionSnappy, segmenttest.Compress(segment.CompressionSnappy, raw)[:30]},
		{"xerial chunk overruns", segment.CompressionSnappy, append(xerial(raw)[:16], 0, 0, 1, 0, 1, 2)},
		{"xerial truncated length", segment.CompressionSnappy, append(xerial(raw), 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := segmenttest.Batch{Attributes: tt.codec, RawRecords: tt.recs, Values: make([][]byte, 20)}.Encode()
			check(t, b) // warm the decoder pools
			before := heapAllocs()
			err := check(t, b)
			if grew := heapAllocs() - before; grew > 1<<20 && !raceEnabled {
				t.Errorf("refusing %d bytes allocated %d", len(b), grew)
			}
			if !errors.Is(err, segment.ErrCorrupt) || errors.Is(err, segment.ErrInvalidRecord) {
				t.Fatalf("got %v, want ErrCorrupt from the codec", err)
			}
			t.Log(err)
		})
	}
}

// bombRecords streams one record whose value is n zero bytes through a compressor w.
func bombRecords(t *testing.T, w io.WriteCloser, n int) {
	t.Helper()
	body := []byte{0, 0, 0, 1} // attributes, timestamp delta, offset delta, null key
	body = binary.AppendVarint(body, int64(n))
	length := len(body) + n + 1 // + the header count after the value
	if _, err := w.Write(append(binary.AppendVarint(nil, int64(length)), body...)); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		if _, err := w.Write(zeros[:min(left, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRecordsInflateLimit compresses one record holding a large run of zeros. Within
// MinInflateLimit it passes whatever the ratio; beyond the limit it is refused as ErrInflateLimit
// after decompressing no more than the limit.
func TestCheckRecordsInflateLimit(t *testing.T) {
	writers := []struct {
		name  string
		codec int16
		w     func(io.Writer) io.WriteCloser
	}{
		{"gzip", segment.CompressionGzip, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }},
		{"lz4", segment.CompressionLZ4, func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) }},
		{"zstd", segment.CompressionZstd, func(w io.Writer) io.WriteCloser {
			zw, err := zstd.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return zw
		}},
	}
	for _, c := range writers {
		for _, tt := range []struct {
			name string
			n    int
			want error
		}{
			{"repetitive but small", segment.MinInflateLimit / 2, nil},
			{"bomb", 4 * segment.MinInflateLimit, segment.ErrInflateLimit},
		} {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				bombRecords(t, c.w(&buf), tt.n)
				if limit := segment.InflateLimit(buf.Len()); limit >= int64(tt.n) && tt.want != nil {
					t.Fatalf("%d compressed bytes may inflate to %d: not a bomb", buf.Len(), limit)
				}
				b := segmenttest.Batch{Attributes: c.codec, RawRecords: buf.Bytes(), Values: make([][]byte, 1)}.Encode()
				err := check(t, b)
				if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
					t.Fatalf("%d bytes compressed to %d: got %v, want %v", tt.n, buf.Len(), err, tt.want)
				}
				if err != nil && !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("%v does not wrap ErrCorrupt", err)
				}
				t.Logf("%d bytes compressed to %d: %v", tt.n, buf.Len(), err)
			})
		}
	}
}

func TestInflateLimit(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want int64
	}{
		{0, segment.MinInflateLimit},
		{1000, segment.MinInflateLimit},
		{1 << 20, 64 << 20},
		{1 << 30, segment.MaxInflateLimit},
	} {
		if got := segment.InflateLimit(tt.n); got != tt.want {
			t.Errorf("InflateLimit(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

// TestCheckRecordsRealBatches checks batches built by segmenttest (kmsg) with every codec.
func TestCheckRecordsRealBatches(t *testing.T) {
	for codec := int16(0); codec <= segment.CompressionZstd; codec++ {
		vals := make([][]byte, 300)
		for i := range vals {
			vals[i] = bytes.Repeat([]byte{byte(i)}, i)
		}
		b := segmenttest.Batch{Codec: codec, Keys: vals[:100], Values: vals}.Encode()
		if err := check(t, b); err != nil {
			t.Errorf("codec %d: %v", codec, err)
		}
	}
}

// TestCheckRecordsNoAllocs: an uncompressed batch is walked in place.
func TestCheckRecordsNoAllocs(t *testing.T) {
	b := segmenttest.Records(0, 0, 100, 100)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := segment.CheckRecords(b, info); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per uncompressed check", n)
	}
}

// TestCheckRecordsBadInfo: an info that does not describe b is an error, not a panic.
func TestCheckRecordsBadInfo(t *testing.T) {
	b := segmenttest.Records(0, 0, 3, 10)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []segment.BatchInfo{{}, {Length: info.Length + 1}, {Length: -20}, {Length: info.Length, Attributes: 7}} {
		if err := segment.CheckRecords(b, bad); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("info %+v: got %v", bad, err)
		}
	}
}
