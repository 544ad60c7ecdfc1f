package columnar

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
)

// DefaultRowGroupBytes is the record data (keys, values, headers) a row group holds at most, unless
// one batch alone holds more: about one Kafka fetch's worth, so that a read decodes little more
// than it returns.
const DefaultRowGroupBytes = 1 << 20

// ValueFormat says how values are stored besides the `value` column (strata.value.format).
type ValueFormat int

const (
	// ValueBytes stores values only in `value`.
	ValueBytes ValueFormat = iota
	// ValueJSON also stores the top-level fields of JSON-object values as typed columns.
	ValueJSON
	// ValueJSONColumns stores the columns of ValueJSON, and leaves a value out of `value` when
	// its columns rebuild it byte for byte (json_value; see the package doc).
	ValueJSONColumns
)

// ParseValueFormat parses strata.value.format: "bytes", "json" or "json-columns".
func ParseValueFormat(s string) (ValueFormat, error) {
	switch s {
	case "", "bytes":
		return ValueBytes, nil
	case "json":
		return ValueJSON, nil
	case "json-columns":
		return ValueJSONColumns, nil
	}
	return 0, fmt.Errorf("columnar: unknown value format %q", s)
}

// Options configure a Writer.
type Options struct {
	// RowGroupBytes bounds a row group's record data (default DefaultRowGroupBytes).
	RowGroupBytes int
	// ValueFormat adds JSON columns when ValueJSON or ValueJSONColumns.
	ValueFormat ValueFormat
	// Compression is the topic's compression.type ("" or "producer": as produced;
	// "uncompressed", "gzip", "snappy", "lz4", "zstd"), the codec readers rebuild batches in by
	// default (strata.compression). The batches' own codec is kept either way.
	Compression string
}

// CodecOf maps a compression.type to a segment.Compression* codec, or CodecAsProduced for
// "producer" (and "").
func CodecOf(compressionType string) (int, error) {
	switch compressionType {
	case "", "producer":
		return CodecAsProduced, nil
	case "uncompressed":
		return segment.CompressionNone, nil
	case "gzip":
		return segment.CompressionGzip, nil
	case "snappy":
		return segment.CompressionSnappy, nil
	case "lz4":
		return segment.CompressionLZ4, nil
	case "zstd":
		return segment.CompressionZstd, nil
	}
	return 0, fmt.Errorf("columnar: unknown compression.type %q", compressionType)
}

// Stats describe a written object.
type Stats struct {
	BaseOffset, NextOffset     int64
	Records                    int64
	MinTimestamp, MaxTimestamp int64 // -1 when no record
	Bytes                      int64 // of the Parquet object
	RowGroups                  int
}

// ErrOrder marks a batch added out of offset order.
var ErrOrder = errors.New("columnar: batch out of offset order")

// row is one record, its bytes copied out of the batch (into the Writer's arena).
type row struct {
	batch     int32 // index in Writer.batches
	attrs     int8
	spans     int32 // its JSON fields: Writer.spans[spans:spans+nspans]
	nspans    int32
	offset    int64
	timestamp int64
	tsDelta   int64
	key       []byte // nil: null
	value     []byte // nil: null
	headers   []kmsg.Header
}

// arenaChunk is the size of the chunks a Writer copies records' bytes into.
const arenaChunk = 1 << 20

// Writer turns one partition's record batches, added in offset order, into one Parquet object. It
// holds the records in memory until WriteTo (the JSON columns' types are those of the whole object).
// Not safe for concurrent use.
type Writer struct {
	partition int32
	opts      Options
	ret       segment.Retainer

	batches    []segment.BatchInfo
	rows       []row
	groups     []int // index of each row group's first row
	groupBytes int
	empty      []byte // batches without records, whole
	next       int64  // one past the last added offset; -1: nothing added

	arena  []byte       // the current chunk the rows' keys and values are copied into
	json   *jsonColumns // ValueJSON: the columns of the rows added so far
	spans  []jsonSpan   // the rows' JSON fields
	fields []jsonField  // scratch
}

