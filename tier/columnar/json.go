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
// An object gets at most MaxJSONColumns of them, in the order the names first appear: fields of
// names past that stay in `value` only (a value holding one is never left out of it as rebuilt),
// so that values with thousands of distinct names cannot make an object of thousands of columns,
// each slow to write and read.

// MaxJSONColumns is the most JSON columns one object has.
const MaxJSONColumns = 256

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

// jsonSpan is one top-level field of a row's value: its column and where its JSON value lies in
// the value.
type jsonSpan struct {
	col        int32
	start, end int32
}

func newJSONColumns() *jsonColumns { return &jsonColumns{index: make(map[string]int)} }

// add finds the top-level fields of value when it is a JSON object, adds a column for each new
// name and widens the columns' kinds by the field's value, and appends the fields' spans to spans.
// fs is scratch space, returned for reuse.
func (j *jsonColumns) add(spans []jsonSpan, fs []jsonField, value []byte) ([]jsonSpan, []jsonField) {
	fs, ok := appendObjectFields(fs[:0], value)
	if !ok {
		return spans, fs
	}
	for _, f := range fs {
		i, seen := j.index[string(f.name)]
		if !seen {
			if len(f.name) == 0 || len(j.names) >= MaxJSONColumns {
				continue
			}
			i = len(j.names)
			j.index[string(f.name)] = i
			j.names = append(j.names, string(f.name))
			j.kinds = append(j.kinds, kNone)
		}
		raw := value[f.start:f.end]
		j.kinds[i] = widen(j.kinds[i], kindOf(raw))
		spans = append(spans, jsonSpan{col: int32(i), start: int32(f.start), end: int32(f.end)})
	}
	return spans, fs
}

// kind is column i's type: a column that only held nulls is a string column.
func (j *jsonColumns) kind(i int) jsonKind {
	if j.kinds[i] == kNone {
		return kString
	}
	return j.kinds[i]
}

// jsonField is a top-level field of a JSON object: its name (decoded) and where its value lies.
type jsonField struct {
	name       []byte
	start, end int
}

// objectFields returns the top-level fields of v, in order, when v is a JSON object (a repeated
// name keeps its last value, as encoding/json does), their raw values aliasing v.
func objectFields(v []byte) (names []string, raws [][]byte, ok bool) {
	fs, ok := appendObjectFields(nil, v)
	for _, f := range fs {
		names = append(names, string(f.name))
		raws = append(raws, v[f.start:f.end])
	}
	return names, raws, ok
}

