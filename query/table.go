package query

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
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

// Table column indexes, as tableColumns lists them.
const (
	colPartition = iota
	colOffset
	colTimestamp
	colKey
	colValue
	colHeaders
	numColumns
)

// source is one table reference's scan, as DuckDB pulls it chunk by chunk, on as many of its
// threads as the query has (each pulls from the same scan, so none waits spinning for another
// to produce). The scanner runs on goroutines of its own (its partitions' readers), started by
// the first FillChunk and stopped by close, and hands rows over in blocks it no longer touches
// (DuckDB calls in on threads that cgo locks, so the scan cannot be a coroutine of them). Only
// the columns the query uses (DuckDB's projection: a chunk has vectors of those only) are read,
// copied and filled.
type source struct {
	cols    []duckdb.ColumnInfo
	sc      *scanner
	ctx     context.Context
	failed  func(error) // tells the query why the scan failed
	threads int

	once    sync.Once
	started atomic.Bool
	proj    [numColumns]bool // set once, before the scan starts
	cancel  context.CancelFunc
	blocks  chan *block
	done    chan struct{}
	err     error // the scan's, set before done closes
}

// pulling is one DuckDB thread's part of a source: the block it fills chunks from.
type pulling struct {
	cur *block
	pos int // rows of cur filled
}

// rowsPerBlock is how many rows the scan hands over at once.
const rowsPerBlock = 2048

var _ duckdb.ParallelChunkTableSource = (*source)(nil)

func (s *source) ColumnInfos() []duckdb.ColumnInfo     { return s.cols }
func (s *source) Cardinality() *duckdb.CardinalityInfo { return nil }
func (s *source) NewLocalState() any                   { return &pulling{} }

func (s *source) Init() duckdb.ParallelTableSourceInfo {
	return duckdb.ParallelTableSourceInfo{MaxThreads: max(s.threads, 1)}
}

func (s *source) start() {
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel, s.blocks, s.done = cancel, make(chan *block, 4), make(chan struct{})
	s.sc.proj = columnar.Projection{Offset: s.proj[colOffset], Timestamp: s.proj[colTimestamp],
		Key: s.proj[colKey], Value: s.proj[colValue], Headers: s.proj[colHeaders]}
	s.started.Store(true)
	go func() {
		defer close(s.done)
		defer close(s.blocks)
		send := func(b *block) bool {
			select {
			case s.blocks <- b:
				return true
			case <-ctx.Done():
				return false
			}
		}
		err := s.sc.scan(ctx, func() rowSink { return &blockWriter{proj: s.proj, b: newBlock(), send: send} })
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			s.failed(err)
		}
		s.err = err
	}()
}

// close stops the scan if DuckDB stopped pulling early (a LIMIT) and waits for it. Called once
// the query is over (no FillChunk runs then); idempotent.
func (s *source) close() {
	if s.started.Load() {
		s.cancel()
		<-s.done
	}
}

func (s *source) FillChunk(ls any, c duckdb.DataChunk) error {
	s.once.Do(func() {
		for i := range s.proj {
			_, err := c.GetVector(i)
			s.proj[i] = err == nil // unprojected columns have no vector: neither read nor filled
		}
		s.start()
	})
	l := ls.(*pulling)
	n, capacity := 0, duckdb.GetDataChunkCapacity()
	for n < capacity {
		if l.cur == nil || l.pos == l.cur.n {
			b, ok := <-s.blocks
			if !ok {
				break
			}
			l.cur, l.pos = b, 0
		}
		k := min(capacity-n, l.cur.n-l.pos)
		if err := s.fill(c, n, l.cur, l.pos, k); err != nil {
			err = fmt.Errorf("query: filling a chunk: %w", err)
			s.failed(err)
			return err
		}
		n += k
		l.pos += k
	}
	if n == 0 {
		<-s.done
		if s.err != nil {
			return s.err
		}
	}
	return c.SetSize(n)
}

