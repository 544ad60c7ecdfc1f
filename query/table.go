package query

import (
	"context"
	"iter"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Columns of every topic's table, in order. JSON fields of strata.value.format=json topics are
// not columns yet: they are read with DuckDB's JSON functions over value (value->>'$.level');
// typed columns come with the Parquet tier, whose objects carry them (see columns).
var tableColumns = []struct {
	name string
	typ  duckdb.Type
}{
	{"partition", duckdb.TYPE_INTEGER},
	{"offset", duckdb.TYPE_BIGINT},
	{"timestamp", duckdb.TYPE_TIMESTAMP},
	{"key", duckdb.TYPE_VARCHAR},
	{"value", duckdb.TYPE_VARCHAR},
	{"headers", duckdb.TYPE_LIST},
}

// columns returns the table's column infos. It is the seam for typed JSON columns: a topic whose
// objects carry a schema would append its fields here, and the source would fill them.
func columns() ([]duckdb.ColumnInfo, error) {
	out := make([]duckdb.ColumnInfo, 0, len(tableColumns))
	for _, c := range tableColumns {
		var ti duckdb.TypeInfo
		var err error
		if c.typ == duckdb.TYPE_LIST {
			ti, err = headersType()
		} else {
			ti, err = duckdb.NewTypeInfo(c.typ)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, duckdb.ColumnInfo{Name: c.name, T: ti})
	}
	return out, nil
}

// headersType is LIST(STRUCT(key VARCHAR, value VARCHAR)): Kafka allows repeated header keys, which
// a MAP would not.
func headersType() (duckdb.TypeInfo, error) {
	v, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return nil, err
	}
	k, err := duckdb.NewStructEntry(v, "key")
	if err != nil {
		return nil, err
	}
	val, err := duckdb.NewStructEntry(v, "value")
	if err != nil {
		return nil, err
	}
	st, err := duckdb.NewStructInfo(k, val)
	if err != nil {
		return nil, err
	}
	return duckdb.NewListInfo(st)
}

// source is one table reference's scan, as DuckDB pulls it chunk by chunk (one DuckDB thread at a
// time). The scanner runs as a pull iterator, so its buffers stay valid while a chunk is filled.
type source struct {
	cols []duckdb.ColumnInfo
	sc   *scanner
	ctx  context.Context
	next func() (row, bool)
	stop func()
	err  error
}

var _ duckdb.ChunkTableSource = (*source)(nil)

func (s *source) ColumnInfos() []duckdb.ColumnInfo     { return s.cols }
func (s *source) Cardinality() *duckdb.CardinalityInfo { return nil }

func (s *source) Init() {
	var seq iter.Seq[row] = func(yield func(row) bool) {
		s.err = s.sc.scan(s.ctx, yield)
	}
	s.next, s.stop = iter.Pull(seq)
}

// close ends the scan if DuckDB stopped pulling early (a LIMIT). Called once the query is over.
func (s *source) close() {
	if s.stop != nil {
		s.stop()
	}
}

func (s *source) FillChunk(c duckdb.DataChunk) error {
	n, capacity := 0, duckdb.GetDataChunkCapacity()
	_, err := c.GetVector(5)
	headers := err == nil // unprojected columns have no vector: skip decoding them
	for n < capacity {
		r, ok := s.next()
		if !ok {
			break
		}
		if err := fill(c, n, r, headers); err != nil {
			return err
		}
		n++
	}
	if n == 0 && s.err != nil {
		return s.err
	}
	return c.SetSize(n)
}

// fill writes r at row n of c. Unprojected columns are skipped by the driver; headers are
// decoded only when projected.
func fill(c duckdb.DataChunk, n int, r row, headers bool) error {
	if err := duckdb.SetChunkValue(c, 0, n, r.partition); err != nil {
		return err
	}
	if err := duckdb.SetChunkValue(c, 1, n, r.rec.Offset); err != nil {
		return err
	}
	if err := duckdb.SetChunkValue(c, 2, n, time.UnixMilli(r.rec.Timestamp).UTC()); err != nil {
		return err
	}
	if err := setString(c, 3, n, r.rec.Key); err != nil {
		return err
	}
	if err := setString(c, 4, n, r.rec.Value); err != nil {
		return err
	}
	if headers {
		return duckdb.SetChunkValue(c, 5, n, headersOf(r.rec.Raw))
	}
	return nil
}

func setString(c duckdb.DataChunk, col, n int, b []byte) error {
	if b == nil {
		return duckdb.SetChunkValue[any](c, col, n, nil)
	}
	return duckdb.SetChunkValue(c, col, n, string(b))
}

// headersOf decodes a stored record's headers ([] when it has none or they cannot be read: the
// record was validated when it was produced).
func headersOf(raw []byte) []any {
	var rec kmsg.Record
	if len(raw) == 0 || rec.ReadFrom(raw) != nil || len(rec.Headers) == 0 {
		return []any{}
	}
	out := make([]any, len(rec.Headers))
	for i, h := range rec.Headers {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		out[i] = map[string]any{"key": h.Key, "value": v}
	}
	return out
}
