package query

import (
	"context"
	"fmt"
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
// time). The scanner runs on its own goroutine, started by the first FillChunk and stopped by
// close, and hands rows over in blocks it no longer touches (DuckDB calls in on threads that cgo
// locks, so the scan cannot be a coroutine of them).
type source struct {
	cols   []duckdb.ColumnInfo
	sc     *scanner
	ctx    context.Context
	failed func(error) // tells the query why the scan failed

	started bool
	cancel  context.CancelFunc
	blocks  chan []outRow
	done    chan struct{}
	err     error // the scan's, set before done closes
	pending []outRow
}

// outRow is a row copied out of the scanner's buffers.
type outRow struct {
	partition         int32
	offset, timestamp int64
	key, value        *string
	headers           []any // nil when not projected
}

// rowsPerBlock is how many rows the scan hands over at once.
const rowsPerBlock = 512

var _ duckdb.ChunkTableSource = (*source)(nil)

func (s *source) ColumnInfos() []duckdb.ColumnInfo     { return s.cols }
func (s *source) Cardinality() *duckdb.CardinalityInfo { return nil }
func (s *source) Init()                                {}

func (s *source) start(headers bool) {
	s.started = true
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel, s.blocks, s.done = cancel, make(chan []outRow, 4), make(chan struct{})
	go func() {
		defer close(s.done)
		defer close(s.blocks)
		block := make([]outRow, 0, rowsPerBlock)
		send := func() bool {
			select {
			case s.blocks <- block:
				block = make([]outRow, 0, rowsPerBlock)
				return true
			case <-ctx.Done():
				return false
			}
		}
		err := s.sc.scan(ctx, func(r row) bool {
			o := outRow{partition: r.partition, offset: r.rec.Offset, timestamp: r.rec.Timestamp,
				key: str(r.rec.Key), value: str(r.rec.Value)}
			if headers {
				o.headers = headersOf(r.rec.Raw)
			}
			block = append(block, o)
			return len(block) < rowsPerBlock || send()
		})
		if err == nil && len(block) > 0 {
			send()
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			s.failed(err)
		}
		s.err = err
	}()
}

func str(b []byte) *string {
	if b == nil {
		return nil
	}
	v := string(b)
	return &v
}

// close stops the scan if DuckDB stopped pulling early (a LIMIT) and waits for it. Called once
// the query is over; idempotent.
func (s *source) close() {
	if s.started {
		s.cancel()
		<-s.done
	}
}

func (s *source) FillChunk(c duckdb.DataChunk) error {
	_, err := c.GetVector(5)
	headers := err == nil // unprojected columns have no vector: skip decoding them
	if !s.started {
		s.start(headers)
	}
	n, capacity := 0, duckdb.GetDataChunkCapacity()
	for n < capacity {
		if len(s.pending) == 0 {
			b, ok := <-s.blocks
			if !ok {
				break
			}
			s.pending = b
		}
		if err := fill(c, n, s.pending[0], headers); err != nil {
			err = fmt.Errorf("query: filling a chunk: %w", err)
			s.failed(err)
			return err
		}
		s.pending = s.pending[1:]
		n++
	}
	if n == 0 {
		<-s.done
		if s.err != nil {
			return s.err
		}
	}
	return c.SetSize(n)
}

// fill writes r at row n of c. Unprojected columns are skipped by the driver.
func fill(c duckdb.DataChunk, n int, r outRow, headers bool) error {
	if err := duckdb.SetChunkValue(c, 0, n, r.partition); err != nil {
		return err
	}
	if err := duckdb.SetChunkValue(c, 1, n, r.offset); err != nil {
		return err
	}
	if err := duckdb.SetChunkValue(c, 2, n, time.UnixMilli(r.timestamp).UTC()); err != nil {
		return err
	}
	if err := setString(c, 3, n, r.key); err != nil {
		return err
	}
	if err := setString(c, 4, n, r.value); err != nil {
		return err
	}
	if headers {
		return duckdb.SetChunkValue(c, 5, n, r.headers)
	}
	return nil
}

func setString(c duckdb.DataChunk, col, n int, v *string) error {
	if v == nil {
		return duckdb.SetChunkValue[any](c, col, n, nil)
	}
	return duckdb.SetChunkValue(c, col, n, *v)
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
