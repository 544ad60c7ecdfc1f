package columnar

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet/compress"
	pqmeta "github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/strata-log/strata/tier/segment"
)

// Projection names the record columns a projected read decodes (ReadColumns). The partition is
// the object's; the rest are read only when named, so a count over a time window reads the
// timestamp column of the row groups it needs and nothing of keys or values.
type Projection struct {
	Offset, Timestamp, Key, Value, Headers bool
}

// ByteRange is [Start, End) of an object's bytes.
type ByteRange struct{ Start, End int64 }

// Len is the range's length in bytes.
func (r ByteRange) Len() int64 { return r.End - r.Start }

// Leaf columns of the fixed fields (headers has two leaves, key and value, so the fields after it
// are one further on).
const (
	leafOffset     = fOffset
	leafTimestamp  = fTimestamp
	leafKey        = fKey
	leafValue      = fValue
	leafHeaderKey  = fHeaders
	leafHeaderVal  = fHeaders + 1
	leafBatchAttrs = fBatchAttributes + 1
)

// leaves lists the leaf columns a read of g with p decodes, in schema order (none, when p names
// none and nothing else is needed: the group's row count answers), and whether the read is of
// the whole row group (checked against its CRC first).
//
// The row-group CRC covers a whole group, so a read of some of its columns cannot check it. Such
// a read is taken without it only where its bytes are checked all the same: every column chunk it
// decodes is zstd compressed, whose frames carry a checksum the decoder checks (a chunk of
// another codec, or headers, whose list decoder runs on goroutines of arrow-go's, read the whole
// group, CRC first). Besides the named columns a read decodes batch_attributes (control batches
// hold no rows) unless the column's statistics rule control batches out, and, when the range it
// is asked for cuts the group, offset.
func (o *Object) leaves(g int, p Projection, cut bool) (leaves []int, whole bool) {
	if p.Offset || cut {
		leaves = append(leaves, leafOffset)
	}
	if p.Timestamp {
		leaves = append(leaves, leafTimestamp)
	}
	if p.Key {
		leaves = append(leaves, leafKey)
	}
	if p.Value {
		leaves = append(leaves, leafValue)
	}
	if p.Headers {
		leaves = append(leaves, leafHeaderKey, leafHeaderVal)
		whole = true
	}
	rg := o.fr.ParquetReader().MetaData().RowGroup(g)
	if o.mayHoldControl(rg) {
		leaves = append(leaves, leafBatchAttrs)
	}
	for _, l := range leaves {
		cc, err := rg.ColumnChunk(l)
		if err != nil || cc.Compression() != compress.Codecs.Zstd {
			whole = true
		}
	}
	return leaves, whole
}

// RebuildsValues reports whether some of the object's values are held only in their JSON columns
// (strata.value.format=json-columns: `value` is null where json_value is true). A projected read
// of `value` cannot serve those rows; read the object's batches instead (Object.Read rebuilds them).
func (o *Object) RebuildsValues() bool { return o.json != nil }

// mayHoldControl reports whether a row group may hold control records, by its batch_attributes
// statistics (no value with the control bit is below it).
func (o *Object) mayHoldControl(rg *pqmeta.RowGroupMetaData) bool {
	cc, err := rg.ColumnChunk(leafBatchAttrs)
	if err != nil {
		return true
	}
	st, err := cc.Statistics()
	if err != nil || st == nil {
		return true
	}
	is, ok := st.(*pqmeta.Int32Statistics)
	return !ok || !is.HasMinMax() || is.Max() >= segment.AttrControl
}

// cuts reports whether [from, to) leaves out some of row group g's offsets.
func (o *Object) cuts(g int, from, to int64) bool {
	gr := o.groups[g]
	return from > gr.minOff || to <= gr.maxOff
}

