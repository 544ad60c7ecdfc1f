package columnar

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// JSON columns (strata.value.format=json): each top-level field of the values that are JSON objects
// becomes a nullable column named JSONPrefix+field, typed by the values the object holds:
//
//	all integers (within int64)        int64
//	numbers, some with a fraction      float64
//	all true/false                     bool
//	all strings                        string
//	anything else, or a mix            string: each value's JSON text (strings unquoted)
//
// JSON null, a missing field, and a value that is not a JSON object are null in every JSON column.

type jsonKind uint8

const (
	kNone jsonKind = iota // only nulls seen
	kInt
	kFloat
	kBool
	kString
	kText // mixed or nested: JSON text
)

type jsonColumns struct {
	names []string
	kinds []jsonKind
	index map[string]int
}

// jsonColumns infers the JSON columns of the added rows, or returns nil without ValueJSON.
func (w *Writer) jsonColumns() *jsonColumns {
	if w.opts.ValueFormat != ValueJSON {
		return nil
	}
	j := &jsonColumns{index: make(map[string]int)}
	for _, r := range w.rows {
		fields, ok := objectFields(r.value)
		if !ok {
			continue
		}
		for _, f := range fields {
			i, seen := j.index[f.name]
			if !seen {
				if f.name == "" {
					continue
				}
				i = len(j.names)
				j.index[f.name] = i
				j.names = append(j.names, f.name)
				j.kinds = append(j.kinds, kNone)
			}
			j.kinds[i] = widen(j.kinds[i], kindOf(f.raw))
		}
	}
	for i, k := range j.kinds {
		if k == kNone {
			j.kinds[i] = kString
		}
	}
	return j
}

type jsonField struct {
	name string
	raw  json.RawMessage
}

// objectFields returns the top-level fields of v, in order, when v is a JSON object (a repeated
// name keeps its last value, as encoding/json does). json.Valid checks v first; the scan below
// then only finds where each name and value start and end.
func objectFields(v []byte) ([]jsonField, bool) {
	v = bytes.Trim(v, " \t\n\r") // JSON's whitespace only: TrimSpace would also drop \v, \f, U+0085, U+00A0
	if len(v) < 2 || v[0] != '{' || !json.Valid(v) {
		return nil, false
	}
	var fs []jsonField
	p := skipSpace(v, 1)
	if v[p] == '}' {
		return fs, true
	}
	for p < len(v) {
		end := stringEnd(v, p)
		name := string(v[p+1 : end-1])
		if bytes.IndexByte(v[p:end], '\\') >= 0 || !utf8.Valid(v[p:end]) { // as encoding/json decodes it
			if json.Unmarshal(v[p:end], &name) != nil {
				return nil, false
			}
		}
		p = skipSpace(v, end)
		p = skipSpace(v, p+1) // the colon
		vend := valueEnd(v, p)
		f := jsonField{name: name, raw: v[p:vend]}
		if i := slices.IndexFunc(fs, func(x jsonField) bool { return x.name == name }); i >= 0 {
			fs[i] = f
		} else {
			fs = append(fs, f)
		}
		p = skipSpace(v, vend)
		if v[p] == '}' {
			break
		}
		p = skipSpace(v, p+1) // the comma
	}
	return fs, true
}

func skipSpace(v []byte, p int) int {
	for p < len(v) && (v[p] == ' ' || v[p] == '\t' || v[p] == '\n' || v[p] == '\r') {
		p++
	}
	return p
}

// stringEnd is one past the closing quote of the string opening at v[p].
func stringEnd(v []byte, p int) int {
	for p++; p < len(v); p++ {
		switch v[p] {
		case '\\':
			p++
		case '"':
			return p + 1
		}
	}
	return len(v)
}

// valueEnd is one past the end of the (valid) JSON value starting at v[p].
func valueEnd(v []byte, p int) int {
	switch v[p] {
	case '"':
		return stringEnd(v, p)
	case '{', '[':
		depth := 0
		for ; p < len(v); p++ {
			switch v[p] {
			case '"':
				p = stringEnd(v, p) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return p + 1
				}
			}
		}
		return len(v)
	}
	for p < len(v) && v[p] != ',' && v[p] != '}' && v[p] != ']' && v[p] != ' ' && v[p] != '\t' && v[p] != '\n' && v[p] != '\r' {
		p++
	}
	return p
}

func kindOf(raw json.RawMessage) jsonKind {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return kNone
	case raw[0] == '"':
		return kString
	case string(raw) == "true" || string(raw) == "false":
		return kBool
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if _, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return kInt
		}
		return kFloat
	}
	return kText
}

// widen is the kind of a column that has held a and then holds b.
func widen(a, b jsonKind) jsonKind {
	switch {
	case a == b || b == kNone:
		return a
	case a == kNone:
		return b
	case (a == kInt && b == kFloat) || (a == kFloat && b == kInt):
		return kFloat
	}
	return kText
}

func (j *jsonColumns) fields() []arrow.Field {
	if j == nil {
		return nil
	}
	fs := make([]arrow.Field, len(j.names))
	for i, n := range j.names {
		var t arrow.DataType
		switch j.kinds[i] {
		case kInt:
			t = arrow.PrimitiveTypes.Int64
		case kFloat:
			t = arrow.PrimitiveTypes.Float64
		case kBool:
			t = arrow.FixedWidthTypes.Boolean
		default:
			t = arrow.BinaryTypes.String
		}
		fs[i] = arrow.Field{Name: JSONPrefix + n, Type: t, Nullable: true}
	}
	return fs
}

// append appends value's fields to the JSON columns' builders, from field index first on.
func (j *jsonColumns) append(rb *array.RecordBuilder, first int, value []byte) {
	if j == nil {
		return
	}
	vals := make([]json.RawMessage, len(j.names))
	if fields, ok := objectFields(value); ok {
		for _, f := range fields {
			if i, ok := j.index[f.name]; ok {
				vals[i] = f.raw
			}
		}
	}
	for i, raw := range vals {
		b := rb.Field(first + i)
		if kindOf(raw) == kNone {
			b.AppendNull()
			continue
		}
		switch j.kinds[i] {
		case kInt:
			n, _ := strconv.ParseInt(string(raw), 10, 64)
			b.(*array.Int64Builder).Append(n)
		case kFloat:
			f, _ := strconv.ParseFloat(string(raw), 64)
			b.(*array.Float64Builder).Append(f)
		case kBool:
			b.(*array.BooleanBuilder).Append(string(raw) == "true")
		default:
			var s string
			if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
				s = string(raw)
			}
			b.(*array.StringBuilder).Append(s)
		}
	}
}
