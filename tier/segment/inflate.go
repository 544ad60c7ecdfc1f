package segment

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

const (
	// inflateBufSize is the buffered reader between a codec and the record walker.
	inflateBufSize = 32 << 10
	// zstdMaxWindow bounds the history a zstd frame may ask the decoder to keep. Producers write
	// windows of at most 8 MiB (Kafka's default level 3 uses 2 MiB; franz-go and librdkafka size
	// the window to the batch); a larger one is refused rather than allocated.
	zstdMaxWindow = 8 << 20
	// maxSnappyRatio bounds what a snappy block can decode to: its densest element, a 3-byte
	// copy, yields 64 bytes. A block claiming more is corrupt, whatever the inflate limit.
	maxSnappyRatio = 22
	// maxPooledSnappyBuf keeps giant decode buffers out of the pool.
	maxPooledSnappyBuf = 4 << 20
)

// errOverrun is a field read past the end of its record's length.
var errOverrun = errors.New("fields overrun the record's length")

// errLimit is returned by limitReader once the decompressed stream passes its limit.
var errLimit = errors.New("inflate limit")

// limitReader passes reads through until more than n bytes have come, then fails with errLimit.
type limitReader struct {
	r io.Reader
	n int64 // bytes still allowed; negative once the limit is passed
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errLimit
	}
	return n, err
}

// inflater is one pooled decoder stack for a streaming codec: the compressed records → the codec's
// reader → limitReader → a bufio.Reader the walker reads from.
type inflater struct {
	src bytes.Reader
	lim limitReader
	br  *bufio.Reader
	gz  gzip.Reader
	lz  *lz4.Reader
	zs  *zstd.Decoder
}

var inflaters = [...]sync.Pool{
	CompressionGzip: {New: func() any { return &inflater{br: bufio.NewReaderSize(nil, inflateBufSize)} }},
	CompressionLZ4: {New: func() any {
		return &inflater{br: bufio.NewReaderSize(nil, inflateBufSize), lz: lz4.NewReader(nil)}
	}},
	CompressionZstd: {New: func() any {
		// One goroutine-free streaming decoder; the options are constant, so NewReader cannot fail.
		zs, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxWindow))
		if err != nil {
			panic(fmt.Sprintf("segment: zstd decoder options: %v", err))
		}
		return &inflater{br: bufio.NewReaderSize(nil, inflateBufSize), zs: zs}
	}},
}

// open points the stack at compressed records recs of the given codec.
func (f *inflater) open(codec int, recs []byte, limit int64) error {
	f.src.Reset(recs)
	var r io.Reader
	switch codec {
	case CompressionGzip:
		if err := f.gz.Reset(&f.src); err != nil {
			return fmt.Errorf("%w: gzip records: %v", ErrCorrupt, err)
		}
		r = &f.gz
	case CompressionLZ4:
		f.lz.Reset(&f.src)
		r = f.lz
	case CompressionZstd:
		if err := f.zs.Reset(&f.src); err != nil {
			return fmt.Errorf("%w: zstd records: %v", ErrCorrupt, err)
		}
		r = f.zs
	}
	f.lim = limitReader{r: r, n: limit}
	f.br.Reset(&f.lim)
	return nil
}

// close drops the references to the batch before the stack goes back to its pool.
func (f *inflater) close() {
	f.src.Reset(nil)
	f.br.Reset(nil)
	f.lim.r = nil
	if f.zs != nil {
		_ = f.zs.Reset(nil)
	}
	if f.lz != nil {
		f.lz.Reset(nil)
	}
}

// checkStream decompresses gzip, lz4 or zstd records as a stream and walks them, calling visit (if
// not nil) with each.
func checkStream(codec int, recs []byte, info BatchInfo, d *deltaCheck, visit visitFunc) error {
	f := inflaters[codec].Get().(*inflater)
	defer func() {
		f.close()
		inflaters[codec].Put(f)
	}()
	limit := InflateLimit(len(recs))
	if err := f.open(codec, recs, limit); err != nil {
		return err
	}
	w := streamWalker{br: f.br, codec: codec, limit: limit, d: d}
	for i := int32(0); i < info.NumRecords; i++ {
		r, err := w.record(i)
		if err == errNoRecord {
			return countError(info.NumRecords, 0)
		} else if err != nil {
			return err
		}
		if visit != nil && visit(r) {
			return nil
		}
	}
	switch _, err := f.br.ReadByte(); {
	case err == nil:
		return countError(info.NumRecords, -1)
	case err != io.EOF:
		return w.streamError(info.NumRecords, err)
	}
	return d.lastDelta(info.NumRecords)
}

