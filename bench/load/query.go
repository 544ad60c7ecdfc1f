package load

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Query measures SQL over every tier (POST /v1/sql) on QueryBytes of 1 KiB JSON log records whose
// timestamps spread evenly over the last 24 hours, in a 4-partition strata.cold.format=parquet,
// strata.value.format=json topic of 8 MiB segments. The first 23 hours are written, rolled
// (segment.ms=1000) and converted until Parquet objects hold every offset; then segment.ms goes
// back to a week and the last hour is written, to stay in the leaders' hot logs. Each query runs
// QueryRuns times; the figures are medians:
//
//	scan_s, scan_rows_per_s         SELECT count(*): the full scan (its MB/s and rows/s are the result's)
//	scan_bytes                      the bytes a scan of every column reads (a query reads only the
//	                                columns it uses: count(*) alone reads next to nothing)
//	hot_bytes_share                 scan_bytes read from the leaders' hot logs
//	window_1h_s, _bytes_share       a count over one hour in the middle of the day, and its bytes read
//	                                ÷ scan_bytes (time pruning; the figures after it compare the same)
//	window_1h_unindexed_bytes_share the same query run once before any other: the hot index (query
//	                                package) has not seen the hot hour yet, so it is read whole
//	key_s, key_bytes_share          WHERE key = 'u-00042' (one user of 10,000)
//	*_hot_spans_pruned              hot-tail spans the hot index skipped (by timestamps or keys)
//	*_cold_bytes_share              the bytes a query read from object storage ÷ scan_bytes' (pruning
//	                                by row-group statistics and key bloom filters alone)
//	text_s, text_bytes_share        WHERE value ILIKE '%connection reset%'
//	groupby_minute_s                count per minute over the whole day
//
// Then the hot tails are rolled and converted too, and the per-minute GROUP BY runs on Strata
// (groupby_parquet_s) and with DuckDB's Python package over copies of the same Parquet objects on
// local disk (duckdb_groupby_s; the same statement and thread count); groupby_vs_duckdb is their
// ratio. Without a Python that imports duckdb (make clients) that comparison is left out, saying
// so in the note.
func Query(ctx context.Context, tt tableTarget, p Params) (Result, error) {
	r := Result{Name: ScenarioQuery, System: SystemStrata, Figures: map[string]float64{}}
	t := tt.Target
	const parts, threads = 4, 2 // threads: the server's --query-threads default
	topic := fmt.Sprintf("bench-query-%d", time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, parts, map[string]string{"segment.bytes": "8388608", "segment.ms": "1000",
		"strata.cold.format": "parquet", "strata.value.format": "json"}); err != nil {
		return r, err
	}
	n := max(p.QueryBytes/int64(p.RecordSize), 24)
	const day = int64(24 * time.Hour / time.Millisecond)
	end := time.Now().Add(-time.Minute).Truncate(time.Minute).UnixMilli()
	start := end - day
	ts := func(i int64) int64 { return start + i*day/n }
	cold := n * 23 / 24
	// The first 23 hours: written, then converted.
	written, err := produceLogs(ctx, t, topic, cold, p.RecordSize, 11, ts, kgo.NoCompression(), 4*p.ProduceTimeout)
	if err != nil {
		return r, err
	}
	info, err := describeTopic(ctx, t, topic)
	if err != nil {
		return r, err
	}
	began := time.Now()
	s, err := waitConverted(ctx, tt.bucket, info, 10*time.Minute)
	if err != nil {
		return r, err
	}
	tt.Log.Info("query: converted", "records", cold, "parquet_objects", len(s.parquets), "seconds", time.Since(began).Seconds())
	time.Sleep(2 * time.Second) // the catalog swap follows the object's PUT
	// The last hour stays hot.
	if err := alterTopicConfig(ctx, t, topic, "segment.ms", "604800000"); err != nil {
		return r, fmt.Errorf("segment.ms on %s: %w", topic, err)
	}
	hot, err := produceLogs(ctx, t, topic, n-cold, p.RecordSize, 12, func(i int64) int64 { return ts(cold + i) },
		kgo.NoCompression(), 4*p.ProduceTimeout)
	if err != nil {
		return r, err
	}
	written += hot

	runs := max(p.QueryRuns, 1)
	table := `"` + topic + `"`
	// timed runs stmt QueryRuns times and returns its last answer, its stats and the median seconds.
	timed := func(stmt string) ([]map[string]any, queryStats, float64, error) {
		var rows []map[string]any
		var st queryStats
		var ds []time.Duration
		for range runs {
			var d time.Duration
			var err error
			if rows, st, d, err = tt.sql(ctx, stmt); err != nil {
				return nil, st, 0, err
			}
			ds = append(ds, d)
		}
		return rows, st, medianSeconds(ds), nil
	}
	countOf := func(rows []map[string]any) int64 {
		if len(rows) == 1 {
			if v, ok := rows[0]["n"].(float64); ok {
				return int64(v)
			}
		}
		return -1
	}
	var notes []string
	w0 := start + 12*int64(time.Hour/time.Millisecond)
	w1 := w0 + int64(time.Hour/time.Millisecond)
	lit := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000") }
	windowStmt := fmt.Sprintf(`SELECT count(*) AS n FROM %s WHERE timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s'`,
		table, lit(w0), lit(w1))
	_, unindexed, _, err := tt.sql(ctx, windowStmt)
	if err != nil {
		return r, err
	}
	rows, _, scanS, err := timed(`SELECT count(*) AS n FROM ` + table)
	if err != nil {
		return r, err
	}
	if got := countOf(rows); got != n {
		notes = append(notes, fmt.Sprintf("the full scan counted %d of %d records", got, n))
	}
	rows, full, _, err := timed(`SELECT count(*) AS n, max(partition), max("offset"), max(timestamp), max(key), max(value),
		max(len(headers)) FROM ` + table)
	if err != nil {
		return r, err
	}
	if got := countOf(rows); got != n {
		notes = append(notes, fmt.Sprintf("the scan of every column counted %d of %d records", got, n))
	}
	fullBytes := float64(full.bytes())
	r.Figures["scan_s"], r.Figures["scan_rows_per_s"] = scanS, float64(n)/scanS
	r.Figures["scan_bytes"] = fullBytes
	if fullBytes > 0 {
		r.Figures["hot_bytes_share"] = float64(full.Hot.Bytes) / fullBytes
		r.Figures["window_1h_unindexed_bytes_share"] = float64(unindexed.bytes()) / fullBytes
	}
	r.SetThroughput(n, written, time.Duration(scanS*float64(time.Second)))

	var inWindow int64
	for i := range n {
		if x := ts(i); x >= w0 && x < w1 {
			inWindow++
		}
	}
	for _, q := range []struct {
		name, stmt string
		want       int64 // -1: not known here
	}{
		{"window_1h", windowStmt, inWindow},
		{"key", `SELECT count(*) AS n FROM ` + table + ` WHERE key = 'u-00042'`, -1},
		{"text", `SELECT count(*) AS n FROM ` + table + ` WHERE value ILIKE '%connection reset%'`, -1},
	} {
		rows, st, secs, err := timed(q.stmt)
		if err != nil {
			return r, err
		}
		got := countOf(rows)
		if got < 0 || (q.want >= 0 && got != q.want) {
			notes = append(notes, fmt.Sprintf("%s counted %d, want %d", q.name, got, q.want))
		}
		r.Figures[q.name+"_s"] = secs
		r.Figures[q.name+"_rows"] = float64(got)
		r.Figures[q.name+"_hot_spans_pruned"] = float64(st.HotPruned)
		if fullBytes > 0 {
			r.Figures[q.name+"_bytes_share"] = float64(st.bytes()) / fullBytes
		}
		if full.Segment.Bytes > 0 {
			r.Figures[q.name+"_cold_bytes_share"] = float64(st.Segment.Bytes) / float64(full.Segment.Bytes)
		}
	}
	groupBy := `SELECT time_bucket(INTERVAL 1 MINUTE, CAST(timestamp AS TIMESTAMP)) AS m, count(*) AS n FROM {t} GROUP BY m`
	rows, _, secs, err := timed(strings.ReplaceAll(groupBy, "{t}", table))
	if err != nil {
		return r, err
	}
	r.Figures["groupby_minute_s"] = secs
	if len(rows) < 1440 || len(rows) > 1441 {
		notes = append(notes, fmt.Sprintf("the per-minute GROUP BY answered %d rows", len(rows)))
	}

	// Everything in Parquet: Strata and DuckDB over the same objects.
	if err := alterTopicConfig(ctx, t, topic, "segment.ms", "1000"); err != nil {
		return r, fmt.Errorf("segment.ms=1000 on %s: %w", topic, err)
	}
	if info, err = describeTopic(ctx, t, topic); err != nil {
		return r, err
	}
	if s, err = waitConverted(ctx, tt.bucket, info, 5*time.Minute); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second) // the catalog swap follows the object's PUT
	rows, _, strataS, err := timed(strings.ReplaceAll(groupBy, "{t}", table))
	if err != nil {
		return r, err
	}
	r.Figures["groupby_parquet_s"] = strataS
	switch {
	case tt.python == "":
		notes = append(notes, "no DuckDB comparison: no Python that imports duckdb (make clients)")
	default:
		dir := filepath.Join(tt.work, topic)
		defer os.RemoveAll(dir)
		glob, err := copyParquet(ctx, tt.bucket, s.parquets, dir)
		if err != nil {
			return r, err
		}
		secs, n, err := tt.duckdb(ctx, glob, groupBy, runs, threads)
		if err != nil {
			return r, err
		}
		slices.Sort(secs)
		duck := Median(secs)
		r.Figures["duckdb_groupby_s"] = duck
		if duck > 0 {
			r.Figures["groupby_vs_duckdb"] = strataS / duck
		}
		if n != len(rows) {
			notes = append(notes, fmt.Sprintf("DuckDB's GROUP BY answered %d rows, Strata's %d", n, len(rows)))
		}
	}
	r.Note = strings.Join(notes, "; ")
	return r, nil
}