// fill writes rows [from, from+k) of b at rows [at, at+k) of c, column by column, the projected
// columns only.
func (s *source) fill(c duckdb.DataChunk, at int, b *block, from, k int) error {
	for col, on := range s.proj {
		if !on {
			continue
		}
		for i := range k {
			var err error
			row, j := at+i, from+i
			switch col {
			case colPartition:
				err = duckdb.SetChunkValue(c, col, row, b.partition[j])
			case colOffset:
				err = duckdb.SetChunkValue(c, col, row, b.offset[j])
			case colTimestamp:
				err = duckdb.SetChunkValue(c, col, row, time.UnixMilli(b.timestamp[j]).UTC())
			case colKey:
				err = setBytes(c, col, row, b.bytes(b.key[j]))
			case colValue:
				err = setBytes(c, col, row, b.bytes(b.value[j]))
			case colHeaders:
				err = duckdb.SetChunkValue(c, col, row, b.headers[j])
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func setBytes(c duckdb.DataChunk, col, n int, v []byte) error {
	if v == nil {
		return duckdb.SetChunkValue[any](c, col, n, nil)
	}
	return duckdb.SetChunkValue(c, col, n, v)
}

// block is up to rowsPerBlock rows as a scan hands them over, column by column: only the
// projected columns are filled; keys and values are copied into arena.
type block struct {
	n          int
	partition  []int32
	offset     []int64
	timestamp  []int64 // Unix milliseconds
	key, value []span
	headers    [][]any
	arena      []byte
}

// span is [start, end) of a block's arena; start < 0 is null.
type span struct{ start, end int32 }

func newBlock() *block { return &block{} }

func (b *block) bytes(s span) []byte {
	if s.start < 0 {
		return nil
	}
	return b.arena[s.start:s.end:s.end]
}

func (b *block) put(v []byte) span {
	if v == nil {
		return span{-1, -1}
	}
	start := len(b.arena)
	b.arena = append(b.arena, v...)
	return span{int32(start), int32(len(b.arena))}
}

// blockWriter is the rowSink of a source's scan: it copies the projected columns of each row into
// its block and sends the block when full.
type blockWriter struct {
	proj [numColumns]bool
	b    *block
	send func(*block) bool
	hs   []columnar.Header
}

// next sends the block when it is full and starts another; false when the scan is to stop.
func (w *blockWriter) next() bool {
	if w.b.n < rowsPerBlock && len(w.b.arena) < maxArena {
		return true
	}
	ok := w.send(w.b)
	w.b = newBlock()
	return ok
}

func (w *blockWriter) end() bool {
	if w.b.n == 0 {
		return true
	}
	ok := w.send(w.b)
	w.b = newBlock()
	return ok
}

// maxArena bounds a block's copied keys and values (spans are int32).
const maxArena = 64 << 20

func (w *blockWriter) record(partition int32, r *segment.StoredRecord) bool {
	b := w.b
	if w.proj[colPartition] {
		b.partition = append(b.partition, partition)
	}
	if w.proj[colOffset] {
		b.offset = append(b.offset, r.Offset)
	}
	if w.proj[colTimestamp] {
		b.timestamp = append(b.timestamp, r.Timestamp)
	}
	if w.proj[colKey] {
		b.key = append(b.key, b.put(r.Key))
	}
	if w.proj[colValue] {
		b.value = append(b.value, b.put(r.Value))
	}
	if w.proj[colHeaders] {
		b.headers = append(b.headers, headersOf(r.Raw))
	}
	b.n++
	return w.next()
}

func (w *blockWriter) rows(partition int32, rs *columnar.Rows) bool {
	for _, i32 := range rs.Sel {
		i := int(i32)
		b := w.b
		if w.proj[colPartition] {
			b.partition = append(b.partition, partition)
		}
		if w.proj[colOffset] {
			b.offset = append(b.offset, rs.Offset[i])
		}
		if w.proj[colTimestamp] {
			b.timestamp = append(b.timestamp, int64(rs.Timestamp[i]))
		}
		if w.proj[colKey] {
			b.key = append(b.key, b.put(rs.Key(i)))
		}
		if w.proj[colValue] {
			b.value = append(b.value, b.put(rs.Value(i)))
		}
		if w.proj[colHeaders] {
			w.hs = rs.Headers(w.hs[:0], i)
			b.headers = append(b.headers, headerValues(w.hs))
		}
		b.n++
		if !w.next() {
			return false
		}
	}
	return true
}

// headersOf decodes a stored record's headers ([] when it has none or they cannot be read: the
// record was validated when it was produced).
func headersOf(raw []byte) []any {
	var rec kmsg.Record
	if len(raw) == 0 || rec.ReadFrom(raw) != nil || len(rec.Headers) == 0 {
		return []any{}
	}
	hs := make([]columnar.Header, len(rec.Headers))
	for i, h := range rec.Headers {
		hs[i] = columnar.Header{Key: h.Key, Value: h.Value}
	}
	return headerValues(hs)
}

// headerValues is headers as the headers column's values.
func headerValues(hs []columnar.Header) []any {
	out := make([]any, len(hs))
	for i, h := range hs {
		var v any
		if h.Value != nil {
			v = string(h.Value)
		}
		out[i] = map[string]any{"key": h.Key, "value": v}
	}
	return out
}
