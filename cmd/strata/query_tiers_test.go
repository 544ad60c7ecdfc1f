package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tierStatements are asked of every tier's copy of the same records, {t} standing for the
// records (sentinels left out): counts, a group-by on a JSON field, a time window, a key lookup, a
// text search, time buckets and a sum over JSON fields. Every answer column is an integer or a
// string, so that NDJSON and Python's json print them alike.
var tierStatements = []string{
	`SELECT count(*) AS n, count(key) AS keys, min("offset") AS lo, max("offset") AS hi FROM {t}`,
	`SELECT value::JSON->>'$.level' AS level, count(*) AS n FROM {t} GROUP BY level ORDER BY level NULLS FIRST`,
	`SELECT count(*) AS n FROM {t} WHERE CAST(timestamp AS TIMESTAMP) >= {from} AND CAST(timestamp AS TIMESTAMP) < {to}`,
	`SELECT partition AS p, "offset" AS o FROM {t} WHERE key = 'user-3' ORDER BY p, o`,
	`SELECT count(*) AS n FROM {t} WHERE value ILIKE '%upstream timeout%'`,
	`SELECT CAST(epoch_ms(time_bucket(INTERVAL 1 MINUTE, CAST(timestamp AS TIMESTAMP))) AS BIGINT) AS m, count(*) AS n
		FROM {t} GROUP BY m ORDER BY m`,
	`SELECT value::JSON->>'$.service' AS svc, CAST(sum(CAST(value::JSON->>'$.latency_ms' AS BIGINT)) AS BIGINT) AS total
		FROM {t} WHERE value::JSON->>'$.level' = 'error' GROUP BY svc ORDER BY svc`,
}

// duckdbOverObjects runs the statements of argv[2] (JSON) over the Parquet objects under argv[1]
// (read_parquet over a glob), as a consumer sees them: control records left out, keys and values
// as text, sentinels left out. It prints, per statement, the rows as objects.
const duckdbOverObjects = `
import duckdb, json, sys
con = duckdb.connect()
t = ("(SELECT * REPLACE (decode(key) AS key, decode(value) AS value) FROM read_parquet('%s/**/*.parquet') " +
     "WHERE (batch_attributes & 32) = 0 AND (key IS NULL OR decode(key) <> 'sentinel'))") % sys.argv[1]
out = []
for stmt in json.loads(sys.argv[2]):
    cur = con.execute(stmt.replace("{t}", t))
    names = [d[0] for d in cur.description]
    out.append([dict(zip(names, r)) for r in cur.fetchall()])
print(json.dumps(out))
`