// ColumnRanges returns the bytes of the object a ReadColumns of row group g with p (over the
// offsets [from, to)) reads, in order, adjacent ones merged: the column chunks it decodes, or
// the whole group when it is read whole. A caller fetches them and hands ReadColumns an
// io.ReaderAt serving them.
func (o *Object) ColumnRanges(g int, p Projection, from, to int64) ([]ByteRange, error) {
	if g < 0 || g >= len(o.groups) {
		return nil, fmt.Errorf("columnar: row group %d of %d", g, len(o.groups))
	}
	leaves, whole := o.leaves(g, p, o.cuts(g, from, to))
	if whole {
		return []ByteRange{{o.groups[g].start, o.groups[g].end}}, nil
	}
	rg := o.fr.ParquetReader().MetaData().RowGroup(g)
	var out []ByteRange
	for _, l := range leaves {
		cc, err := rg.ColumnChunk(l)
		if err != nil {
			return nil, corruptf("row group %d column %d: %v", g, l, err)
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
			start = cc.DictionaryPageOffset()
		}
		r := ByteRange{start, start + cc.TotalCompressedSize()}
		if r.Start < o.groups[g].start || r.End > o.groups[g].end || r.End <= r.Start {
			return nil, corruptf("row group %d column %d: bytes [%d, %d) outside the group's [%d, %d)",
				g, l, r.Start, r.End, o.groups[g].start, o.groups[g].end)
		}
		if n := len(out); n > 0 && out[n-1].End == r.Start {
			out[n-1].End = r.End
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Rows is a block of decoded rows of one row group, as ReadColumns hands them over. Only the
// projected columns are set; Sel lists the rows to use (in offset order: those in the range
// asked for, control records left out). Everything aliases the decoded columns: valid until fn
// returns.
type Rows struct {
	Sel       []int32
	Offset    []int64 // nil unless projected (or the range cut the group)
	Timestamp []arrow.Timestamp
	key       *array.Binary
	value     *array.Binary
	headers   *array.List
	hkey      *array.String
	hval      *array.Binary
}

// Key is row i's key: nil for a null key, never nil otherwise.
func (r *Rows) Key(i int) []byte { return columns{}.bytes(r.key, i) }

// Value is row i's value: nil for a tombstone, never nil otherwise.
func (r *Rows) Value(i int) []byte { return columns{}.bytes(r.value, i) }

// Header is one record header.
type Header struct {
	Key   string
	Value []byte // nil: a null value
}

// Headers appends row i's headers to dst.
func (r *Rows) Headers(dst []Header, i int) []Header {
	if r.headers.IsNull(i) {
		return dst
	}
	hs, he := r.headers.ValueOffsets(i)
	for h := hs; h < he; h++ {
		dst = append(dst, Header{Key: r.hkey.Value(int(h)), Value: columns{}.bytes(r.hval, int(h))})
	}
	return dst
}

// ReadColumns decodes the projected columns of row group g, with no batch rebuilt, and calls fn
// with its rows whose offsets are in [from, to) until fn returns false. r serves the object's
// bytes (size of them; ColumnRanges names those it reads); a read of the whole group checks its CRC first.
// Bad bytes give an error wrapping segment.ErrCorrupt.
func (o *Object) ReadColumns(ctx context.Context, r io.ReaderAt, size int64, g int, p Projection, from, to int64, fn func(*Rows) bool) (err error) {
	defer recoverCorrupt(&err)
	if g < 0 || g >= len(o.groups) {
		return fmt.Errorf("columnar: row group %d of %d", g, len(o.groups))
	}
	cut := o.cuts(g, from, to)
	leaves, whole := o.leaves(g, p, cut)
	if len(leaves) == 0 { // every row, no column
		rows := Rows{Sel: make([]int32, o.groups[g].rows)}
		for i := range rows.Sel {
			rows.Sel[i] = int32(i)
		}
		fn(&rows)
		return nil
	}
	ob, err := o.WithReader(r, size)
	if err != nil {
		return err
	}
	if whole {
		if _, err := ob.verify(g, nil); err != nil {
			return err
		}
	}
	rr, err := ob.fr.GetRecordReader(ctx, leaves, []int{g})
	if err != nil {
		return corruptf("row group %d: %v", g, err)
	}
	defer rr.Release()
	field := map[string]int{}
	for i, f := range rr.Schema().Fields() {
		field[f.Name] = i
	}
	var rows Rows
	prev := int64(-1)
	for rr.Next() {
		rec := rr.RecordBatch()
		n := int(rec.NumRows())
		col := func(name string) arrow.Array {
			if i, ok := field[name]; ok {
				return rec.Column(i)
			}
			return nil
		}
		attrs, _ := col(colBatchAttributes).(*array.Int16)
		if attrs != nil && attrs.Len() != n {
			return corruptf("row group %d: %d batch attributes of %d rows", g, attrs.Len(), n)
		}
		rows = Rows{Sel: rows.Sel[:0]}
		if a := col(ColOffset); a != nil {
			rows.Offset = a.(*array.Int64).Int64Values()
		}
		if a := col(ColTimestamp); a != nil {
			rows.Timestamp = a.(*array.Timestamp).TimestampValues()
		}
		if a := col(ColKey); a != nil {
			rows.key = a.(*array.Binary)
		}
		if a := col(ColValue); a != nil {
			rows.value = a.(*array.Binary)
		}
		if a := col(ColHeaders); a != nil {
			rows.headers = a.(*array.List)
			hs := rows.headers.ListValues().(*array.Struct)
			rows.hkey, rows.hval = hs.Field(0).(*array.String), hs.Field(1).(*array.Binary)
			if s, e := rows.headers.ValueOffsets(n - 1); n > 0 && (s < 0 || e < s || e > int64(rows.hkey.Len())) {
				return corruptf("row group %d: headers [%d, %d) of %d", g, s, e, rows.hkey.Len())
			}
		}
		if (rows.Offset != nil && len(rows.Offset) != n) || (rows.Timestamp != nil && len(rows.Timestamp) != n) ||
			(rows.key != nil && rows.key.Len() != n) || (rows.value != nil && rows.value.Len() != n) ||
			(rows.headers != nil && rows.headers.Len() != n) {
			return corruptf("row group %d: columns of unequal lengths", g)
		}
		for i := range n {
			if rows.Offset != nil {
				off := rows.Offset[i]
				if off <= prev || off < o.base || off >= o.next {
					return corruptf("row group %d: offset %d after %d", g, off, prev)
				}
				prev = off
				if off < from || off >= to {
					continue
				}
			}
			if attrs != nil && attrs.Value(i)&segment.AttrControl != 0 {
				continue
			}
			rows.Sel = append(rows.Sel, int32(i))
		}
		if len(rows.Sel) > 0 && !fn(&rows) {
			return nil
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return corruptf("row group %d: %v", g, err)
	}
	return nil
}