// errNoRecord is the stream ending cleanly where a record should start.
var errNoRecord = errors.New("no record")

// streamWalker checks records read one field at a time from a decompressed stream.
type streamWalker struct {
	br    *bufio.Reader
	codec int
	limit int64
	left  int64 // bytes of the current record not read yet
	d     *deltaCheck
}

// record checks record i and returns its deltas (Body, Key and Value stay nil).
func (w *streamWalker) record(i int32) (walkedRecord, error) {
	td, od, err := w.fields(i)
	return walkedRecord{OffsetDelta: od, TimestampDelta: td}, err
}

func (w *streamWalker) fields(i int32) (timestampDelta int64, offsetDelta int32, err error) {
	w.left = math.MaxInt64
	if _, err := w.br.Peek(1); err == io.EOF {
		return 0, 0, errNoRecord
	} else if err != nil {
		return 0, 0, w.streamError(i, err)
	}
	length, err := w.varint(5)
	if err != nil || length < 0 {
		return 0, 0, w.fail(i, "length", err)
	}
	w.left = length
	if _, err := w.byte(); err != nil {
		return 0, 0, w.fail(i, "attributes", err)
	}
	td, err := w.varint(10)
	if err != nil {
		return 0, 0, w.fail(i, "timestamp delta", err)
	}
	od, err := w.varint(5)
	if err != nil {
		return 0, 0, w.fail(i, "offset delta", err)
	}
	if err := w.d.check(i, int32(od)); err != nil {
		return 0, 0, err
	}
	for _, field := range [...]string{"key", "value"} {
		if err := w.bytes(); err != nil {
			return 0, 0, w.fail(i, field, err)
		}
	}
	hc, err := w.varint(5)
	if err != nil || hc < 0 {
		return 0, 0, w.fail(i, "header count", err)
	}
	if hc > w.left/2 { // each header takes at least two bytes
		return 0, 0, recordError(i, "%d headers in %d bytes", hc, w.left)
	}
	for h := int64(0); h < hc; h++ {
		kl, err := w.varint(5)
		if err != nil || kl < 0 {
			return 0, 0, w.fail(i, fmt.Sprintf("header %d key", h), err)
		}
		if err := w.skip(kl); err != nil {
			return 0, 0, w.fail(i, fmt.Sprintf("header %d key", h), err)
		}
		if err := w.bytes(); err != nil {
			return 0, 0, w.fail(i, fmt.Sprintf("header %d value", h), err)
		}
	}
	if w.left != 0 {
		return 0, 0, recordError(i, "the fields end %d bytes before the record's length", w.left)
	}
	return td, int32(od), nil
}

// fail explains why field of record i could not be read; a nil err means its value was invalid.
func (w *streamWalker) fail(i int32, field string, err error) error {
	switch {
	case err == nil:
		return recordError(i, "invalid %s", field)
	case err == errOverrun, err == errVarint:
		return recordError(i, "%s: %v", field, err)
	case err == io.EOF: // a clean end of the decompressed stream; a cut stream is the codec's error
		return recordError(i, "%s: the records end inside the record", field)
	}
	return w.streamError(i, err)
}

// streamError reports a failure of the codec or the inflate limit.
func (w *streamWalker) streamError(i int32, err error) error {
	if err == errLimit {
		return fmt.Errorf("%w: more than %d bytes at record %d (%s)", ErrInflateLimit, w.limit, i, codecName(w.codec))
	}
	return fmt.Errorf("%w: %s records: %v", ErrCorrupt, codecName(w.codec), err)
}

func (w *streamWalker) byte() (byte, error) {
	if w.left <= 0 {
		return 0, errOverrun
	}
	c, err := w.br.ReadByte()
	if err != nil {
		return 0, err
	}
	w.left--
	return c, nil
}

var errVarint = errors.New("malformed varint")

// varint reads a zig-zag varint of at most maxLen bytes (5 for a 32-bit field, 10 for 64-bit).
func (w *streamWalker) varint(maxLen int) (int64, error) {
	var ux uint64
	for i := 0; ; i++ {
		if i == maxLen {
			return 0, errVarint
		}
		c, err := w.byte()
		if err != nil {
			return 0, err
		}
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, errVarint
			}
			ux |= uint64(c) << (7 * i)
			break
		}
		ux |= uint64(c&0x7f) << (7 * i)
	}
	x := int64(ux>>1) ^ -int64(ux&1)
	if maxLen == 5 && x != int64(int32(x)) {
		return 0, errVarint
	}
	return x, nil
}

