package columnar

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqmeta "github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
)

// Codec choices for Batches besides a segment.Compression* codec.
const (
	// CodecAsProduced: each batch in the codec its producer used.
	CodecAsProduced = -1
	// CodecOfObject: the codec the object was written for (the topic's compression.type when it
	// was converted, strata.compression), else as produced.
	CodecOfObject = -2
)

// Object is an open Parquet object of this layout: its footer read and checked, its row groups'
// offset and timestamp ranges known. Safe for concurrent use when its io.ReaderAt is.
type Object struct {
	fr        *pqarrow.FileReader
	partition int32
	base      int64
	next      int64
	groups    []group
	empty     []emptyBatch // by base offset
	codec     int          // strata.compression as a codec, or CodecAsProduced
	fixed     int          // fixed columns: numFixedFieldsV1 in layout version 1
	json      []jsonColumn // with rebuilt values (strata.json_values): the JSON columns
	cache     *groupCache
	r         io.ReaderAt
	size      int64
	ahead     func(ctx context.Context) io.ReaderAt // see ReadAhead; nil: no rebuild ahead
}

// group is what the footer's statistics say of one row group.
type group struct {
	firstBase      int64 // base offset of its first batch
	minOff, maxOff int64
	minTS, maxTS   int64
	rows           int64
	pos            int64 // byte position of its first column chunk
	start, end     int64 // its bytes, checked against crc before they are decoded
	crc            uint32
}

// jsonColumn is a JSON column of an object whose values are rebuilt from them.
type jsonColumn struct {
	name string // the field's name (the column's without JSONPrefix)
	kind jsonKind
}

type emptyBatch struct {
	info segment.BatchInfo
	b    []byte
}

// dropStoredArrowSchema removes the writer's serialized Arrow schema (ARROW:schema) from md
// before pqarrow reads it: arrow-go decodes that flatbuffer trusting its lengths, so a damaged
// footer could make it allocate without bound (a fuzzer found an 88 GB allocation, which no
// recover stops). The Parquet schema alone gives the same Arrow types for this layout (timestamps
// adjusted to UTC, int8 and int16 from their logical types, lists and structs).
func dropStoredArrowSchema(md *pqmeta.FileMetaData) {
	if md == nil || md.FileMetaData == nil {
		return
	}
	kv := md.FileMetaData.KeyValueMetadata
	kept := kv[:0:0]
	for _, e := range kv {
		if e != nil && e.Key != "ARROW:schema" {
			kept = append(kept, e)
		}
	}
	md.FileMetaData.KeyValueMetadata = kept
}

