package columnar_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
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
	if got := s.NumFields() - 17; got != len(want) {
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