// bytes skips a length-prefixed field whose negative length means null.
func (w *streamWalker) bytes() error {
	n, err := w.varint(5)
	if err != nil || n <= 0 {
		return err
	}
	return w.skip(n)
}

func (w *streamWalker) skip(n int64) error {
	if n > w.left {
		return errOverrun
	}
	d, err := w.br.Discard(int(n))
	w.left -= int64(d)
	return err
}

func codecName(c int) string {
	switch c {
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return "uncompressed"
}

// xerialMagic starts snappy records framed the way the Java client writes them: the magic, a
// version and a minimum compatible version (int32 each), then chunks of [int32 length][snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

var snappyBufs = sync.Pool{New: func() any { return new([]byte) }}

// checkSnappy decodes snappy records (a raw block, as franz-go writes them, or xerial-framed
// chunks) into a pooled buffer and walks them in place, calling visit (if not nil) with each.
func checkSnappy(recs []byte, info BatchInfo, d *deltaCheck, visit visitFunc) error {
	bp := snappyBufs.Get().(*[]byte)
	out, err := decodeSnappy((*bp)[:0], recs, InflateLimit(len(recs)))
	if cap(out) <= maxPooledSnappyBuf {
		*bp = out[:0]
		defer snappyBufs.Put(bp)
	}
	if err != nil {
		return err
	}
	return walkRecords(out, info.NumRecords, d, visit)
}

// decodeSnappy appends the decoded records to dst. Every block's claimed length is checked against
// what snappy can encode and the total against limit before anything is allocated.
func decodeSnappy(dst, src []byte, limit int64) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.HasPrefix(src, xerialMagic) {
		l, err := snappyLen(src, limit)
		if err != nil {
			return dst, err
		}
		return snappyBlock(dst, src, l)
	}
	chunks := src[xerialHeaderSize:]
	var total int64
	for rem := chunks; len(rem) > 0; {
		if len(rem) < 4 {
			return dst, fmt.Errorf("%w: snappy records: truncated xerial chunk length", ErrCorrupt)
		}
		size := int64(binary.BigEndian.Uint32(rem))
		if size > int64(len(rem)-4) {
			return dst, fmt.Errorf("%w: snappy records: xerial chunk of %d bytes with %d left", ErrCorrupt, size, len(rem)-4)
		}
		l, err := snappyLen(rem[4:4+size], limit-total)
		if err != nil {
			return dst, err
		}
		total += int64(l)
		rem = rem[4+size:]
	}
	dst = growTo(dst, int(total))
	for len(chunks) > 0 {
		size := int(binary.BigEndian.Uint32(chunks))
		block := chunks[4 : 4+size]
		l, _ := s2.DecodedLen(block)
		var err error
		if dst, err = snappyBlock(dst, block, l); err != nil {
			return dst, err
		}
		chunks = chunks[4+size:]
	}
	return dst, nil
}

// snappyLen is the decoded length a snappy block claims, checked.
func snappyLen(block []byte, limit int64) (int, error) {
	l, err := s2.DecodedLen(block)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%w: snappy records: %v", ErrCorrupt, err)
	case int64(l) > int64(len(block))*maxSnappyRatio:
		return 0, fmt.Errorf("%w: snappy records: a %d-byte block claims %d bytes", ErrCorrupt, len(block), l)
	case int64(l) > limit:
		return 0, fmt.Errorf("%w: snappy block of %d bytes with %d allowed", ErrInflateLimit, l, limit)
	}
	return l, nil
}

// snappyBlock decodes one block of decoded length l onto the end of dst.
func snappyBlock(dst, block []byte, l int) ([]byte, error) {
	dst = growTo(dst, len(dst)+l)
	if _, err := s2.Decode(dst[len(dst):len(dst)+l], block); err != nil {
		return dst, fmt.Errorf("%w: snappy records: %v", ErrCorrupt, err)
	}
	return dst[:len(dst)+l], nil
}

// growTo returns dst with capacity for at least n bytes, keeping its contents.
func growTo(dst []byte, n int) []byte {
	if n <= cap(dst) {
		return dst
	}
	return append(dst[:cap(dst)], make([]byte, n-cap(dst))...)[:len(dst)]
}