// appendObjectFields appends to fs the top-level fields of v when v is valid JSON and an object (a
// repeated name keeps its first place and its last value, as encoding/json does); a name aliases v
// unless it holds escapes or invalid UTF-8. One pass both checks v as json.Valid would (fuzzed
// against it) and finds where each name and value start and end.
func appendObjectFields(fs []jsonField, v []byte) ([]jsonField, bool) {
	lo, hi := 0, len(v)
	for lo < hi && isSpace(v[lo]) { // JSON's whitespace only: TrimSpace would also drop \v, \f, U+0085, U+00A0
		lo++
	}
	for hi > lo && isSpace(v[hi-1]) {
		hi--
	}
	if hi-lo < 2 || v[lo] != '{' {
		return fs, false
	}
	v = v[:hi]
	first := len(fs)
	fail := func() ([]jsonField, bool) { return fs[:first], false }
	p := skipSpace(v, lo+1)
	if p < len(v) && v[p] == '}' {
		return fs, p+1 == len(v)
	}
	for {
		if p >= len(v) || v[p] != '"' {
			return fail()
		}
		end := scanString(v, p)
		if end < 0 {
			return fail()
		}
		name := v[p+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) { // as encoding/json decodes it
			var s string
			if json.Unmarshal(v[p:end], &s) != nil {
				return fail()
			}
			name = []byte(s)
		}
		p = skipSpace(v, end)
		if p >= len(v) || v[p] != ':' {
			return fail()
		}
		p = skipSpace(v, p+1)
		vend := scanValue(v, p, 1)
		if vend < 0 {
			return fail()
		}
		if i := slices.IndexFunc(fs[first:], func(x jsonField) bool { return bytes.Equal(x.name, name) }); i >= 0 {
			fs[first+i].start, fs[first+i].end = p, vend
		} else {
			fs = append(fs, jsonField{name: name, start: p, end: vend})
		}
		p = skipSpace(v, vend)
		switch {
		case p >= len(v):
			return fail()
		case v[p] == '}':
			if p+1 != len(v) {
				return fail()
			}
			return fs, true
		case v[p] != ',':
			return fail()
		}
		p = skipSpace(v, p+1)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(v []byte, p int) int {
	for p < len(v) && isSpace(v[p]) {
		p++
	}
	return p
}

// maxDepth is the nesting encoding/json accepts.
const maxDepth = 10000

// scanValue returns one past the end of the valid JSON value starting at v[p] (no whitespace
// before it), inside depth containers, or -1 when there is none.
func scanValue(v []byte, p, depth int) int {
	if p >= len(v) {
		return -1
	}
	switch c := v[p]; {
	case c == '"':
		return scanString(v, p)
	case c == '{', c == '[':
		if depth >= maxDepth {
			return -1
		}
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p = skipSpace(v, p+1)
		if p < len(v) && v[p] == closing {
			return p + 1
		}
		for {
			if c == '{' {
				if p >= len(v) || v[p] != '"' {
					return -1
				}
				if p = scanString(v, p); p < 0 {
					return -1
				}
				if p = skipSpace(v, p); p >= len(v) || v[p] != ':' {
					return -1
				}
				p = skipSpace(v, p+1)
			}
			if p = scanValue(v, p, depth+1); p < 0 {
				return -1
			}
			switch p = skipSpace(v, p); {
			case p >= len(v):
				return -1
			case v[p] == closing:
				return p + 1
			case v[p] != ',':
				return -1
			}
			p = skipSpace(v, p+1)
		}
	case c == '-' || isDigit(c):
		return scanNumber(v, p)
	}
	for _, lit := range [...]string{"true", "false", "null"} {
		if bytes.HasPrefix(v[p:], []byte(lit)) {
			return p + len(lit)
		}
	}
	return -1
}

// scanString returns one past the closing quote of the valid JSON string opening at v[p], or -1.
// Bytes that are not valid UTF-8 are accepted, as by encoding/json.
func scanString(v []byte, p int) int {
	for p++; p < len(v); p++ {
		switch c := v[p]; {
		case c == '"':
			return p + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if p++; p >= len(v) {
				return -1
			}
			switch v[p] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p+4 >= len(v) {
					return -1
				}
				for _, h := range v[p+1 : p+5] {
					if !isDigit(h) && (h|0x20 < 'a' || h|0x20 > 'f') {
						return -1
					}
				}
				p += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// scanNumber returns one past the end of the valid JSON number starting at v[p], or -1.
func scanNumber(v []byte, p int) int {
	digits := func() bool {
		q := p
		for p < len(v) && isDigit(v[p]) {
			p++
		}
		return p > q
	}
	if v[p] == '-' {
		p++
	}
	switch {
	case p < len(v) && v[p] == '0':
		p++
	case !digits():
		return -1
	}
	if p < len(v) && v[p] == '.' {
		if p++; !digits() {
			return -1
		}
	}
	if p < len(v) && (v[p] == 'e' || v[p] == 'E') {
		if p++; p < len(v) && (v[p] == '+' || v[p] == '-') {
			p++
		}
		if !digits() {
			return -1
		}
	}
	return p
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func kindOf(raw []byte) jsonKind {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return kNone
	case raw[0] == '"':
		return kString
	case string(raw) == "true" || string(raw) == "false":
		return kBool
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		if _, ok := parseInt(raw); ok {
			return kInt
		}
		return kFloat
	}
	return kText
}

// parseInt parses a JSON number that is an integer within int64, as strconv.ParseInt would
// (without allocating): false for a fraction, an exponent or an overflow.
func parseInt(raw []byte) (int64, bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	d := raw
	if neg {
		d = raw[1:]
	}
	if len(d) == 0 || len(d) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0') // 19 digits fit a uint64
	}
	switch {
	case neg && n <= 1<<63:
		return int64(-n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
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
		switch j.kind(i) {
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

// jsonBuilder appends rows' fields to the JSON columns' builders of one record batch.
type jsonBuilder struct {
	j    *jsonColumns
	bs   []array.Builder
	at   []int32 // per column: the row's span, or -1
	text []byte  // scratch for unquoted strings
}

func (j *jsonColumns) builder(rb *array.RecordBuilder, first int) *jsonBuilder {
	if j == nil {
		return nil
	}
	jb := &jsonBuilder{j: j, bs: make([]array.Builder, len(j.names)), at: make([]int32, len(j.names))}
	for i := range jb.bs {
		jb.bs[i] = rb.Field(first + i)
	}
	return jb
}

// reserve makes room for rows, whose fields are spans[r.spans:r.spans+r.nspans]: a string
// column's text is at most its raw spans' bytes (unquoting only shortens), so the builders then
// append without growing, which for the text columns of 1 KiB log records was an eighth of the
// writer's garbage.
func (jb *jsonBuilder) reserve(rows []row, spans []jsonSpan) {
	if jb == nil {
		return
	}
	text := make([]int, len(jb.bs))
	for _, r := range rows {
		for _, sp := range spans[r.spans : r.spans+r.nspans] {
			text[sp.col] += int(sp.end - sp.start)
		}
	}
	for i, b := range jb.bs {
		b.Reserve(len(rows))
		if sb, ok := b.(*array.StringBuilder); ok && text[i] > 0 {
			sb.ReserveData(text[i])
		}
	}
}

// append appends the row whose value is value and whose fields are spans.
func (jb *jsonBuilder) append(value []byte, spans []jsonSpan) {
	if jb == nil {
		return
	}
	for i := range jb.at {
		jb.at[i] = -1
	}
	for s, sp := range spans {
		jb.at[sp.col] = int32(s)
	}
	for i, s := range jb.at {
		b := jb.bs[i]
		var raw []byte
		if s >= 0 {
			raw = value[spans[s].start:spans[s].end]
		}
		if kindOf(raw) == kNone {
			b.AppendNull()
			continue
		}
		switch jb.j.kind(i) {
		case kInt:
			n, _ := parseInt(raw)
			b.(*array.Int64Builder).Append(n)
		case kFloat:
			f, _ := strconv.ParseFloat(string(raw), 64)
			b.(*array.Float64Builder).Append(f)
		case kBool:
			b.(*array.BooleanBuilder).Append(string(raw) == "true")
		default:
			b.(*array.StringBuilder).BinaryBuilder.Append(jb.unquote(raw))
		}
	}
}

// unquote is a JSON string's decoded text (as encoding/json decodes it), or raw itself when raw is
// any other JSON value. The result may alias raw or jb's scratch space.
func (jb *jsonBuilder) unquote(raw []byte) []byte {
	if len(raw) >= 2 && raw[0] == '"' {
		if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return in
		}
	}
	jb.text = unquote(jb.text[:0], raw)
	return jb.text
}

// Values rebuilt from their columns (ValueJSONColumns): a value is left out of `value` (json_value
// true) when it is exactly the text appendObject makes of its row's JSON columns: the fields
// that are not null, in column order, with no whitespace, integers and floats as strconv formats
// them ('g', shortest), strings escaped only where JSON requires it. The writer builds that text
// and compares it with the value byte for byte; a reader builds it again from the columns.

// rebuildValue appends to dst the text appendObject would make of row r's fields, and reports
// whether it is r's value byte for byte. A field that is null, a repeated name, fields out of
// column order, and a field of a column of mixed kinds (JSON text) never match.
func (j *jsonColumns) rebuildValue(dst []byte, value []byte, spans []jsonSpan) ([]byte, bool) {
	if value == nil {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	last := int32(-1)
	var text []byte
	for _, sp := range spans {
		raw := value[sp.start:sp.end]
		if sp.col <= last || kindOf(raw) == kNone {
			return dst, false
		}
		last = sp.col
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, j.names[sp.col])
		dst = append(dst, ':')
		switch j.kind(int(sp.col)) {
		case kInt:
			n, _ := parseInt(raw)
			dst = strconv.AppendInt(dst, n, 10)
		case kFloat:
			f, _ := strconv.ParseFloat(string(raw), 64)
			dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
		case kBool:
			dst = append(dst, raw...)
		case kString:
			text = unquote(text[:0], raw)
			dst = appendJSONString(dst, string(text))
		default:
			return dst, false
		}
		if len(dst)-start > len(value) || !bytes.Equal(dst[start:], value[:len(dst)-start]) {
			return dst, false
		}
	}
	dst = append(dst, '}')
	return dst, bytes.Equal(dst[start:], value)
}

// unquote appends to dst a JSON string's decoded text, as encoding/json decodes it (raw is valid
// JSON), or raw itself when raw is any other JSON value.
func unquote(dst, raw []byte) []byte {
	if len(raw) < 2 || raw[0] != '"' {
		return append(dst, raw...)
	}
	if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return append(dst, in...)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return append(dst, raw...)
	}
	return append(dst, s...)
}

// appendJSONString appends s as a JSON string, escaping only '"', '\\' and control characters.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	from := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[from:i]...)
		from = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	dst = append(dst, s[from:]...)
	return append(dst, '"')
}
