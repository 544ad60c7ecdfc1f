package query

import (
	"bytes"
	"context"
	"database/sql"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/strata-log/strata/metadata"
)

// astOf asks a real DuckDB for the statement's serialized AST, as Engine.Query does.
func astOf(t *testing.T, stmt string) []byte {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var ast string
	if err := db.QueryRowContext(context.Background(), astQuery(stmt)).Scan(&ast); err != nil {
		t.Fatal(err)
	}
	return []byte(ast)
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestPlanFromAST(t *testing.T) {
	all := Unbounded()
	with := func(f func(*Bounds)) Bounds { b := Unbounded(); f(&b); return b }
	for _, tc := range []struct {
		name, stmt string
		table      string
		want       Bounds
	}{
		{"no where", `SELECT count(*) FROM logs`, "logs", all},
		{"time window", `SELECT * FROM logs WHERE timestamp >= TIMESTAMP '2026-01-01 10:00:00' AND timestamp < '2026-01-01 11:00:00'`, "logs",
			with(func(b *Bounds) { b.MinTime, b.MaxTime = ms("2026-01-01T10:00:00Z"), ms("2026-01-01T11:00:00Z")-1 })},
		{"finer than a millisecond", `SELECT * FROM logs WHERE timestamp > '2026-01-01 10:00:00.0005' AND timestamp < '2026-01-01 11:00:00.0005'`, "logs",
			with(func(b *Bounds) { b.MinTime, b.MaxTime = ms("2026-01-01T10:00:00Z")+1, ms("2026-01-01T11:00:00Z") })},
		{"flipped and between", `SELECT * FROM logs WHERE 10 <= "offset" AND partition BETWEEN 1 AND 2`, "logs",
			with(func(b *Bounds) { b.MinOffset, b.MinPartition, b.MaxPartition = 10, 1, 2 })},
		{"strict offsets", `SELECT * FROM logs WHERE "offset" > 4 AND "offset" < 9 AND partition = 3`, "logs",
			with(func(b *Bounds) {
				b.MinOffset, b.MaxOffset, b.Partitions, b.MinPartition, b.MaxPartition = 5, 8, []int32{3}, 3, 3
			})},
		{"or is not pruned", `SELECT * FROM logs WHERE partition = 1 OR "offset" > 5`, "logs", all},
		{"functions are not pruned", `SELECT * FROM logs WHERE timestamp > now() - INTERVAL 1 HOUR`, "logs", all},
		{"qualified column", `SELECT * FROM logs l WHERE l.partition = 0`, "logs", with(func(b *Bounds) { b.Partitions, b.MaxPartition = []int32{0}, 0 })},
		{"two uses: union", `SELECT * FROM logs WHERE partition = 0 UNION ALL SELECT * FROM logs WHERE partition = 2`, "logs",
			with(func(b *Bounds) { b.Partitions, b.MaxPartition = []int32{0, 2}, 2 })},
		{"a join leaves it open", `SELECT * FROM logs a JOIN logs b ON a.key = b.key WHERE a.partition = 0`, "logs", all},
		{"subquery", `SELECT count(*) FROM (SELECT * FROM logs WHERE "offset" >= 100)`, "logs", with(func(b *Bounds) { b.MinOffset = 100 })},
		{"contradiction", `SELECT * FROM logs WHERE partition = 1 AND partition = 2`, "logs", with(func(b *Bounds) { b.Partitions, b.MinPartition, b.MaxPartition = []int32{}, 2, 1 })},
		{"key", `SELECT * FROM logs WHERE key = 'u7'`, "logs", with(func(b *Bounds) { b.Keys = [][]byte{[]byte("u7")} })},
		{"key flipped and cast", `SELECT * FROM logs WHERE 'u7'::BLOB = key AND partition = 1`, "logs",
			with(func(b *Bounds) {
				b.Keys, b.Partitions, b.MinPartition, b.MaxPartition = [][]byte{[]byte("u7")}, []int32{1}, 1, 1
			})},
		{"the same key twice", `SELECT * FROM logs l WHERE key = 'u7' AND l.key = 'u7'`, "logs", with(func(b *Bounds) { b.Keys = [][]byte{[]byte("u7")} })},
		{"two keys: no row", `SELECT * FROM logs WHERE key = 'a' AND key = 'b'`, "logs", with(func(b *Bounds) { b.Keys = [][]byte{} })},
		{"a key with an escape is not pruned", `SELECT * FROM logs WHERE key = 'a\x41'`, "logs", all},
		{"keys or", `SELECT * FROM logs WHERE key = 'a' OR key = 'b'`, "logs", all},
		{"keys like", `SELECT * FROM logs WHERE key LIKE 'a%'`, "logs", all},
		{"keys: union", `SELECT * FROM logs WHERE key = 'a' UNION ALL SELECT * FROM logs WHERE key = 'b'`, "logs",
			with(func(b *Bounds) { b.Keys = [][]byte{[]byte("a"), []byte("b")} })},
		{"keys: union with an open side", `SELECT * FROM logs WHERE key = 'a' UNION ALL SELECT * FROM logs`, "logs", all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanFromAST(astOf(t, tc.stmt)).For(tc.table)
			if !slices.Equal(got.Partitions, tc.want.Partitions) || (got.Partitions == nil) != (tc.want.Partitions == nil) ||
				got.MinOffset != tc.want.MinOffset || got.MaxOffset != tc.want.MaxOffset ||
				got.MinTime != tc.want.MinTime || got.MaxTime != tc.want.MaxTime ||
				got.MinPartition != tc.want.MinPartition || got.MaxPartition != tc.want.MaxPartition ||
				(got.Keys == nil) != (tc.want.Keys == nil) || !slices.EqualFunc(got.Keys, tc.want.Keys, bytes.Equal) {
				t.Fatalf("bounds %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	seg := func(base, next, minTS, maxTS int64) metadata.SegmentRef {
		return metadata.SegmentRef{Key: "k", BaseOffset: base, NextOffset: next, MinTimestamp: minTS, MaxTimestamp: maxTS}
	}
	segs := []metadata.SegmentRef{seg(0, 10, 100, 199), seg(10, 20, 200, 299), seg(20, 30, -1, -1), seg(30, 40, 300, 399)}
	for _, tc := range []struct {
		name string
		b    func(*Bounds)
		want []int64 // base offsets
	}{
		{"all", func(*Bounds) {}, []int64{0, 10, 20, 30}},
		{"time", func(b *Bounds) { b.MinTime, b.MaxTime = 210, 250 }, []int64{10, 20}},
		{"time edge", func(b *Bounds) { b.MinTime = 299 }, []int64{10, 20, 30}},
		{"offsets", func(b *Bounds) { b.MinOffset, b.MaxOffset = 10, 10 }, []int64{10}},
		{"offset past", func(b *Bounds) { b.MinOffset = 40 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Unbounded()
			tc.b(&b)
			var got []int64
			for _, s := range Pick(segs, b) {
				got = append(got, s.BaseOffset)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("picked %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanFromASTGarbage(t *testing.T) {
	for _, in := range []string{"", "null", "[", `{"statements":[{"node":{"type":"SELECT_NODE","from_table":7}}]}`,
		`{"type":"SELECT_NODE","from_table":{"type":"BASE_TABLE","table_name":"x"},"where_clause":{"type":"COMPARE_EQUAL","left":{"class":"COLUMN_REF","column_names":[]},"right":{}}}`} {
		p := PlanFromAST([]byte(in))
		if b := p.For("x"); b.MinOffset < 0 || b.MaxTime != math.MaxInt64 && b.MaxTime < b.MinTime {
			t.Fatalf("%q: %+v", in, b)
		}
	}
}

// FuzzPlanFromAST: any syntax tree gives a plan, never a panic (the tree is DuckDB's, but
// plan-reading should not trust its shape).
func FuzzPlanFromAST(f *testing.F) {
	for _, s := range []string{`{"statements":[{"node":{"type":"SELECT_NODE","from_table":{"type":"BASE_TABLE","table_name":"t"},"where_clause":{"type":"COMPARE_EQUAL","class":"COMPARISON","left":{"class":"COLUMN_REF","column_names":["partition"]},"right":{"class":"CONSTANT","value":{"is_null":false,"value":99999999999}}}}}]}`,
		`{"type":"COMPARE_BETWEEN"}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, bd := range PlanFromAST(b) {
			if bd.HasPartition(-1) {
				t.Fatalf("bounds %+v hold partition -1", bd)
			}
		}
	})
}