// TestQuerySameAnswersEveryTier produces the same known JSON logs to three topics of one node:
// one whose data stays in the hot log, one tiered to segment objects (hot copies dropped), one
// converted to Parquet (strata.cold.format=parquet). The same statements must answer alike from
// the three, each read from its own tier (the stats say so), and alike from DuckDB's Python
// package reading the Parquet objects directly.
func TestQuerySameAnswersEveryTier(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startConvertingNode(t)
	stamp := time.Now().UnixNano()
	hotT, segT, pqT := fmt.Sprintf("qt-hot-%d", stamp), fmt.Sprintf("qt-seg-%d", stamp), fmt.Sprintf("qt-pq-%d", stamp)
	jsonTopic := func(extra map[string]*string) map[string]*string {
		m := map[string]*string{"strata.value.format": strp("json")}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	rolled := map[string]*string{"segment.ms": strp("300"), "local.retention.ms": strp("300")}
	c.createTopic(t, ctx, hotT, 2, jsonTopic(map[string]*string{"segment.ms": strp("604800000")}))
	c.createTopic(t, ctx, segT, 2, jsonTopic(rolled))
	c.createTopic(t, ctx, pqT, 2, jsonTopic(map[string]*string{"segment.ms": strp("300"), "local.retention.ms": strp("300"),
		"strata.cold.format": strp("parquet")}))
	cl := c.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	all := func(recs ...*kgo.Record) {
		t.Helper()
		var out []*kgo.Record
		for _, topic := range []string{hotT, segT, pqT} {
			for _, r := range recs {
				cp := *r
				cp.Topic = topic
				out = append(out, &cp)
			}
		}
		if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	levels := []string{"info", "info", "warn", "error"}
	services := []string{"api", "db", "web"}
	const records = 600 // one a second: ten minutes
	for start := 0; start < records; start += 100 {
		var recs []*kgo.Record
		for i := start; i < start+100; i++ {
			msg := fmt.Sprintf("request %d", i)
			if i%17 == 0 {
				msg += ": upstream Timeout"
			}
			v := fmt.Appendf(nil, `{"time":%d,"level":%q,"service":%q,"latency_ms":%d,"msg":%q}`,
				t0.Add(time.Duration(i)*time.Second).UnixMilli(), levels[i%4], services[i%3], i%50, msg)
			r := &kgo.Record{Partition: int32(i % 2), Key: fmt.Appendf(nil, "user-%d", i%7), Value: v,
				Timestamp: t0.Add(time.Duration(i) * time.Second)}
			if i%11 == 0 {
				r.Key = nil
			}
			recs = append(recs, r)
		}
		all(recs...)
	}
	pqID := topicIDOf(t, ctx, cl, pqT)
	bucket := c.minio.Open(t, c.object)
	addr := c.node(1).http
	// Sentinels roll the active segments (segment.ms counts from a segment's first record and a
	// roll comes with an append) until the records are all in segment objects (segT: read from
	// the hot log no more) and in Parquet objects (pqT).
	tiered := func() bool {
		a := sqlRows(t, addr, fmt.Sprintf(`SELECT count(*) AS n FROM %q WHERE "offset" < %d`, segT, records/2))
		return a.stats.Hot.Rows == 0 && a.stats.Segment.Rows == records
	}
	converted := func() bool {
		next := map[int32]int64{}
		objs := parquetObjects(t, ctx, bucket, hex.EncodeToString(pqID[:]))
		for range objs { // objects in any order: walk until nothing extends a partition's run
			for _, o := range objs {
				if o.base <= next[o.partition] && o.next > next[o.partition] {
					next[o.partition] = o.next
				}
			}
		}
		return next[0] >= records/2 && next[1] >= records/2
	}
	for !tiered() || !converted() {
		if ctx.Err() != nil {
			t.Fatalf("not all in objects in time (segments: %v, Parquet: %v)\n%s", tiered(), converted(), c.logs())
		}
		all(&kgo.Record{Partition: 0, Key: []byte("sentinel"), Timestamp: time.Now()},
			&kgo.Record{Partition: 1, Key: []byte("sentinel"), Timestamp: time.Now()})
		time.Sleep(300 * time.Millisecond)
	}

	lit := func(d time.Duration) string {
		return "TIMESTAMP '" + t0.Add(d).Format("2006-01-02 15:04:05.000") + "'"
	}
	stmts := make([]string, len(tierStatements))
	for i, s := range tierStatements {
		stmts[i] = strings.NewReplacer("{from}", lit(2*time.Minute+30*time.Second), "{to}", lit(4*time.Minute)).Replace(s)
	}
	answers := map[string][]string{}
	for _, topic := range []string{hotT, segT, pqT} {
		from := fmt.Sprintf(`(SELECT * FROM %q WHERE key IS DISTINCT FROM 'sentinel')`, topic)
		for _, s := range stmts {
			a := sqlRows(t, addr, strings.ReplaceAll(s, "{t}", from))
			if len(a.rows) == 0 {
				t.Fatalf("%s: no rows", s)
			}
			switch {
			case topic == hotT && a.stats.Segment.Rows != 0:
				t.Fatalf("%s on %s read %d rows from object storage; want the hot log only", s, topic, a.stats.Segment.Rows)
			case topic != hotT && a.stats.Segment.Rows == 0:
				t.Fatalf("%s on %s read nothing from object storage", s, topic)
			}
			b, _ := json.Marshal(a.rows)
			answers[topic] = append(answers[topic], string(b))
		}
	}
	// The hot answers against what was produced.
	keys, text := 0, 0
	for i := range records {
		if i%11 != 0 {
			keys++
		}
		if i%17 == 0 {
			text++
		}
	}
	if want := fmt.Sprintf(`[{"hi":%d,"keys":%d,"lo":0,"n":%d}]`, records/2-1, keys, records); answers[hotT][0] != want {
		t.Fatalf("%s: %s, want %s", stmts[0], answers[hotT][0], want)
	}
	if want := fmt.Sprintf(`[{"n":%d}]`, text); answers[hotT][4] != want {
		t.Fatalf("%s: %s, want %s", stmts[4], answers[hotT][4], want)
	}
	for i, s := range stmts {
		if answers[segT][i] != answers[hotT][i] || answers[pqT][i] != answers[hotT][i] {
			t.Errorf("%s:\n hot      %s\n segments %s\n Parquet  %s", s, answers[hotT][i], answers[segT][i], answers[pqT][i])
		}
	}

	// DuckDB over copies of the Parquet objects.
	py := filepath.Join(repoRootDir(t), ".tools/compat-venv/bin/python")
	if out, err := exec.Command(py, "-c", "import duckdb").CombinedOutput(); err != nil {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("duckdb not importable by %s (STRATA_REQUIRE_TOOLS=1; run `make clients`): %v %s", py, err, out)
		}
		t.Skipf("duckdb not importable by %s; run `make clients`", py)
	}
	dir := t.TempDir()
	copyParquetObjects(t, ctx, bucket, hex.EncodeToString(pqID[:]), dir)
	arg, _ := json.Marshal(stmts)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, py, "-c", duckdbOverObjects, dir, string(arg))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var duck [][]map[string]any
	if err := json.Unmarshal(out, &duck); err != nil || len(duck) != len(stmts) {
		t.Fatalf("python answered %q: %v", out, err)
	}
	t.Logf("answers (hot, segment and Parquet alike): %v", answers[hotT])
	for i, s := range stmts {
		if b, _ := json.Marshal(duck[i]); string(b) != answers[pqT][i] {
			t.Errorf("%s:\n Strata %s\n DuckDB %s", s, answers[pqT][i], b)
		}
	}
}