// NewWriter starts an object of partition's records.
func NewWriter(partition int32, opts Options) *Writer {
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	w := &Writer{partition: partition, opts: opts, next: -1}
	if opts.ValueFormat == ValueJSON || opts.ValueFormat == ValueJSONColumns {
		w.json = newJSONColumns()
	}
	return w
}

// Add adds the whole RecordBatch v2 batches in b (back to back, as a segment's data holds them),
// checking each (CRC included) and decoding its records. Errors wrap segment.ErrCorrupt, or
// ErrOrder when a batch starts below the end of the previous one.
func (w *Writer) Add(b []byte) error {
	s := segment.NewSplitter(b)
	for s.Next() {
		if err := w.addBatch(s.Batch(), s.Info()); err != nil {
			return err
		}
	}
	return s.Err()
}

// AddSegment adds the batches of a sealed segment object (tier/segment's format), checking its
// footer and index first. It returns the range the segment's index covers.
func (w *Writer) AddSegment(obj []byte) (base, next int64, err error) {
	r, err := segment.OpenReader(bytes.NewReader(obj), int64(len(obj)))
	if err != nil {
		return 0, 0, err
	}
	ix := r.Index()
	if ix.DataSize > int64(len(obj)) {
		return 0, 0, fmt.Errorf("%w: data of %d bytes in a %d-byte object", segment.ErrCorrupt, ix.DataSize, len(obj))
	}
	data := obj[:ix.DataSize]
	if segment.WholeBatches(data) != len(data) {
		return 0, 0, fmt.Errorf("%w: segment data does not end on a batch", segment.ErrCorrupt)
	}
	if err := w.Add(data); err != nil {
		return 0, 0, err
	}
	if w.next > ix.NextOffset {
		return 0, 0, fmt.Errorf("%w: batches end at %d, the index at %d", segment.ErrCorrupt, w.next, ix.NextOffset)
	}
	return ix.BaseOffset, ix.NextOffset, nil
}

func (w *Writer) addBatch(b []byte, info segment.BatchInfo) error {
	if _, err := segment.ValidateBatch(b); err != nil {
		return err
	}
	if w.next >= 0 && info.BaseOffset < w.next {
		return fmt.Errorf("%w: batch at %d after offset %d", ErrOrder, info.BaseOffset, w.next-1)
	}
	w.next = info.NextOffset()
	if info.NumRecords == 0 {
		w.empty = append(w.empty, b[:info.Size()]...)
		return nil
	}
	if len(w.groups) == 0 || w.groupBytes >= w.opts.RowGroupBytes {
		w.groups = append(w.groups, len(w.rows))
		w.groupBytes = 0
	}
	bi := int32(len(w.batches))
	w.batches = append(w.batches, info)
	start := len(w.rows)
	err := w.ret.Records(b, info, func(r *kmsg.Record) error {
		rw := row{
			batch:     bi,
			offset:    info.BaseOffset + int64(r.OffsetDelta),
			timestamp: info.FirstTimestamp + r.TimestampDelta64,
			tsDelta:   r.TimestampDelta64,
			attrs:     r.Attributes,
			key:       w.copyNullable(r.Key),
			value:     w.copyNullable(r.Value),
		}
		if info.LogAppendTime() {
			rw.timestamp = info.MaxTimestamp
		}
		if len(r.Headers) > 0 {
			rw.headers = make([]kmsg.Header, len(r.Headers))
			for i, h := range r.Headers {
				rw.headers[i] = kmsg.Header{Key: string([]byte(h.Key)), Value: w.copyNullable(h.Value)}
				w.groupBytes += len(h.Key) + len(h.Value)
			}
		}
		w.groupBytes += len(r.Key) + len(r.Value) + 16
		w.rows = append(w.rows, rw)
		return nil
	})
	if err != nil {
		w.rows = w.rows[:start]
		w.batches = w.batches[:bi]
		return err
	}
	if w.json != nil {
		for i := start; i < len(w.rows); i++ {
			r := &w.rows[i]
			r.spans = int32(len(w.spans))
			w.spans, w.fields = w.json.add(w.spans, w.fields, r.value)
			r.nspans = int32(len(w.spans)) - r.spans
		}
	}
	return nil
}

