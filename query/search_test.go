package query

import (
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

func TestParseSearch(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		query   string
		wantSQL string // a part of the statement
		wantErr bool
	}{
		{"topic=logs", `FROM "logs" ORDER BY timestamp DESC`, false},
		{"topic=logs&from=1h", `timestamp >= TIMESTAMP '2026-01-02 11:00:00.000'`, false},
		{"topic=logs&from=2026-01-01T00:00:00Z&to=1767225600000", `timestamp < TIMESTAMP '2026-01-01 00:00:00.000'`, true},
		{"topic=logs&q=it's", `contains(lower(value), lower('it''s'))`, false},
		{"topic=logs&where=svc.name=api", `(value->>'$.svc.name') = 'api'`, false},
		{"topic=logs&where=key=u42", `key = 'u42'`, false},
		{"topic=lo\"gs", `FROM "lo""gs"`, false},
		{"topic=logs&where=a'b=1", "", true},
		{"topic=logs&where=noequals", "", true},
		{"topic=logs&limit=0", "", true},
		{"topic=logs&limit=7", "LIMIT 7", false},
		{"topic=logs&histogram=1ms", "", true},
		{"topic=logs&from=yesterday", "", true},
		{"q=x", "", true},
	} {
		t.Run(tc.query, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSearch(v, now, 1000)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrBadStatement) {
					t.Fatalf("err %v, want a bad statement", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sql := s.SQL(); !strings.Contains(sql, tc.wantSQL) {
				t.Fatalf("%s\nlacks %s", sql, tc.wantSQL)
			}
		})
	}
}

// FuzzParseSearch: any query string is either refused as a bad statement or compiles to a
// statement that names the topic as one quoted identifier.
func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"topic=logs&q=x&where=a.b=c&from=1h&to=2026-01-01T00:00:00Z&limit=5&histogram=1m",
		"topic=a%22b&q=%27", "topic=x&where=key=%27;DROP", "topic=&from=-1"} {
		f.Add(s)
	}
	now := time.Unix(1_700_000_000, 0)
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		f.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		s, err := ParseSearch(v, now, 1000)
		if err != nil {
			if !errors.Is(err, ErrBadStatement) {
				t.Fatalf("error %v is no bad statement", err)
			}
			return
		}
		stmts := []string{s.SQL()}
		if s.Bucket > 0 {
			stmts = append(stmts, s.HistogramSQL())
		}
		for _, stmt := range stmts {
			// One statement over the topic alone, whatever the parameters held.
			var ast string
			if err := db.QueryRow(astQuery(stmt)).Scan(&ast); err != nil {
				t.Fatal(err)
			}
			p := PlanFromAST([]byte(ast))
			if _, ok := p[s.Topic]; !ok || len(p) != 1 || strings.Contains(ast, `"error":true`) || strings.Count(ast, `"SELECT_NODE"`) != 1 {
				t.Fatalf("statement %q: plan %v, ast %s", stmt, p, ast)
			}
		}
	})
}
