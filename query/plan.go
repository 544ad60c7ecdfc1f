package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Bounds is what a statement's WHERE clause says about one topic's rows, as far as pruning is
// concerned: a superset of the rows it can select. DuckDB applies the whole WHERE clause to the
// rows read afterwards, so bounds that are too wide cost bytes, never answers. The zero value is
// not meaningful; use Unbounded.
type Bounds struct {
	// Partitions, when not nil, are the only partitions that can match (sorted, unique).
	Partitions []int32
	// MinPartition, MaxPartition bound the partition column (inclusive).
	MinPartition, MaxPartition int32
	// MinOffset, MaxOffset bound the offset column (inclusive).
	MinOffset, MaxOffset int64
	// MinTime, MaxTime bound the timestamp column in Unix milliseconds (inclusive).
	MinTime, MaxTime int64
	// Keys, when not nil, are the only keys a row can have (WHERE key = constant): Parquet row
	// groups whose key bloom filter holds none of them are skipped. Empty and not nil: no row.
	Keys [][]byte
}

// Unbounded selects every row.
func Unbounded() Bounds {
	return Bounds{MinOffset: 0, MaxOffset: math.MaxInt64, MinTime: math.MinInt64, MaxTime: math.MaxInt64,
		MinPartition: 0, MaxPartition: math.MaxInt32}
}

// HasPartition reports whether partition p can match.
func (b Bounds) HasPartition(p int32) bool {
	return p >= b.MinPartition && p <= b.MaxPartition && (b.Partitions == nil || slices.Contains(b.Partitions, p))
}

// Empty reports bounds no row can meet.
func (b Bounds) Empty() bool {
	return b.MinOffset > b.MaxOffset || b.MinTime > b.MaxTime || b.MinPartition > b.MaxPartition ||
		(b.Partitions != nil && len(b.Partitions) == 0) || (b.Keys != nil && len(b.Keys) == 0)
}

// union is the smallest Bounds holding both a and b.
func union(a, b Bounds) Bounds {
	out := Bounds{MinOffset: min(a.MinOffset, b.MinOffset), MaxOffset: max(a.MaxOffset, b.MaxOffset),
		MinTime: min(a.MinTime, b.MinTime), MaxTime: max(a.MaxTime, b.MaxTime),
		MinPartition: min(a.MinPartition, b.MinPartition), MaxPartition: max(a.MaxPartition, b.MaxPartition)}
	if a.Partitions != nil && b.Partitions != nil {
		out.Partitions = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Partitions), b.Partitions...))))
	}
	if a.Keys != nil && b.Keys != nil {
		out.Keys = slices.Clone(a.Keys)
		for _, k := range b.Keys {
			out = out.withKeyAdded(k)
		}
		// In key order: the sides of a union may come in either order.
		slices.SortFunc(out.Keys, bytes.Compare)
	}
	return out
}

// Plan is, per table a statement names, the bounds on the rows it may read. A table named in
// several places gets the union of what each place allows.
type Plan map[string]Bounds

// For returns the bounds for table, Unbounded when the plan does not know it.
func (p Plan) For(table string) Bounds {
	if b, ok := p[table]; ok {
		return b
	}
	return Unbounded()
}

// PlanFromAST derives a Plan from the output of DuckDB's json_serialize_sql for one statement.
// Only the conjuncts of a WHERE clause over a single base table are used: comparisons (=, <, <=,
// >, >=, BETWEEN) of partition, "offset" or timestamp with a constant. Anything else leaves the
// table unbounded on that column: the plan is conservative, never wrong. A parse error in
// the AST (the statement itself is checked by DuckDB when it runs) gives an empty plan.
func PlanFromAST(ast []byte) Plan {
	var root any
	if err := json.Unmarshal(ast, &root); err != nil {
		return Plan{}
	}
	p := Plan{}
	walk(root, p)
	return p
}

func walk(n any, p Plan) {
	switch v := n.(type) {
	case []any:
		for _, c := range v {
			walk(c, p)
		}
	case map[string]any:
		if v["type"] == "SELECT_NODE" {
			if ft, ok := v["from_table"].(map[string]any); ok && ft["type"] == "BASE_TABLE" {
				name, _ := ft["table_name"].(string)
				if name != "" {
					b := Unbounded()
					for _, c := range conjuncts(v["where_clause"]) {
						b = narrow(b, c)
					}
					p.add(name, b)
					for k, c := range v {
						if k != "from_table" {
							walk(c, p)
						}
					}
					return
				}
			}
		}
		if v["type"] == "BASE_TABLE" {
			if name, _ := v["table_name"].(string); name != "" {
				p.add(name, Unbounded())
			}
		}
		for _, c := range v {
			walk(c, p)
		}
	}
}

