package query

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
)

// Formats of a result.
const (
	FormatNDJSON = "ndjson" // one JSON object per row, keys in column order
	FormatCSV    = "csv"    // a header line, then one line per row
	FormatArrow  = "arrow"  // an Arrow IPC stream
)

// ContentType is the media type of a format.
func ContentType(format string) string {
	switch format {
	case FormatCSV:
		return "text/csv; charset=utf-8"
	case FormatArrow:
		return "application/vnd.apache.arrow.stream"
	}
	return "application/x-ndjson"
}

// Encoder writes a result's rows in one format. Close flushes what is buffered.
type Encoder interface {
	Row(vals []any) error
	Close() error
}

// NewEncoder returns an Encoder of format for rows with cols.
func NewEncoder(w io.Writer, format string, cols []Column) (Encoder, error) {
	switch format {
	case FormatNDJSON, "":
		return &ndjsonEncoder{w: w, cols: cols}, nil
	case FormatCSV:
		e := &csvEncoder{w: csv.NewWriter(w), rec: make([]string, len(cols))}
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		return e, e.w.Write(names)
	case FormatArrow:
		return newArrowEncoder(w, cols), nil
	}
	return nil, fmt.Errorf("query: unknown format %q (ndjson, csv or arrow)", format)
}

// jsonValue turns a driver value into what encoding/json renders well: times as RFC 3339 in UTC,
// big integers as numbers, maps with any keys as objects.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *big.Int:
		return json.Number(x.String())
	case duckdb.Decimal:
		return json.Number(x.String())
	case []byte:
		return string(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonValue(e)
		}
		return out
	case fmt.Stringer:
		return x.String()
	}
	return v
}

type ndjsonEncoder struct {
	w    io.Writer
	cols []Column
	buf  []byte
}

func (e *ndjsonEncoder) Row(vals []any) error {
	e.buf = append(e.buf[:0], '{')
	for i, v := range vals {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = strconv.AppendQuote(e.buf, e.cols[i].Name)
		e.buf = append(e.buf, ':')
		b, err := json.Marshal(jsonValue(v))
		if err != nil {
			return fmt.Errorf("query: column %s: %w", e.cols[i].Name, err)
		}
		e.buf = append(e.buf, b...)
	}
	e.buf = append(e.buf, '}', '\n')
	_, err := e.w.Write(e.buf)
	return err
}

func (e *ndjsonEncoder) Close() error { return nil }

type csvEncoder struct {
	w   *csv.Writer
	rec []string
}

func (e *csvEncoder) Row(vals []any) error {
	for i, v := range vals {
		e.rec[i] = text(v)
	}
	return e.w.Write(e.rec)
}

func (e *csvEncoder) Close() error {
	e.w.Flush()
	return e.w.Error()
}

// text renders a value for CSV and terminal tables: NULL is empty, nested values are JSON.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000")
	case []any, map[string]any, map[any]any:
		b, _ := json.Marshal(jsonValue(x))
		return string(b)
	}
	return fmt.Sprint(jsonValue(v))
}

// arrowBatchRows is how many rows one Arrow record batch holds.
const arrowBatchRows = 8192

// arrowEncoder maps DuckDB's column types onto Arrow: integers to int64, floating and decimal
// numbers to float64, booleans, timestamps to timestamp[ms, UTC], everything else (strings, nested
// values as JSON) to utf8.
type arrowEncoder struct {
	w      io.Writer
	schema *arrow.Schema
	b      *array.RecordBuilder
	iw     *ipc.Writer
	n      int
}

func arrowType(duck string) arrow.DataType {
	t := strings.ToUpper(duck)
	switch {
	case t == "TINYINT" || t == "SMALLINT" || t == "INTEGER" || t == "BIGINT" || t == "UTINYINT" ||
		t == "USMALLINT" || t == "UINTEGER" || t == "HUGEINT" || t == "UBIGINT":
		return arrow.PrimitiveTypes.Int64
	case t == "FLOAT" || t == "DOUBLE" || strings.HasPrefix(t, "DECIMAL"):
		return arrow.PrimitiveTypes.Float64
	case t == "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean
	case strings.HasPrefix(t, "TIMESTAMP") || t == "DATE":
		return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	}
	return arrow.BinaryTypes.String
}

func newArrowEncoder(w io.Writer, cols []Column) *arrowEncoder {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	return &arrowEncoder{w: w, schema: schema, b: array.NewRecordBuilder(memory.DefaultAllocator, schema),
		iw: ipc.NewWriter(w, ipc.WithSchema(schema))}
}

func (e *arrowEncoder) Row(vals []any) error {
	for i, v := range vals {
		fb := e.b.Field(i)
		if v == nil {
			fb.AppendNull()
			continue
		}
		switch b := fb.(type) {
		case *array.Int64Builder:
			n, err := toInt64(v)
			if err != nil {
				return err
			}
			b.Append(n)
		case *array.Float64Builder:
			f, err := toFloat64(v)
			if err != nil {
				return err
			}
			b.Append(f)
		case *array.BooleanBuilder:
			x, _ := v.(bool)
			b.Append(x)
		case *array.TimestampBuilder:
			t, ok := v.(time.Time)
			if !ok {
				return fmt.Errorf("query: column %s: %T is not a time", e.schema.Field(i).Name, v)
			}
			b.Append(arrow.Timestamp(t.UnixMilli()))
		case *array.StringBuilder:
			if s, ok := v.(string); ok {
				b.Append(s)
			} else {
				b.Append(text(v))
			}
		}
	}
	e.n++
	if e.n >= arrowBatchRows {
		return e.flush()
	}
	return nil
}

func (e *arrowEncoder) flush() error {
	if e.n == 0 {
		return nil
	}
	rec := e.b.NewRecordBatch()
	defer rec.Release()
	e.n = 0
	return e.iw.Write(rec)
}

func (e *arrowEncoder) Close() error {
	err := e.flush()
	if cerr := e.iw.Close(); err == nil {
		err = cerr
	}
	e.b.Release()
	return err
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint64:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return 0, fmt.Errorf("query: %s does not fit in an int64", x)
	}
	return 0, fmt.Errorf("query: %T is not an integer", v)
}

func toFloat64(v any) (float64, error) {
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case interface{ Float64() float64 }: // duckdb.Decimal
		return x.Float64(), nil
	}
	if n, err := toInt64(v); err == nil {
		return float64(n), nil
	}
	return 0, fmt.Errorf("query: %T is not a number", v)
}
