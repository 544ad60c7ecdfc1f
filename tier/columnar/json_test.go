package columnar_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// strata.value.format=json: top-level fields become typed columns; a conflict widens to string;
// values that are not objects fill only `value`. The batches read back the same.
func TestJSONColumns(t *testing.T) {
	values := []string{
		`{"time":"2026-01-01T00:00:00Z","level":"info","latency":12,"ratio":1,"ok":true,"mixed":1,"nested":{"a":[1]}}`,
		`{"level":"warn","latency":7,"ratio":0.5,"ok":false,"mixed":"one","user":null}`,
		`[1,2,3]`,
		`not json`,
		`{"level":"error","latency":3,"mixed":true,"extra":"new"}`,
	}
	var data []byte
	for i, v := range values {
		data = segment.AppendBatch(data, segment.NewBatch{BaseOffset: int64(i), FirstTimestamp: 1000 + int64(i), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			Records: []segment.Record{{Timestamp: 1000 + int64(i), Value: []byte(v)}}})
	}
	obj, _ := writeObject(t, data, columnar.Options{ValueFormat: columnar.ValueJSON})
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(obj), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	want := map[string]struct {
		typ  arrow.DataType
		vals []any
	}{
		"value_time":    {arrow.BinaryTypes.String, []any{"2026-01-01T00:00:00Z", nil, nil, nil, nil}},
		"value_level":   {arrow.BinaryTypes.String, []any{"info", "warn", nil, nil, "error"}},
		"value_latency": {arrow.PrimitiveTypes.Int64, []any{int64(12), int64(7), nil, nil, int64(3)}},
		"value_ratio":   {arrow.PrimitiveTypes.Float64, []any{1.0, 0.5, nil, nil, nil}},
		"value_ok":      {arrow.FixedWidthTypes.Boolean, []any{true, false, nil, nil, nil}},
		"value_mixed":   {arrow.BinaryTypes.String, []any{"1", "one", nil, nil, "true"}},
		"value_nested":  {arrow.BinaryTypes.String, []any{`{"a":[1]}`, nil, nil, nil, nil}},
		"value_user":    {arrow.BinaryTypes.String, []any{nil, nil, nil, nil, nil}},
		"value_extra":   {arrow.BinaryTypes.String, []any{nil, nil, nil, nil, "new"}},
	}
	s := tbl.Schema()
	if got := s.NumFields() - 18; got != len(want) {
		t.Fatalf("%d JSON columns, want %d: %s", got, len(want), s)
	}
	for name, w := range want {
		idx := s.FieldIndices(name)
		if len(idx) != 1 {
			t.Fatalf("no column %s in %s", name, s)
		}
		if f := s.Field(idx[0]); !arrow.TypeEqual(f.Type, w.typ) {
			t.Fatalf("%s is %s, want %s", name, f.Type, w.typ)
		}
		col := tbl.Column(idx[0]).Data().Chunk(0)
		for i, v := range w.vals {
			var got any
			if !col.IsNull(i) {
				got = col.GetOneForMarshal(i)
			}
			if got != v {
				t.Fatalf("%s row %d: %v (%T), want %v", name, i, got, got, v)
			}
		}
	}
	got, err := open(t, obj).Batches(context.Background(), nil, 0, 1<<20, columnar.CodecAsProduced)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("batches of a JSON object not read back byte for byte (%v)", err)
	}
}