// Open reads and checks the footer of the Parquet object of size bytes behind r. Errors wrap
// segment.ErrCorrupt.
func Open(r io.ReaderAt, size int64) (o *Object, err error) {
	defer recoverCorrupt(&err)
	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(pageReadProps))
	if err == nil {
		err = skipPageIndex(pf, nil)
	}
	if err != nil {
		return nil, corruptf("footer: %v", err)
	}
	o = &Object{cache: &groupCache{verified: map[int]bool{}}, r: r, size: size}
	md := pf.MetaData()
	kv := md.KeyValueMetadata()
	meta := func(k string) (string, error) {
		if v := kv.FindValue(k); v != nil {
			return *v, nil
		}
		return "", corruptf("no %s in the footer", k)
	}
	var v, p, b, n string
	for _, f := range []struct {
		k string
		v *string
	}{{metaVersion, &v}, {metaPartition, &p}, {metaBaseOffset, &b}, {metaNextOffset, &n}} {
		if *f.v, err = meta(f.k); err != nil {
			return nil, err
		}
	}
	switch v {
	case "1":
		o.fixed = numFixedFieldsV1
	case strconv.Itoa(Version):
		o.fixed = numFixedFields
	default:
		return nil, corruptf("layout version %q, this reader knows 1 to %d", v, Version)
	}
	part, err1 := strconv.ParseInt(p, 10, 32)
	o.base, err = strconv.ParseInt(b, 10, 64)
	var err2 error
	o.next, err2 = strconv.ParseInt(n, 10, 64)
	if err != nil || err1 != nil || err2 != nil || part < 0 || o.base < 0 || o.next <= o.base {
		return nil, corruptf("range %s [%s, %s)", p, b, n)
	}
	o.partition = int32(part)
	if e := kv.FindValue(metaEmptyBatches); e != nil {
		if o.empty, err = decodeEmpty(*e, o.base, o.next); err != nil {
			return nil, err
		}
	}
	o.codec = CodecAsProduced
	if c := kv.FindValue(metaCompression); c != nil {
		if o.codec, err = CodecOf(*c); err != nil {
			return nil, corruptf("%s %q", metaCompression, *c)
		}
	}
	maxRows := int64(1)
	for i := range md.NumRowGroups() {
		g, err := readGroup(md.RowGroup(i))
		if err != nil {
			return nil, fmt.Errorf("%w (row group %d)", err, i)
		}
		if g.firstBase < o.base || g.maxOff >= o.next || g.minOff < g.firstBase || g.minOff > g.maxOff ||
			(i > 0 && g.firstBase <= o.groups[i-1].maxOff) {
			return nil, corruptf("row group %d: offsets [%d, %d] of batches from %d out of order or outside [%d, %d)",
				i, g.minOff, g.maxOff, g.firstBase, o.base, o.next)
		}
		maxRows = max(maxRows, g.rows)
		o.groups = append(o.groups, g)
	}
	if err := o.parseRowGroups(kv.FindValue(metaRowGroups), size); err != nil {
		return nil, err
	}
	dropStoredArrowSchema(md)
	o.fr, err = pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: maxRows}, memory.DefaultAllocator)
	if err != nil {
		return nil, corruptf("%v", err)
	}
	schema, err := o.fr.Schema()
	if err != nil {
		return nil, corruptf("schema: %v", err)
	}
	if schema.NumFields() < o.fixed || md.Schema.NumColumns() < o.fixed+1 {
		return nil, corruptf("%d columns, the layout has at least %d", schema.NumFields(), o.fixed)
	}
	for i, f := range fixedFields[:o.fixed] {
		if got := schema.Field(i); got.Name != f.Name || !arrow.TypeEqual(got.Type, f.Type) {
			return nil, corruptf("column %d is %s %s, the layout's is %s %s", i, got.Name, got.Type, f.Name, f.Type)
		}
	}
	if jv := kv.FindValue(metaJSONValues); jv != nil {
		if n, err := strconv.ParseInt(*jv, 10, 64); err != nil || n <= 0 || o.fixed != numFixedFields {
			return nil, corruptf("%s %q", metaJSONValues, *jv)
		}
		if o.json, err = jsonColumnsOf(schema, o.fixed, md.Schema.NumColumns()); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// jsonColumnsOf reads the JSON columns of schema, from field first on, each one Parquet leaf
// (leaves in all: the fixed fields' first+1 and one per JSON column).
func jsonColumnsOf(schema *arrow.Schema, first, leaves int) ([]jsonColumn, error) {
	if leaves != schema.NumFields()+1 {
		return nil, corruptf("%d leaf columns for %d fields", leaves, schema.NumFields())
	}
	var out []jsonColumn
	for i := first; i < schema.NumFields(); i++ {
		f := schema.Field(i)
		c := jsonColumn{name: strings.TrimPrefix(f.Name, JSONPrefix)}
		switch {
		case !strings.HasPrefix(f.Name, JSONPrefix):
			return nil, corruptf("column %d: %s is not a JSON column", i, f.Name)
		case arrow.TypeEqual(f.Type, arrow.PrimitiveTypes.Int64):
			c.kind = kInt
		case arrow.TypeEqual(f.Type, arrow.PrimitiveTypes.Float64):
			c.kind = kFloat
		case arrow.TypeEqual(f.Type, arrow.FixedWidthTypes.Boolean):
			c.kind = kBool
		case arrow.TypeEqual(f.Type, arrow.BinaryTypes.String):
			c.kind = kString
		default:
			return nil, corruptf("JSON column %s is %s", f.Name, f.Type)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseRowGroups reads strata.row_groups into o.groups' byte ranges and CRCs.
func (o *Object) parseRowGroups(v *string, size int64) error {
	if v == nil {
		return corruptf("no %s in the footer", metaRowGroups)
	}
	parts := strings.Split(*v, ",")
	if len(parts) != len(o.groups) {
		return corruptf("%s names %d row groups, the footer %d", metaRowGroups, len(parts), len(o.groups))
	}
	start := int64(0)
	for i, p := range parts {
		e, c, ok := strings.Cut(p, ":")
		end, err1 := strconv.ParseInt(e, 10, 64)
		crc, err2 := strconv.ParseUint(c, 10, 32)
		if !ok || err1 != nil || err2 != nil || end <= start || end > size {
			return corruptf("%s: row group %d: %q", metaRowGroups, i, p)
		}
		o.groups[i].start, o.groups[i].end, o.groups[i].crc = start, end, uint32(crc)
		start = end
	}
	return nil
}

// verify checks row group g's bytes against their CRC32C, once per object. The bytes it read to
// check are returned (in buf, grown when short), nil when g was checked before.
func (o *Object) verify(g int, buf []byte) ([]byte, error) {
	c := o.cache
	c.mu.Lock()
	ok := c.verified[g]
	c.mu.Unlock()
	if ok {
		return nil, nil
	}
	gr := o.groups[g]
	b := slices.Grow(buf[:0], int(gr.end-gr.start))[:gr.end-gr.start]
	if n, err := o.r.ReadAt(b, gr.start); n < len(b) {
		return nil, fmt.Errorf("columnar: row group %d: %w", g, err)
	}
	if sum := crc32.Checksum(b, castagnoli); sum != gr.crc {
		return nil, corruptf("row group %d: CRC32C %d of bytes [%d, %d), footer says %d", g, sum, gr.start, gr.end, gr.crc)
	}
	c.mu.Lock()
	c.verified[g] = true
	c.mu.Unlock()
	return b, nil
}

// heldReader is an io.ReaderAt that serves reads within [at, at+len(b)) from b, and others from r:
// a row group's bytes, read once to check their CRC, are decoded from that copy.
type heldReader struct {
	r  io.ReaderAt
	at int64
	b  []byte
}

func (h *heldReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= h.at && off+int64(len(p)) <= h.at+int64(len(h.b)) {
		return copy(p, h.b[off-h.at:]), nil
	}
	return h.r.ReadAt(p, off)
}

// groupScratch is the memory one row group's decoding needs only while it runs: its checked bytes
// and the copies of its keys and values (the rebuilt batches copy them). Pooled.
type groupScratch struct {
	held, keys, values []byte
}

var scratchPool = sync.Pool{New: func() any { return new(groupScratch) }}

func readGroup(rg *pqmeta.RowGroupMetaData) (group, error) {
	g := group{rows: rg.NumRows()}
	if g.rows <= 0 {
		return g, corruptf("%d rows", g.rows)
	}
	if rg.NumColumns() > 0 {
		if cc, err := rg.ColumnChunk(0); err == nil {
			g.pos = cc.DataPageOffset()
			if cc.HasDictionaryPage() {
				g.pos = min(g.pos, cc.DictionaryPageOffset())
			}
		}
	}
	// Leaf columns: batch_base_offset is leaf fBatchBaseOffset+1, as headers has two leaves.
	for _, c := range []struct {
		col      int
		min, max *int64
	}{{fOffset, &g.minOff, &g.maxOff}, {fTimestamp, &g.minTS, &g.maxTS}, {fBatchBaseOffset + 1, &g.firstBase, nil}} {
		if c.col >= rg.NumColumns() {
			return g, corruptf("%d columns", rg.NumColumns())
		}
		cc, err := rg.ColumnChunk(c.col)
		if err != nil {
			return g, corruptf("column %d: %v", c.col, err)
		}
		st, err := cc.Statistics()
		if err != nil {
			return g, corruptf("column %d statistics: %v", c.col, err)
		}
		is, ok := st.(*pqmeta.Int64Statistics)
		if !ok || !is.HasMinMax() {
			return g, corruptf("column %d has no int64 min/max statistics", c.col)
		}
		*c.min = is.Min()
		if c.max != nil {
			*c.max = is.Max()
		}
	}
	return g, nil
}

func decodeEmpty(s string, base, next int64) ([]emptyBatch, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, corruptf("%s: %v", metaEmptyBatches, err)
	}
	var out []emptyBatch
	sp := segment.NewSplitter(raw)
	for sp.Next() {
		info := sp.Info()
		if _, err := segment.ValidateBatch(sp.Batch()); err != nil {
			return nil, err
		}
		if info.NumRecords != 0 || info.BaseOffset < base || info.NextOffset() > next ||
			(len(out) > 0 && info.BaseOffset < out[len(out)-1].info.NextOffset()) {
			return nil, corruptf("empty batch [%d, %d) with %d records", info.BaseOffset, info.NextOffset(), info.NumRecords)
		}
		out = append(out, emptyBatch{info: info, b: sp.Batch()[:info.Size()]})
	}
	if err := sp.Err(); err != nil {
		return nil, err
	}
	if sp.Pos() != len(raw) {
		return nil, corruptf("%s: %d bytes after the batches", metaEmptyBatches, len(raw)-sp.Pos())
	}
	return out, nil
}

// Partition is the partition the object's records belong to.
func (o *Object) Partition() int32 { return o.partition }

// Records is the number of records (rows) the object holds.
func (o *Object) Records() int64 {
	var n int64
	for _, g := range o.groups {
		n += g.rows
	}
	return n
}

// Range is the offsets the object covers: [base, next).
func (o *Object) Range() (base, next int64) { return o.base, o.next }

// Position is the byte position in the object where the data Batches reads for from starts (the
// row group holding from), for readers that fetch ahead.
func (o *Object) Position(from int64) int64 {
	g := sort.Search(len(o.groups), func(i int) bool { return o.groups[i].firstBase > from }) - 1
	if g < 0 {
		g = 0
	}
	if g >= len(o.groups) {
		return 0
	}
	return max(o.groups[g].pos, 0)
}

// Batches appends to dst the record batches rebuilt from the object, starting with the batch that
// holds from (or the first after it, in a gap), then the next ones while they fit in maxBytes (the
// first always goes). codec is the codec of the rebuilt batches (segment.Compression*),
// CodecAsProduced or CodecOfObject. segment.ErrOutOfRange when from is outside the object's range; bad bytes give an
// error wrapping segment.ErrCorrupt.
func (o *Object) Batches(ctx context.Context, dst []byte, from int64, maxBytes, codec int) (out []byte, err error) {
	out, _, err = o.batches(ctx, dst, from, maxBytes, codec, false)
	return out, err
}

// BatchesShared is Batches, except that when dst is empty and the batches lie back to back in the
// buffer one row group was rebuilt into (most reads: a row group holds megabytes), they are
// returned uncopied and shared is true: dst was not used, and the bytes belong to the object's row
// group cache (read them, never write them). Otherwise they are appended to dst, as Batches does.
func (o *Object) BatchesShared(ctx context.Context, dst []byte, from int64, maxBytes, codec int) (out []byte, shared bool, err error) {
	return o.batches(ctx, dst, from, maxBytes, codec, len(dst) == 0)
}

func (o *Object) batches(ctx context.Context, dst []byte, from int64, maxBytes, codec int, share bool) (out []byte, shared bool, err error) {
	defer recoverCorrupt(&err)
	if from < o.base || from >= o.next {
		return dst, false, fmt.Errorf("%w: %d not in [%d, %d)", segment.ErrOutOfRange, from, o.base, o.next)
	}
	if codec == CodecOfObject {
		codec = o.codec
	}
	start := len(dst)
	empty := o.empty[sort.Search(len(o.empty), func(i int) bool { return o.empty[i].info.NextOffset() > from }):]
	// view, while share holds, is the result so far as a slice of a row group's buffer (first and
	// last its batches); the first batch that does not follow it there turns it into a copy.
	var first, last *rebuiltBatch
	size := func() int { // bytes of the result so far
		if first != nil {
			return last.at + len(last.b) - first.at
		}
		return len(dst) - start
	}
	unshare := func() {
		if first != nil {
			// Room for the rest of the read too (up to maxBytes), so that the appends after
			// this copy do not copy it again.
			n := size()
			dst = append(slices.Grow(dst, max(n, maxBytes)+batchSlack), last.run[first.at:first.at+n]...)
			first, last = nil, nil
		}
		share = false
	}
	full := func() bool { n := size(); return n > 0 && n >= maxBytes }
	emitEmpty := func(before int64) bool { // the kept-whole empty batches below before
		for len(empty) > 0 && empty[0].info.BaseOffset < before {
			if n := size(); n > 0 && n+len(empty[0].b) > maxBytes {
				return false
			}
			unshare()
			dst = append(dst, empty[0].b...)
			empty = empty[1:]
		}
		return true
	}
	emit := func(b *rebuiltBatch) bool {
		if !emitEmpty(b.base) {
			return false
		}
		if n := size(); n > 0 && n+len(b.b) > maxBytes {
			return false
		}
		switch {
		case share && first == nil && size() == 0:
			first, last = b, b
		case share && first != nil && b.follows(last):
			last = b
		default:
			unshare()
			dst = append(dst, b.b...)
		}
		return true
	}
	g := sort.Search(len(o.groups), func(i int) bool { return o.groups[i].firstBase > from }) - 1
	g = max(g, 0)
	for ; g < len(o.groups) && !full(); g++ {
		batches, err := o.groupBatches(ctx, g, codec)
		if err != nil {
			unshare()
			return dst, false, err
		}
		if first != nil {
			// The view cannot go on into another group's buffer. Holding half of maxBytes, it
			// goes out as it is (the reader's next call starts there); else it is copied, into
			// room for the whole read.
			if size() >= maxBytes/2 {
				return o.result(dst, first, last)
			}
			unshare()
		}
		if !share {
			// Room for what this group can add, at once: appending batch by batch would copy the
			// result again at every doubling.
			n := size()
			for i := range batches {
				if batches[i].next > from {
					n += len(batches[i].b)
				}
			}
			dst = slices.Grow(dst, min(n, maxBytes+batchSlack))
		}
		for i := range batches {
			if batches[i].next <= from {
				continue
			}
			if !emit(&batches[i]) || full() {
				return o.result(dst, first, last)
			}
		}
	}
	if !full() {
		emitEmpty(o.next)
	}
	return o.result(dst, first, last)
}

// batchSlack is room a read's buffer is given past maxBytes: the first batch goes out whole even
// when it is larger (KIP-74), and a batch header or two of growth spares a copy.
const batchSlack = 64 << 10

// result is what batches returns: the shared view when one is under way, else dst.
func (o *Object) result(dst []byte, first, last *rebuiltBatch) ([]byte, bool, error) {
	if first != nil {
		v := last.run[first.at : last.at+len(last.b) : last.at+len(last.b)]
		return v, true, nil
	}
	return dst, false, nil
}

// rebuiltBatch is one batch rebuilt from a row group: b is run[at:at+len(b)], run the buffer the
// group's batches were rebuilt into as it was after this one (a buffer that grew moved on to a new
// array; the earlier batches stay in the old one).
type rebuiltBatch struct {
	base, next int64
	b          []byte
	run        []byte
	at         int
}

// follows reports whether b starts where prev ends, in the same buffer.
func (b *rebuiltBatch) follows(prev *rebuiltBatch) bool {
	return len(b.run) > 0 && len(prev.run) > 0 && &b.run[0] == &prev.run[0] && b.at == prev.at+len(prev.b)
}

// groupCache keeps the batches rebuilt from the last row group read (one Fetch rarely ends on a
// row group's end: the next one, from the same consumer, reads on in the same group), and the
// rebuild of the group after it under way in the background (ReadAhead). Shared by the copies
// WithReader makes.
type groupCache struct {
	mu       sync.Mutex
	verified map[int]bool // row groups whose CRC matched
	g        int
	codec    int
	batches  []rebuiltBatch
	ahead    *aheadGroup // the latest rebuild ahead, done or not
}

// aheadGroup is a row group rebuilt in the background: batches is set, when the rebuild succeeded,
// before done closes.
type aheadGroup struct {
	g, codec int
	done     chan struct{}
	batches  []rebuiltBatch
}

// aheadTimeout bounds a rebuild ahead (its reads included).
const aheadTimeout = time.Minute

// groupBatches returns row group g's batches rebuilt in codec: from the cache when it holds them,
// else from the rebuild ahead of g when one is under way or done, else rebuilt now. With
// ReadAhead, the group after g is then rebuilt in the background.
func (o *Object) groupBatches(ctx context.Context, g, codec int) ([]rebuiltBatch, error) {
	c := o.cache
	c.mu.Lock()
	if c.batches != nil && c.g == g && c.codec == codec {
		b := c.batches
		c.mu.Unlock()
		return b, nil
	}
	a := c.ahead
	c.mu.Unlock()
	var out []rebuiltBatch
	if a != nil && a.g == g && a.codec == codec {
		select {
		case <-a.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		out = a.batches // nil when it failed: rebuilt below, where its error is reported
	}
	if out == nil {
		var err error
		if out, err = o.rebuild(ctx, g, codec); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.g, c.codec, c.batches = g, codec, out
	c.mu.Unlock()
	o.rebuildAhead(g+1, codec)
	return out, nil
}

// rebuild decodes row group g and rebuilds its batches in codec.
func (o *Object) rebuild(ctx context.Context, g, codec int) ([]rebuiltBatch, error) {
	var out []rebuiltBatch
	bb := batchBuilder{codec: codec}
	bb.chunk = o.groupBytes(g)
	err := o.readGroup(ctx, g, func(info segment.BatchInfo, recs []kmsg.Record) bool {
		b := bb.build(info, recs)
		out = append(out, rebuiltBatch{base: info.BaseOffset, next: info.NextOffset(), b: b, run: bb.buf, at: len(bb.buf) - len(b)})
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// rebuildAhead starts rebuilding row group g in codec in the background, when o reads ahead, g
// exists, and no rebuild ahead is under way or done for it. One at a time per object: a rebuild
// still running for another group is left to finish.
func (o *Object) rebuildAhead(g, codec int) {
	if o.ahead == nil || g >= len(o.groups) {
		return
	}
	c := o.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.ahead; a != nil {
		select {
		case <-a.done:
		default:
			return
		}
		if a.g == g && a.codec == codec {
			return
		}
	}
	a := &aheadGroup{g: g, codec: codec, done: make(chan struct{})}
	c.ahead = a
	go func() { // owned by a: done closes when it ends, and aheadTimeout bounds it
		defer close(a.done)
		ctx, cancel := context.WithTimeout(context.Background(), aheadTimeout)
		defer cancel()
		oa, err := o.WithReader(o.ahead(ctx), o.size)
		if err != nil {
			return
		}
		if b, err := oa.rebuildSafely(ctx, g, codec); err == nil {
			a.batches = b
		}
	}()
}

// Prefetch starts rebuilding, in the background, the row group that holds offset from (or the
// first after it), in codec, for a sequential reader about to come to o: what ReadAhead's reads
// do for the group after the one they read. It does nothing unless o reads ahead (ReadAhead).
func (o *Object) Prefetch(from int64, codec int) {
	if codec == CodecOfObject {
		codec = o.codec
	}
	g := sort.Search(len(o.groups), func(i int) bool { return o.groups[i].firstBase > from }) - 1
	o.rebuildAhead(max(g, 0), codec)
}

// InLastGroup reports whether offset lies in o's last row group (or past it): a sequential reader
// there comes to the next object soon.
func (o *Object) InLastGroup(offset int64) bool {
	return len(o.groups) == 0 || offset >= o.groups[len(o.groups)-1].firstBase
}

// rebuildSafely is rebuild with a decoder panic turned into an error, as Batches does.
func (o *Object) rebuildSafely(ctx context.Context, g, codec int) (out []rebuiltBatch, err error) {
	defer recoverCorrupt(&err)
	return o.rebuild(ctx, g, codec)
}

// ReadAhead returns o (a copy) whose reads, once they have rebuilt a row group, rebuild the next
// one in the background, for the sequential reader that will ask for it. The background rebuild
// reads through open(ctx), a reader bound to its own context (not a request's); what it rebuilds
// is used only when it succeeded (a failure is met again, and reported, by the read that needs the
// group).
func (o *Object) ReadAhead(open func(ctx context.Context) io.ReaderAt) *Object {
	c := *o
	c.ahead = open
	return &c
}

// skipPageIndex tells pf that no row group's page index (column and offset indexes) will be read:
// every read here goes through a column chunk's pages in order, and arrow-go only uses the offset
// index to seek to a row. Otherwise each new row group reader (one per column a read opens: the
// key, the value, and every leaf pqarrow reads) works out where the page indexes of all the
// row group's columns lie, building the metadata of every column chunk, JSON columns included,
// to do so: about a tenth of a replay's CPU. Writers still write the page index, for other readers.
//
// groups are the row groups that will be read (nil: all of them); telling costs a little per group,
// which readGroup, reading one group of a possibly large object, need not pay for the others.
func skipPageIndex(pf *file.Reader, groups []int32) error {
	if groups == nil {
		groups = make([]int32, pf.NumRowGroups())
		for i := range groups {
			groups[i] = int32(i)
		}
	}
	if len(groups) == 0 || pf.MetaData().Schema.NumColumns() == 0 {
		return nil
	}
	return pf.GetPageIndexReader().WillNeed(groups, []int32{0}, pqmeta.PageIndexSelection{})
}

// WithReader returns the object read through r (size bytes) instead: the footer is not read or
// parsed again, and the row group cache is shared. For a caller whose io.ReaderAt is bound to one
// request (its context), with the footer kept from an earlier Open.
func (o *Object) WithReader(r io.ReaderAt, size int64) (_ *Object, err error) {
	return o.withReader(r, size, nil)
}

// withReader is WithReader for reads of groups only (nil: any).
func (o *Object) withReader(r io.ReaderAt, size int64, groups []int32) (_ *Object, err error) {
	defer recoverCorrupt(&err)
	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithMetadata(o.fr.ParquetReader().MetaData()), file.WithReadProps(pageReadProps))
	if err == nil {
		err = skipPageIndex(pf, groups)
	}
	if err != nil {
		return nil, corruptf("%v", err)
	}
	c := *o
	c.r, c.size = r, size
	if c.fr, err = pqarrow.NewFileReader(pf, o.fr.Props, memory.DefaultAllocator); err != nil {
		return nil, corruptf("%v", err)
	}
	return &c, nil
}

// readGroup decodes row group g into batches (header and records, the records' slices aliasing the
// decoded columns) and calls fn with each until it returns false.
func (o *Object) readGroup(ctx context.Context, g int, fn func(segment.BatchInfo, []kmsg.Record) bool) error {
	sc := scratchPool.Get().(*groupScratch)
	defer scratchPool.Put(sc)
	held, err := o.verify(g, sc.held)
	if err != nil {
		return err
	}
	if held != nil {
		sc.held = held
		if o, err = o.withReader(&heldReader{r: o.r, at: o.groups[g].start, b: held}, o.size, []int32{int32(g)}); err != nil {
			return err
		}
	}
	// Keys and values, most of the bytes, are read straight from their column chunks (see
	// binaryColumn); the record reader reads the other fixed columns' leaves (headers has two),
	// and the JSON columns' when values are rebuilt from them (one leaf each, after the fixed
	// ones).
	var keys, values [][]byte
	if keys, sc.keys, err = o.binaryColumn(g, fKey, sc.keys); err != nil {
		return err
	}
	if values, sc.values, err = o.binaryColumn(g, fValue, sc.values); err != nil {
		return err
	}
	leaves := make([]int, 0, o.fixed+1+len(o.json))
	for i := range o.fixed + 1 + len(o.json) {
		if i != fKey && i != fValue {
			leaves = append(leaves, i)
		}
	}
	rr, err := o.fr.GetRecordReader(ctx, leaves, []int{g})
	if err != nil {
		return corruptf("row group %d: %v", g, err)
	}
	defer rr.Release()
	var (
		recs []kmsg.Record
		cur  segment.BatchInfo
		prev = int64(-1)
		have bool
	)
	flush := func() bool {
		if !have {
			return true
		}
		have = false
		cur.NumRecords = int32(len(recs))
		return fn(cur, recs)
	}
	var arena []byte // rebuilt values
	row := 0         // in the group, across the record reader's batches
	for rr.Next() {
		rec := rr.RecordBatch()
		c := columnsOf(rec, o.fixed)
		if row+int(rec.NumRows()) > len(keys) {
			return corruptf("row group %d: more rows than its %d keys and values", g, len(keys))
		}
		for i := range int(rec.NumRows()) {
			key, value := keys[row], values[row]
			row++
			off := c.offset.Value(i)
			base := c.batchBase.Value(i)
			if c.partition.Value(i) != o.partition || off <= prev || off < o.base || off >= o.next {
				return corruptf("row group %d: offset %d of partition %d after %d", g, off, c.partition.Value(i), prev)
			}
			prev = off
			if !have || base != cur.BaseOffset {
				if !flush() {
					return nil
				}
				recs = recs[:0]
				cur = segment.BatchInfo{
					BaseOffset: base, Magic: 2,
					LastOffsetDelta:      c.lastDelta.Value(i),
					Attributes:           c.attrs.Value(i),
					PartitionLeaderEpoch: c.epoch.Value(i),
					FirstTimestamp:       c.firstTS.Value(i),
					MaxTimestamp:         c.maxTS.Value(i),
					ProducerID:           c.pid.Value(i),
					ProducerEpoch:        c.pepoch.Value(i),
					BaseSequence:         c.seq.Value(i),
				}
				have = true
			}
			delta := off - base
			if delta < 0 || delta > int64(cur.LastOffsetDelta) || cur.LastOffsetDelta < 0 {
				return corruptf("row group %d: offset %d outside its batch [%d, %d]", g, off, base, base+int64(cur.LastOffsetDelta))
			}
			r := kmsg.Record{
				Attributes:       c.recAttrs.Value(i),
				TimestampDelta64: c.tsDelta.Value(i),
				OffsetDelta:      int32(delta),
				Key:              key,
				Value:            value,
			}
			if c.jsonValue != nil && c.jsonValue.Value(i) {
				if value != nil || o.json == nil {
					return corruptf("row group %d: offset %d: json_value with a stored value or no %s", g, off, metaJSONValues)
				}
				if arena == nil {
					arena = make([]byte, 0, 1<<20)
				}
				// Appends past the values handed out never write into them (a grown arena is a
				// new array): each stays valid.
				n := len(arena)
				arena = appendObject(arena, o.json, rec, o.fixed-keyValueLeaves, i)
				r.Value = arena[n:len(arena):len(arena)]
			}
			r.TimestampDelta = int32(r.TimestampDelta64)
			if !c.headers.IsNull(i) {
				hs, he := c.headers.ValueOffsets(i)
				if hs < 0 || he < hs || he > int64(c.hkey.Len()) {
					return corruptf("row group %d: headers [%d, %d) of %d", g, hs, he, c.hkey.Len())
				}
				for h := hs; h < he; h++ {
					r.Headers = append(r.Headers, kmsg.Header{Key: c.hkey.Value(int(h)), Value: c.bytes(c.hval, int(h))})
				}
			}
			recs = append(recs, r)
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return corruptf("row group %d: %v", g, err)
	}
	if row != len(keys) {
		return corruptf("row group %d: %d rows, %d keys and values", g, row, len(keys))
	}
	flush()
	return nil
}

// keyValueLeaves is how many leaves readGroup's record reader leaves out (key and value, read by
// binaryColumn): the fields after them come that much earlier in its records.
const keyValueLeaves = 2

// binaryColumn reads the key or value column (leaf) of row group g: one slice per row, nil for a
// null, all copied into arena (grown when short: the result's slices may lie in a new buffer, and
// arena is returned for reuse). It reads page by page (ReadBatchInPage: values that alias the
// decompressed page, good until the next page) and copies each value once. arrow-go's ReadBatch
// would copy them into a new allocation first, and its record reader into a builder that doubles.
func (o *Object) binaryColumn(g, leaf int, arena []byte) (out [][]byte, _ []byte, err error) {
	rg := o.fr.ParquetReader().RowGroup(g)
	cr, err := rg.Column(leaf)
	if err != nil {
		return nil, arena, corruptf("row group %d, column %d: %v", g, leaf, err)
	}
	defer cr.Close() // its page buffers go back to pageMem
	br, ok := cr.(*file.ByteArrayColumnChunkReader)
	if !ok || br.Descriptor().MaxDefinitionLevel() != 1 || br.Descriptor().MaxRepetitionLevel() != 0 {
		return nil, arena, corruptf("row group %d, column %d is not a nullable binary column", g, leaf)
	}
	rows := o.groups[g].rows
	size := int64(0)
	if md, err := rg.MetaData().ColumnChunk(leaf); err == nil {
		size = md.TotalUncompressedSize() // its pages' bytes: the values and some framing
	}
	if want := int(min(max(size, 0), 64<<20)); cap(arena) < want {
		arena = make([]byte, 0, want)
	}
	arena = arena[:0]
	out = make([][]byte, 0, min(rows, 1<<16)) // rows is the footer's word: bounded until read
	const step = 4096
	vals := make([]parquet.ByteArray, min(rows, step))
	defs := make([]int16, len(vals))
	for int64(len(out)) < rows {
		n := min(rows-int64(len(out)), step)
		total, read, err := br.ReadBatchInPage(n, vals, defs, nil)
		if err != nil {
			return nil, arena, corruptf("row group %d, column %d: %v", g, leaf, err)
		}
		if total == 0 || total > n || int64(read) > total {
			return nil, arena, corruptf("row group %d, column %d: %d rows of %d", g, leaf, len(out), rows)
		}
		v := 0
		for _, d := range defs[:total] {
			if d == 0 {
				out = append(out, nil)
				continue
			}
			if v >= read {
				return nil, arena, corruptf("row group %d, column %d: more non-null rows than values", g, leaf)
			}
			// A value past the buffer's room starts a new one (the earlier values stay where
			// they are); a copy of an empty value is empty, not nil.
			b := vals[v]
			v++
			if cap(arena)-len(arena) < len(b) {
				arena = make([]byte, 0, max(len(b), cap(arena)/2+len(b)))
			}
			start := len(arena)
			arena = append(arena, b...)
			out = append(out, arena[start:len(arena):len(arena)])
		}
		if v != read {
			return nil, arena, corruptf("row group %d, column %d: %d values for %d non-null rows", g, leaf, read, v)
		}
	}
	return out, arena, nil
}

// columns are the typed fixed columns of one decoded record batch (Open checked their types).
type columns struct {
	partition                              *array.Int32
	offset, batchBase, firstTS, maxTS, pid *array.Int64
	tsDelta                                *array.Int64
	timestamp                              *array.Timestamp
	hval                                   *array.Binary
	headers                                *array.List
	hkey                                   *array.String
	lastDelta, epoch, seq                  *array.Int32
	attrs, pepoch                          *array.Int16
	recAttrs                               *array.Int8
	jsonValue                              *array.Boolean // nil in layout version 1
}

func columnsOf(rec arrow.RecordBatch, fixed int) columns {
	// rec has no key and value fields (readGroup reads them apart): the fields after them come
	// keyValueLeaves earlier.
	col := func(f int) arrow.Array {
		if f > fValue {
			f -= keyValueLeaves
		}
		return rec.Column(f)
	}
	hl := col(fHeaders).(*array.List)
	hs := hl.ListValues().(*array.Struct)
	var jv *array.Boolean
	if fixed > fJSONValue {
		jv = col(fJSONValue).(*array.Boolean)
	}
	return columns{
		jsonValue: jv,
		partition: col(fPartition).(*array.Int32),
		offset:    col(fOffset).(*array.Int64),
		timestamp: col(fTimestamp).(*array.Timestamp),
		headers:   hl,
		hkey:      hs.Field(0).(*array.String),
		hval:      hs.Field(1).(*array.Binary),
		batchBase: col(fBatchBaseOffset).(*array.Int64),
		lastDelta: col(fBatchLastDelta).(*array.Int32),
		attrs:     col(fBatchAttributes).(*array.Int16),
		epoch:     col(fBatchLeaderEpoch).(*array.Int32),
		firstTS:   col(fBatchFirstTimestamp).(*array.Int64),
		maxTS:     col(fBatchMaxTimestamp).(*array.Int64),
		pid:       col(fProducerID).(*array.Int64),
		pepoch:    col(fProducerEpoch).(*array.Int16),
		seq:       col(fBaseSequence).(*array.Int32),
		recAttrs:  col(fRecordAttributes).(*array.Int8),
		tsDelta:   col(fTimestampDelta).(*array.Int64),
	}
}

// appendObject appends the JSON object row i of rec's JSON columns (from field first on, as cols
// say) make: see rebuildValue.
func appendObject(dst []byte, cols []jsonColumn, rec arrow.RecordBatch, first, i int) []byte {
	dst = append(dst, '{')
	n := 0
	for k, c := range cols {
		a := rec.Column(first + k)
		if a.IsNull(i) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = appendJSONString(dst, c.name)
		dst = append(dst, ':')
		switch c.kind {
		case kInt:
			dst = strconv.AppendInt(dst, a.(*array.Int64).Value(i), 10)
		case kFloat:
			dst = strconv.AppendFloat(dst, a.(*array.Float64).Value(i), 'g', -1, 64)
		case kBool:
			dst = strconv.AppendBool(dst, a.(*array.Boolean).Value(i))
		default:
			dst = appendJSONString(dst, a.(*array.String).Value(i))
		}
	}
	return append(dst, '}')
}

// bytes is row i of a binary column: nil when null, never nil otherwise.
func (columns) bytes(a *array.Binary, i int) []byte {
	if a.IsNull(i) {
		return nil
	}
	if v := a.Value(i); v != nil {
		return v
	}
	return []byte{}
}

// FindTimestamp returns the offset and timestamp of the object's first record at or after offset
// from whose timestamp is ≥ ts (what Kafka's ListOffsets answers); found is false when there is
// none. Only row groups whose statistics reach ts and from are decoded.
func (o *Object) FindTimestamp(ctx context.Context, ts, from int64) (offset, timestamp int64, found bool, err error) {
	defer recoverCorrupt(&err)
	for g, gr := range o.groups {
		if gr.maxOff < from || gr.maxTS < ts {
			continue
		}
		if _, err := o.verify(g, nil); err != nil {
			return -1, -1, false, err
		}
		rr, err := o.fr.GetRecordReader(ctx, []int{fOffset, fTimestamp}, []int{g})
		if err != nil {
			return -1, -1, false, corruptf("row group %d: %v", g, err)
		}
		for rr.Next() {
			rec := rr.RecordBatch()
			offs := rec.Column(0).(*array.Int64)
			tss := rec.Column(1).(*array.Timestamp)
			for i := range offs.Len() {
				if offs.Value(i) >= from && int64(tss.Value(i)) >= ts {
					off, at := offs.Value(i), int64(tss.Value(i))
					rr.Release()
					return off, at, true, nil
				}
			}
		}
		err = rr.Err()
		rr.Release()
		if err != nil && !errors.Is(err, io.EOF) {
			return -1, -1, false, corruptf("row group %d: %v", g, err)
		}
	}
	return -1, -1, false, nil
}

// batchBuilder rebuilds the batches of one row group in codec (segment.Compression* or
// CodecAsProduced) back to back into one buffer, and compresses through one scratch buffer.
type batchBuilder struct {
	codec   int
	buf     []byte // the batches built so far (in the latest buffer)
	chunk   int    // the size of a new buffer, at least: about the row group's rebuilt bytes
	scratch bytes.Buffer
}

// build returns the batch of info and recs. It stays valid after later builds (a build that
// outgrows the buffer moves on to a new one).
func (bb *batchBuilder) build(info segment.BatchInfo, recs []kmsg.Record) []byte {
	if bb.codec >= 0 {
		info.Attributes = info.Attributes&^segment.AttrCompressionMask | int16(bb.codec)
	}
	if need := segment.RebuiltSize(recs); cap(bb.buf)-len(bb.buf) < need {
		// A new buffer rather than a bigger copy of this one: the batches already built stay
		// where they are (they are handed out as they are), and nothing is copied again.
		// The estimate fell short: each further buffer is twice the last.
		if bb.buf != nil {
			bb.chunk = max(bb.chunk, cap(bb.buf)) * 2
		}
		bb.buf = make([]byte, 0, max(need, bb.chunk))
	}
	start := len(bb.buf)
	bb.buf = segment.RebuildBatch(bb.buf, info, recs, bb.compress)
	return bb.buf[start:len(bb.buf):len(bb.buf)]
}

// compress compresses encoded records with codec as a franz-go producer does, or returns nil (the
// batch then goes uncompressed). The result is bb's scratch space, good until the next call.
func (bb *batchBuilder) compress(codec int, recs []byte) []byte {
	cs, err := compressors()
	if err != nil || codec < 1 || codec > 4 {
		return nil
	}
	bb.scratch.Reset()
	out, used := cs[codec].Compress(&bb.scratch, recs)
	if int(used) != codec {
		return nil
	}
	return out
}

// groupBytes is about the bytes of row group g's batches rebuilt uncompressed: its share of the
// object's key and value data (from the footer's sizes) plus per-record framing.
func (o *Object) groupBytes(g int) int {
	md := o.fr.ParquetReader().MetaData().RowGroup(g)
	n := int64(0)
	for _, c := range []int{fKey, fValue} {
		if cc, err := md.ColumnChunk(c); err == nil {
			n += max(cc.TotalUncompressedSize(), 0)
		}
	}
	return int(min(n+o.groups[g].rows*32+4096, 64<<20))
}

// compressors holds one franz-go compressor per codec (building one, zstd's above all, is costly).
var compressors = sync.OnceValues(func() (cs [5]kgo.Compressor, err error) {
	for i, c := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		if cs[i+1], err = kgo.DefaultCompressor(c); err != nil {
			return cs, err
		}
	}
	return cs, nil
})

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: parquet: %s", segment.ErrCorrupt, fmt.Sprintf(format, args...))
}

// recoverCorrupt turns a panic inside arrow-go's decoders (which trust parts of a file's structure)
// into an error wrapping segment.ErrCorrupt: bad bytes in an object must not take the broker down.
func recoverCorrupt(err *error) {
	if p := recover(); p != nil {
		*err = corruptf("decoder panic: %v", p)
	}
}