// copyNullable copies b into the arena: nil stays nil.
func (w *Writer) copyNullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(w.arena)-len(w.arena) {
		if len(b) > arenaChunk/4 {
			return append(make([]byte, 0, len(b)), b...)
		}
		w.arena = make([]byte, 0, arenaChunk)
	}
	n := len(w.arena)
	w.arena = append(w.arena, b...)
	return w.arena[n:len(w.arena):len(w.arena)]
}

// End is one past the last offset added, or -1 when nothing was.
func (w *Writer) End() int64 { return w.next }

// WriteTo writes the object of the added batches, covering [base, next): base at or below the first
// batch, next at or past the end of the last (a catalog's segments may start in a gap, or end in
// one). It writes one Parquet file; a failed write leaves out holding part of one.
func (w *Writer) WriteTo(out io.Writer, base, next int64) (Stats, error) {
	st := Stats{BaseOffset: base, NextOffset: next, Records: int64(len(w.rows)), MinTimestamp: -1, MaxTimestamp: -1}
	if w.next < 0 {
		return st, errors.New("columnar: no batch to write")
	}
	if first := w.firstOffset(); base > first || next < w.next || base < 0 {
		return st, fmt.Errorf("columnar: range [%d, %d) does not cover the batches' [%d, %d)", base, next, first, w.next)
	}
	json := w.json
	rebuilt, nrebuilt := w.rebuiltValues()
	fields := append(append([]arrow.Field(nil), fixedFields...), json.fields()...)
	schema := arrow.NewSchema(fields, nil)
	cw := &countingWriter{w: out}
	props := parquet.NewWriterProperties(append(w.plainColumns(),
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithPageIndexEnabled(true),
		parquet.WithBloomFilterEnabledFor(ColKey, true),
		// Sized for the keys of one row group (the default, a million, costs a MiB per group).
		parquet.WithBloomFilterNDVFor(ColKey, w.maxGroupRows()),
		parquet.WithMaxRowGroupLength(1<<30), // row groups are cut at batch boundaries here
		parquet.WithCreatedBy("strata columnar v"+strconv.Itoa(Version)),
	)...)
	fw, err := pqarrow.NewFileWriter(schema, cw, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return st, fmt.Errorf("columnar: %w", err)
	}
	kv := [][2]string{
		{metaVersion, strconv.Itoa(Version)},
		{metaPartition, strconv.Itoa(int(w.partition))},
		{metaBaseOffset, strconv.FormatInt(base, 10)},
		{metaNextOffset, strconv.FormatInt(next, 10)},
	}
	if _, err := CodecOf(w.opts.Compression); err != nil {
		return st, err
	}
	if c := w.opts.Compression; c != "" && c != "producer" {
		kv = append(kv, [2]string{metaCompression, c})
	}
	if len(w.empty) > 0 {
		kv = append(kv, [2]string{metaEmptyBatches, base64.StdEncoding.EncodeToString(w.empty)})
	}
	if nrebuilt > 0 {
		kv = append(kv, [2]string{metaJSONValues, strconv.Itoa(nrebuilt)})
	}
	for _, p := range kv {
		if err := fw.AppendKeyValueMetadata(p[0], p[1]); err != nil {
			return st, fmt.Errorf("columnar: %w", err)
		}
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	var sums []string
	for g, start := range w.groups {
		end := len(w.rows)
		if g+1 < len(w.groups) {
			end = w.groups[g+1]
		}
		w.build(rb, w.rows[start:end], rebuilt[min(start, len(rebuilt)):min(end, len(rebuilt))], json)
		rec := rb.NewRecordBatch()
		err := fw.Write(rec)
		rec.Release()
		if err != nil {
			return st, fmt.Errorf("columnar: %w", err)
		}
		// The row group's bytes are out: their end and CRC32C go into the footer.
		sums = append(sums, fmt.Sprintf("%d:%d", cw.n, cw.sum))
		cw.sum = 0
	}
	if err := fw.AppendKeyValueMetadata(metaRowGroups, strings.Join(sums, ",")); err != nil {
		return st, fmt.Errorf("columnar: %w", err)
	}
	if err := fw.Close(); err != nil {
		return st, fmt.Errorf("columnar: %w", err)
	}
	for _, r := range w.rows {
		if st.MinTimestamp < 0 || r.timestamp < st.MinTimestamp {
			st.MinTimestamp = r.timestamp
		}
		st.MaxTimestamp = max(st.MaxTimestamp, r.timestamp)
	}
	st.Bytes, st.RowGroups = cw.n, len(w.groups)
	return st, nil
}

// plainColumns turns dictionary encoding off for the binary columns (key, value, string JSON
// columns) whose values are mostly distinct, by a sample of the rows: for them a dictionary only
// costs a hash and a lookup per value, and a dictionary page that grows until arrow-go gives up on
// it.
func (w *Writer) plainColumns() []parquet.WriterProperty {
	step := max(len(w.rows)/dictSample, 1)
	var opts []parquet.WriterProperty
	mostlyDistinct := func(get func(r *row) []byte) bool {
		seen := make(map[uint64]struct{}, dictSample)
		n := 0
		for i := 0; i < len(w.rows); i += step {
			if b := get(&w.rows[i]); b != nil {
				seen[maphash.Bytes(dictSeed, b)] = struct{}{}
				n++
			}
		}
		return n > 0 && len(seen)*2 > n
	}
	if mostlyDistinct(func(r *row) []byte { return r.key }) {
		opts = append(opts, parquet.WithDictionaryFor(ColKey, false))
	}
	if mostlyDistinct(func(r *row) []byte { return r.value }) {
		opts = append(opts, parquet.WithDictionaryFor(ColValue, false))
	}
	if j := w.json; j != nil {
		for c := range j.names {
			if k := j.kind(c); k != kString && k != kText {
				continue
			}
			if mostlyDistinct(func(r *row) []byte {
				for _, sp := range w.spans[r.spans : r.spans+r.nspans] {
					if int(sp.col) == c {
						return r.value[sp.start:sp.end]
					}
				}
				return nil
			}) {
				opts = append(opts, parquet.WithDictionaryFor(JSONPrefix+j.names[c], false))
			}
		}
	}
	return opts
}

// dictSample is how many rows plainColumns looks at.
const dictSample = 1024

var dictSeed = maphash.MakeSeed()

// maxGroupRows is the most rows a row group holds (at least 1,024): the bloom filter's capacity.
func (w *Writer) maxGroupRows() int64 {
	n := 1024
	for g, start := range w.groups {
		end := len(w.rows)
		if g+1 < len(w.groups) {
			end = w.groups[g+1]
		}
		n = max(n, end-start)
	}
	return int64(n)
}

// firstOffset is the base offset of the first batch added.
func (w *Writer) firstOffset() int64 {
	first := int64(-1)
	if len(w.batches) > 0 {
		first = w.batches[0].BaseOffset
	}
	if len(w.empty) > 0 {
		if info, err := segment.ParseBatch(w.empty); err == nil && (first < 0 || info.BaseOffset < first) {
			first = info.BaseOffset
		}
	}
	return first
}

// rebuiltValues says, with ValueJSONColumns, which rows' values their JSON columns rebuild (the
// value is left out), and how many; nil otherwise.
func (w *Writer) rebuiltValues() ([]bool, int) {
	if w.opts.ValueFormat != ValueJSONColumns || w.json == nil {
		return nil, 0
	}
	out := make([]bool, len(w.rows))
	n := 0
	var buf []byte
	for i := range w.rows {
		r := &w.rows[i]
		var ok bool
		buf, ok = w.json.rebuildValue(buf[:0], r.value, w.spans[r.spans:r.spans+r.nspans])
		if ok {
			out[i] = true
			n++
		}
	}
	return out, n
}

// build appends rows to rb's builders; rebuilt (nil: none) says which rows' values are left out.
func (w *Writer) build(rb *array.RecordBuilder, rows []row, rebuilt []bool, json *jsonColumns) {
	for i := range numFixedFields {
		rb.Field(i).Reserve(len(rows))
	}
	var keyBytes, valueBytes int
	for i := range rows {
		keyBytes += len(rows[i].key)
		valueBytes += len(rows[i].value)
	}
	var (
		partition = rb.Field(fPartition).(*array.Int32Builder)
		offset    = rb.Field(fOffset).(*array.Int64Builder)
		timestamp = rb.Field(fTimestamp).(*array.TimestampBuilder)
		key       = rb.Field(fKey).(*array.BinaryBuilder)
		value     = rb.Field(fValue).(*array.BinaryBuilder)
		hl        = rb.Field(fHeaders).(*array.ListBuilder)
		hs        = hl.ValueBuilder().(*array.StructBuilder)
		hk        = hs.FieldBuilder(0).(*array.StringBuilder)
		hv        = hs.FieldBuilder(1).(*array.BinaryBuilder)
		base      = rb.Field(fBatchBaseOffset).(*array.Int64Builder)
		lastDelta = rb.Field(fBatchLastDelta).(*array.Int32Builder)
		attrs     = rb.Field(fBatchAttributes).(*array.Int16Builder)
		epoch     = rb.Field(fBatchLeaderEpoch).(*array.Int32Builder)
		firstTS   = rb.Field(fBatchFirstTimestamp).(*array.Int64Builder)
		maxTS     = rb.Field(fBatchMaxTimestamp).(*array.Int64Builder)
		pid       = rb.Field(fProducerID).(*array.Int64Builder)
		pepoch    = rb.Field(fProducerEpoch).(*array.Int16Builder)
		seq       = rb.Field(fBaseSequence).(*array.Int32Builder)
		recAttrs  = rb.Field(fRecordAttributes).(*array.Int8Builder)
		tsDelta   = rb.Field(fTimestampDelta).(*array.Int64Builder)
		jsonValue = rb.Field(fJSONValue).(*array.BooleanBuilder)
		jb        = json.builder(rb, numFixedFields)
	)
	key.ReserveData(keyBytes)
	value.ReserveData(valueBytes)
	jb.reserve(rows, w.spans)
	for i, r := range rows {
		info := &w.batches[r.batch]
		partition.UnsafeAppend(w.partition)
		offset.UnsafeAppend(r.offset)
		timestamp.UnsafeAppend(arrow.Timestamp(r.timestamp))
		appendNullable(key, r.key)
		isRebuilt := rebuilt != nil && rebuilt[i]
		if isRebuilt {
			value.AppendNull()
		} else {
			appendNullable(value, r.value)
		}
		jsonValue.UnsafeAppend(isRebuilt)
		hl.Append(true)
		for _, h := range r.headers {
			hs.Append(true)
			hk.Append(h.Key)
			appendNullable(hv, h.Value)
		}
		base.UnsafeAppend(info.BaseOffset)
		lastDelta.UnsafeAppend(info.LastOffsetDelta)
		attrs.UnsafeAppend(info.Attributes)
		epoch.UnsafeAppend(info.PartitionLeaderEpoch)
		firstTS.UnsafeAppend(info.FirstTimestamp)
		maxTS.UnsafeAppend(info.MaxTimestamp)
		pid.UnsafeAppend(info.ProducerID)
		pepoch.UnsafeAppend(info.ProducerEpoch)
		seq.UnsafeAppend(info.BaseSequence)
		recAttrs.UnsafeAppend(r.attrs)
		tsDelta.UnsafeAppend(r.tsDelta)
		jb.append(r.value, w.spans[r.spans:r.spans+r.nspans])
	}
}

func appendNullable(b *array.BinaryBuilder, v []byte) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(v)
}

// countingWriter counts the bytes written through it and keeps their CRC32C (reset per row group).
type countingWriter struct {
	w   io.Writer
	n   int64
	sum uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}
