package query

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// duckdbCompare runs statements over a Parquet file with DuckDB's Python package: argv is the
// file, the log start and the statements (JSON, {t} for the table: keys and values as text, as
// the topic's table has them); it prints each one's rows as JSON.
const duckdbCompare = `
import duckdb, json, sys
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
t = ("(SELECT * REPLACE (decode(key) AS key, decode(value) AS value) FROM read_parquet('%s') " +
     "WHERE (batch_attributes & 32) = 0 AND \"offset\" >= %s)") % (sys.argv[1], sys.argv[2])
out = []
for stmt in json.loads(sys.argv[3]):
    out.append(con.execute(stmt.replace("{t}", t)).fetchall())
print(json.dumps(out))
`

// Queries over a Parquet topic answer as DuckDB's Python package does reading the same object
// directly (the records a consumer sees: control records left out, from the log start on).
func TestParquetMatchesDuckDBPython(t *testing.T) {
	py := pythonWithDuckDB(t)
	f := newColumnsFixture(t)
	path := filepath.Join(t.TempDir(), "object.parquet")
	if err := os.WriteFile(path, f.object, 0o644); err != nil {
		t.Fatal(err)
	}
	at := func(ms int64) string {
		return "TIMESTAMP '" + time.UnixMilli(f.t0+ms).UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	stmts := []string{
		`SELECT count(*), count(key), count(value), min("offset"), max("offset") FROM {t}`,
		`SELECT key AS k, count(*) FROM {t} GROUP BY k ORDER BY k NULLS FIRST`,
		`SELECT count(*) FROM {t} WHERE CAST(timestamp AS TIMESTAMP) >= ` + at(1000) + ` AND CAST(timestamp AS TIMESTAMP) < ` + at(1500),
		`SELECT "offset" FROM {t} WHERE key = 'k3' ORDER BY 1`,
		`SELECT count(*) FROM {t} WHERE value LIKE '%"o":1%'`,
		`SELECT CAST(sum(length(value)) AS BIGINT), CAST(sum(len(headers)) AS BIGINT) FROM {t}`,
		`SELECT epoch_ms(time_bucket(INTERVAL 1 SECOND, CAST(timestamp AS TIMESTAMP))) AS s, count(*) FROM {t} GROUP BY s ORDER BY s`,
		`SELECT CAST(value::JSON->>'$.o' AS BIGINT) AS o FROM {t} WHERE "offset" % 37 = 0 ORDER BY o`,
	}
	arg, _ := json.Marshal(stmts)
	out, err := exec.Command(py, "-c", duckdbCompare, path, fmtInt(f.logStart), string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var want [][][]any
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("python answered %q: %v", out, err)
	}
	fx := &fixture{e: f.e}
	for i, stmt := range stmts {
		rows, _ := fx.rows(t, replaceTable(stmt, "pq"))
		got, _ := json.Marshal(rows)
		w, _ := json.Marshal(want[i])
		if len(rows) == 0 || string(got) != string(w) {
			t.Errorf("%s:\nstrata %s\nduckdb %s", stmt, got, w)
		}
	}
}

func fmtInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// pythonWithDuckDB is the compatibility suite's Python (make clients) when it imports duckdb; the
// test skips without it (fails with STRATA_REQUIRE_TOOLS=1).
func pythonWithDuckDB(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	py := filepath.Join(dir, ".tools", "compat-venv", "bin", "python")
	if out, err := exec.Command(py, "-c", "import duckdb").CombinedOutput(); err != nil {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("duckdb not importable by %s (STRATA_REQUIRE_TOOLS=1; run `make clients`): %v %s", py, err, strings.TrimSpace(string(out)))
		}
		t.Skipf("duckdb not importable by %s; run `make clients`", py)
	}
	return py
}