// strata.value.format=json-columns: a value its columns rebuild byte for byte is left out of
// `value` (json_value true); every other value is kept whole; Fetch reads all of them back byte
// for byte.
func TestJSONValuesRebuilt(t *testing.T) {
	values := []struct {
		v       string
		rebuilt bool
	}{
		{`{"level":"info","latency":12,"ratio":0.5,"ok":true,"msg":"a \"quoted\" \\ back\nslash\u0001"}`, true},
		{`{"level":"warn","latency":-7,"ratio":2,"ok":false}`, true},
		{`{}`, true},
		{`{"level":"error"}`, true},
		{`{"level": "info"}`, false},                               // whitespace
		{`{"latency":1,"level":"info"}`, false},                    // not in column order
		{`{"level":"caf\u00e9"}`, false},                           // an escape JSON does not require
		{`{"level":"x\/y"}`, false},                                // likewise
		{`{"level":"info","ratio":1.50}`, false},                   // not strconv's float
		{`{"level":"info","ratio":1e3}`, false},                    // likewise
		{`{"level":null}`, false},                                  // a null field
		{`{"level":"a","level":"b"}`, false},                       // a repeated name
		{`{"nested":{"a":1}}`, false},                              // a column of JSON text
		{`{"level":"info","latency":99999999999999999999}`, false}, // a float column's overflow
		{"{\"level\":\"\xff\"}", false},                            // invalid UTF-8
		{`[1,2]`, false},
		{`not json`, false},
		{``, false},
	}
	var data []byte
	for i, v := range values {
		data = segment.AppendBatch(data, segment.NewBatch{BaseOffset: int64(i), FirstTimestamp: 1000 + int64(i), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			Records: []segment.Record{{Timestamp: 1000 + int64(i), Value: []byte(v.v)}}})
	}
	// A tombstone: no value at all.
	data = segment.AppendBatch(data, segment.NewBatch{BaseOffset: int64(len(values)), FirstTimestamp: 2000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []segment.Record{{Timestamp: 2000, Key: []byte("k")}}})
	obj, _ := writeObject(t, data, columnar.Options{ValueFormat: columnar.ValueJSONColumns})
	tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(obj), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	s := tbl.Schema()
	flag := tbl.Column(s.FieldIndices("json_value")[0]).Data().Chunk(0).(*array.Boolean)
	value := tbl.Column(s.FieldIndices("value")[0]).Data().Chunk(0).(*array.Binary)
	for i, v := range values {
		if flag.Value(i) != v.rebuilt || value.IsNull(i) != v.rebuilt {
			t.Errorf("%q: json_value %v, value null %v; want both %v", v.v, flag.Value(i), value.IsNull(i), v.rebuilt)
		}
		if !v.rebuilt && string(value.Value(i)) != v.v {
			t.Errorf("%q: value %q", v.v, value.Value(i))
		}
	}
	if last := len(values); flag.Value(last) || !value.IsNull(last) {
		t.Errorf("tombstone: json_value %v, value null %v", flag.Value(last), value.IsNull(last))
	}
	got, err := open(t, obj).Batches(context.Background(), nil, 0, 1<<20, columnar.CodecAsProduced)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("batches not read back byte for byte (%v)", err)
	}
}

// Values with more distinct field names than MaxJSONColumns: the first names get columns, the
// rest stay in value only, and every value reads back as it was, in both JSON formats.
func TestJSONColumnsCapped(t *testing.T) {
	var data []byte
	for i := range 3 {
		var v bytes.Buffer
		v.WriteString("{")
		for f := range columnar.MaxJSONColumns / 2 {
			if f > 0 {
				v.WriteString(",")
			}
			fmt.Fprintf(&v, `"f%d":%d`, i*columnar.MaxJSONColumns/2+f, f)
		}
		v.WriteString("}")
		data = segment.AppendBatch(data, segment.NewBatch{BaseOffset: int64(i), FirstTimestamp: 1000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
			Records: []segment.Record{{Timestamp: 1000, Value: v.Bytes()}}})
	}
	for _, format := range []columnar.ValueFormat{columnar.ValueJSON, columnar.ValueJSONColumns} {
		obj, _ := writeObject(t, data, columnar.Options{ValueFormat: format})
		tbl, err := pqarrow.ReadTable(context.Background(), bytes.NewReader(obj), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		s := tbl.Schema()
		cols := 0
		for _, f := range s.Fields() {
			if strings.HasPrefix(f.Name, columnar.JSONPrefix) {
				cols++
			}
		}
		last := fmt.Sprintf("%sf%d", columnar.JSONPrefix, columnar.MaxJSONColumns-1)
		if cols != columnar.MaxJSONColumns || len(s.FieldIndices(last)) != 1 || len(s.FieldIndices(last+"0")) != 0 {
			t.Fatalf("format %v: %d JSON columns (want %d, the last %s)", format, cols, columnar.MaxJSONColumns, last)
		}
		tbl.Release()
		got, err := open(t, obj).Batches(context.Background(), nil, 0, 1<<20, columnar.CodecAsProduced)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("format %v: batches not read back byte for byte (%v)", format, err)
		}
	}
}

// Objects of layout version 1 (no json_value column; written before version 2) still read: the
// object in testdata/v1 holds the batches next to it, JSON log records of a json topic.
func TestLayoutVersion1Reads(t *testing.T) {
	data, err := os.ReadFile("testdata/v1/json.batches")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := os.ReadFile("testdata/v1/json.parquet")
	if err != nil {
		t.Fatal(err)
	}
	o := open(t, obj)
	got, err := o.Batches(context.Background(), nil, 0, 1<<30, columnar.CodecAsProduced)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("version 1 object not read back byte for byte (%v)", err)
	}
	if off, _, found, err := o.FindTimestamp(context.Background(), 0, 50); err != nil || !found || off != 50 {
		t.Fatalf("FindTimestamp from 50: %d %v %v", off, found, err)
	}
}
