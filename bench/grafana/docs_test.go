package grafana

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

// codeMetrics finds the metric names the project registers: string literals "strata_..." in the
// non-test Go files outside bench (whose own literals are references, not registrations).
func codeMetrics(t *testing.T) map[string]string {
	t.Helper()
	lit := regexp.MustCompile(`"(strata_[a-z0-9_]+[a-z0-9])"`)
	found := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case rel == "bench", strings.HasPrefix(d.Name(), "."), d.Name() == "testdata", d.Name() == "node_modules":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			found[string(m[1])] = rel
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 10 {
		t.Fatalf("found only %d metric names in the code: is the walk broken?", len(found))
	}
	return found
}

// docMetrics are the names in the first column of docs/metrics.md's tables.
func docMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|")
	var out []string
	for _, m := range row.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

func TestDocsListEveryRegisteredMetric(t *testing.T) {
	code := codeMetrics(t)
	doc := docMetrics(t)
	for name, file := range code {
		if !slices.Contains(doc, name) {
			t.Errorf("%s (registered in %s) is not documented in docs/metrics.md: add a row (name, type, labels, meaning)", name, file)
		}
	}
	for _, name := range doc {
		if _, ok := code[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which no package registers: remove or rename the row", name)
		}
	}
	seen := map[string]bool{}
	for _, name := range doc {
		if seen[name] {
			t.Errorf("docs/metrics.md lists %s twice", name)
		}
		seen[name] = true
	}
}

func TestDashboardUsesDocumentedMetrics(t *testing.T) {
	doc := docMetrics(t)
	used := Metrics()
	if len(used) < 20 {
		t.Fatalf("the dashboard uses only %d metrics", len(used))
	}
	for _, m := range used {
		if strings.HasPrefix(m, "go_") || strings.HasPrefix(m, "process_") {
			continue // the standard collectors, documented as a family
		}
		if !slices.Contains(doc, m) {
			t.Errorf("dashboard query uses %s, which docs/metrics.md does not list", m)
		}
	}
}

func TestDashboardFileIsGenerated(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "strata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("deploy/grafana/strata.json differs from grafana.Dashboard(): run `go run ./bench/cmd/strata-bench dashboard`")
	}
}

func TestDashboardShape(t *testing.T) {
	d := Dashboard()
	panels := d["panels"].([]Panel)
	ids := map[int]bool{}
	var rows int
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q overflows the 24-column grid", p.Title)
		}
		switch p.Type {
		case "row":
			rows++
		case "timeseries":
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
					t.Errorf("panel %q: unbalanced parentheses in %s", p.Title, tg.Expr)
				}
				if strings.Contains(tg.Expr, "strata_") && !strings.Contains(tg.Expr, `instance=~"$instance"`) {
					t.Errorf("panel %q: query ignores the instance filter: %s", p.Title, tg.Expr)
				}
			}
		default:
			t.Errorf("panel %q has type %q", p.Title, p.Type)
		}
	}
	if rows != 6 {
		t.Errorf("%d rows, want 6 (produce and fetch, tiers, compaction, consumers, object store, metadata and process)", rows)
	}
	// The brief's must-haves, by the metric that carries each.
	for _, m := range []string{"strata_broker_appended_records_total", "strata_kafka_request_duration_seconds",
		"strata_tier_upload_backlog_bytes", "strata_group_consumer_lag_records", "strata_objstore_operations_total",
		"strata_objstore_errors_total", "strata_broker_fetched_bytes_total", "strata_hotlog_bytes",
		"strata_tier_catalog_bytes", "strata_compaction_merges_total", "strata_compaction_sweep_deleted_total"} {
		if !slices.Contains(Metrics(), m) {
			t.Errorf("dashboard lacks %s", m)
		}
	}
}