func (p Plan) add(table string, b Bounds) {
	if old, ok := p[table]; ok {
		b = union(old, b)
	}
	p[table] = b
}

// conjuncts flattens nested ANDs.
func conjuncts(n any) []map[string]any {
	m, ok := n.(map[string]any)
	if !ok {
		return nil
	}
	if m["type"] == "CONJUNCTION_AND" {
		var out []map[string]any
		ch, _ := m["children"].([]any)
		for _, c := range ch {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []map[string]any{m}
}

// flipped is the comparison with its sides swapped (5 < x is x > 5).
var flipped = map[string]string{
	"COMPARE_EQUAL": "COMPARE_EQUAL", "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
	"COMPARE_GREATERTHAN": "COMPARE_LESSTHAN", "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
	"COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
}

// narrow applies one conjunct to b.
func narrow(b Bounds, c map[string]any) Bounds {
	typ, _ := c["type"].(string)
	if typ == "COMPARE_BETWEEN" {
		col := columnOf(c["input"])
		lo, _, lok := constantOf(col, c["lower"])
		hi, _, hok := constantOf(col, c["upper"])
		if col == "" || !lok || !hok {
			return b
		}
		return apply(apply(b, col, "COMPARE_GREATERTHANOREQUALTO", lo, true), col, "COMPARE_LESSTHANOREQUALTO", hi, true)
	}
	if _, ok := flipped[typ]; !ok {
		return b
	}
	if typ == "COMPARE_EQUAL" {
		if k, ok := keyEquals(c["left"], c["right"]); ok {
			return b.withKey(k)
		}
		if k, ok := keyEquals(c["right"], c["left"]); ok {
			return b.withKey(k)
		}
	}
	if col := columnOf(c["left"]); col != "" {
		if v, exact, ok := constantOf(col, c["right"]); ok {
			return apply(b, col, typ, v, exact)
		}
	}
	if col := columnOf(c["right"]); col != "" {
		if v, exact, ok := constantOf(col, c["left"]); ok {
			return apply(b, col, flipped[typ], v, exact)
		}
	}
	return b
}

// keyEquals reads "key = constant": col a COLUMN_REF of key, v a string constant (or a CAST of
// one). A literal with a backslash is not used: a cast to BLOB reads escapes in it (\x41), so its
// bytes are not the literal's.
func keyEquals(col, v any) ([]byte, bool) {
	m, ok := col.(map[string]any)
	if !ok || m["class"] != "COLUMN_REF" {
		return nil, false
	}
	names, _ := m["column_names"].([]any)
	if len(names) == 0 {
		return nil, false
	}
	if name, _ := names[len(names)-1].(string); !strings.EqualFold(name, "key") {
		return nil, false
	}
	for {
		c, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if c["class"] == "CAST" {
			v = c["child"]
			continue
		}
		if c["class"] != "CONSTANT" {
			return nil, false
		}
		val, _ := c["value"].(map[string]any)
		if val == nil || val["is_null"] == true {
			return nil, false
		}
		str, ok := val["value"].(string)
		if !ok || strings.ContainsRune(str, '\\') {
			return nil, false
		}
		return []byte(str), true
	}
}

// withKey narrows b to rows whose key is k.
func (b Bounds) withKey(k []byte) Bounds {
	if b.Keys == nil {
		b.Keys = [][]byte{k}
		return b
	}
	keep := [][]byte{}
	for _, x := range b.Keys {
		if string(x) == string(k) {
			keep = append(keep, x)
		}
	}
	b.Keys = keep
	return b
}

// withKeyAdded widens b's keys by k.
func (b Bounds) withKeyAdded(k []byte) Bounds {
	if !slices.ContainsFunc(b.Keys, func(x []byte) bool { return string(x) == string(k) }) {
		b.Keys = append(b.Keys, k)
	}
	return b
}

// columnOf is the pruning column a COLUMN_REF names ("" for any other expression).
func columnOf(n any) string {
	m, ok := n.(map[string]any)
	if !ok || m["class"] != "COLUMN_REF" {
		return ""
	}
	names, _ := m["column_names"].([]any)
	if len(names) == 0 {
		return ""
	}
	switch name, _ := names[len(names)-1].(string); strings.ToLower(name) {
	case "partition":
		return "partition"
	case "offset":
		return "offset"
	case "timestamp":
		return "timestamp"
	}
	return ""
}

// constantOf reads a constant (or a CAST of one) as an integer: the value for partition and
// offset, Unix milliseconds for timestamp (rounded down; exact is false when the literal has a
// finer part).
func constantOf(col string, n any) (v int64, exact, ok bool) {
	m, isMap := n.(map[string]any)
	if !isMap {
		return 0, false, false
	}
	if m["class"] == "CAST" {
		return constantOf(col, m["child"])
	}
	if m["class"] != "CONSTANT" {
		return 0, false, false
	}
	val, _ := m["value"].(map[string]any)
	if val == nil || val["is_null"] == true {
		return 0, false, false
	}
	switch x := val["value"].(type) {
	case float64: // JSON numbers: exact for the integer sizes that matter here
		if col == "timestamp" || x != math.Trunc(x) || math.Abs(x) >= 1<<62 {
			return 0, false, false
		}
		return int64(x), true, true
	case string:
		if col == "timestamp" {
			t, err := parseTime(x)
			if err != nil {
				return 0, false, false
			}
			ms := t.UnixMilli()
			if t.Before(time.UnixMilli(ms)) { // UnixMilli truncates toward zero: floor before 1970
				ms--
			}
			return ms, time.UnixMilli(ms).Equal(t), true
		}
		i, err := strconv.ParseInt(x, 10, 64)
		return i, true, err == nil
	}
	return 0, false, false
}

// timeLayouts are the timestamp literals pruning understands, in UTC unless they carry a zone.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"}

func parseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, strings.TrimSpace(s), time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("query: cannot read %q as a time", s)
}

// apply narrows b by "col op v". For timestamp, v is the literal's millisecond rounded down and
// exact says whether the literal was that millisecond exactly (the column holds whole
// milliseconds).
func apply(b Bounds, col, op string, v int64, exact bool) Bounds {
	lo, hi := v, v
	switch op {
	case "COMPARE_EQUAL":
		if !exact { // no whole millisecond equals it; keep the bounds simple and conservative
			hi = v + 1
		}
	case "COMPARE_GREATERTHAN":
		if v < math.MaxInt64 {
			lo = v + 1
		}
		hi = math.MaxInt64
	case "COMPARE_GREATERTHANOREQUALTO":
		hi = math.MaxInt64
	case "COMPARE_LESSTHAN":
		if exact && v > math.MinInt64 {
			hi = v - 1
		}
		lo = math.MinInt64
	case "COMPARE_LESSTHANOREQUALTO":
		lo = math.MinInt64
	}
	switch col {
	case "offset":
		b.MinOffset, b.MaxOffset = max(b.MinOffset, lo), min(b.MaxOffset, hi)
	case "timestamp":
		b.MinTime, b.MaxTime = max(b.MinTime, lo), min(b.MaxTime, hi)
	case "partition":
		if lo > math.MaxInt32 || hi < 0 {
			b.MinPartition, b.MaxPartition = 1, 0 // no partition has that number
			return b
		}
		lo, hi = max(lo, 0), min(hi, math.MaxInt32)
		b.MinPartition, b.MaxPartition = max(b.MinPartition, int32(lo)), min(b.MaxPartition, int32(hi))
		if op == "COMPARE_EQUAL" {
			keep := []int32{}
			if b.HasPartition(int32(v)) {
				keep = append(keep, int32(v))
			}
			b.Partitions = keep
		}
	}
	return b
}

// Pick returns the catalog's segments that may hold rows within b, in offset order. A segment
// whose timestamps are unknown (-1) is kept.
func Pick(segs []metadata.SegmentRef, b Bounds) []metadata.SegmentRef {
	var out []metadata.SegmentRef
	for _, s := range segs {
		if s.NextOffset <= b.MinOffset || s.BaseOffset > b.MaxOffset {
			continue
		}
		if s.MinTimestamp >= 0 && s.MaxTimestamp >= 0 && (s.MaxTimestamp < b.MinTime || s.MinTimestamp > b.MaxTime) {
			continue
		}
		out = append(out, s)
	}
	return out
}
