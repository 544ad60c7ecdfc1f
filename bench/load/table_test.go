package load

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/strata-log/strata/tier/objstore"
)

// The table scenarios' figures: medians over rounds, goals judged per round against their bounds,
// a figure a round did not measure left out, and the markdown section listing them.
func TestTableFigures(t *testing.T) {
	runs := []Result{
		{Name: ScenarioColumnar, System: SystemStrata, Round: 1, Figures: map[string]float64{
			"parquet_vs_segment": 0.40, "parquet_vs_segment_zstd": 0.9, "convert_encode_mb_per_s": 60, "replay_first_parquet_vs_segment": 0.7}},
		{Name: ScenarioColumnar, System: SystemStrata, Round: 2, Figures: map[string]float64{
			"parquet_vs_segment": 0.45, "parquet_vs_segment_zstd": 1.1, "convert_encode_mb_per_s": 40, "replay_first_parquet_vs_segment": 0.75}},
		{Name: ScenarioColumnar, System: SystemStrata, Round: 3, Figures: map[string]float64{
			"parquet_vs_segment": 0.48, "parquet_vs_segment_zstd": 0.8, "convert_encode_mb_per_s": 55, "replay_first_parquet_vs_segment": 0.6}},
		// The query ran in two rounds, and only one of them had DuckDB.
		{Name: ScenarioQuery, System: SystemStrata, Round: 1, Figures: map[string]float64{
			"window_1h_bytes_share": 0.04, "key_bytes_share": 1, "groupby_vs_duckdb": 1.5}},
		{Name: ScenarioQuery, System: SystemStrata, Round: 2, Figures: map[string]float64{
			"window_1h_bytes_share": 0.03, "key_bytes_share": 1}, Note: "no DuckDB comparison"},
		{Name: ScenarioQuery, System: SystemStrata, Round: 3, Skipped: "failed: boom"},
	}
	s := &Summary{Runs: runs, Scenarios: Aggregate(runs)}
	col, ok := s.Find(ScenarioColumnar, SystemStrata)
	if !ok || col.Figures["parquet_vs_segment"] != 0.45 || col.Figures["convert_encode_mb_per_s"] != 55 {
		t.Fatalf("columnar aggregate %+v", col.Figures)
	}
	q, _ := s.Find(ScenarioQuery, SystemStrata)
	if q.Figures["window_1h_bytes_share"] != 0.035 || q.Figures["groupby_vs_duckdb"] != 1.5 {
		t.Fatalf("query aggregate %+v", q.Figures)
	}
	got := map[string]Goal{}
	for _, g := range Goals(s) {
		got[g.What] = g
	}
	for _, tt := range []struct {
		what, verdict string
		rounds        int
	}{
		{"columnar: Parquet ÷ segment bytes, producer uncompressed", Pass, 3},
		{"columnar: Parquet ÷ segment bytes, producer zstd", Tie, 3},
		{"columnar: conversion MB/s per core (one compaction worker's encoding time)", Tie, 3},
		{"columnar: cold replay from Parquet ÷ from segments", Fail, 3},
		{"query: 1-hour window, bytes read ÷ full scan's", Pass, 2},
		{"query: key lookup, bytes read ÷ full scan's", Fail, 2},
		{"query: GROUP BY per minute, seconds ÷ DuckDB's over the same Parquet", Pass, 1},
	} {
		g := got[tt.what]
		if g.Verdict != tt.verdict || len(g.Rounds) != tt.rounds {
			t.Errorf("%s: %s over %d rounds (%+v), want %s over %d", tt.what, g.Verdict, len(g.Rounds), g.Rounds, tt.verdict, tt.rounds)
		}
	}
	// A summary whose query row lacks the DuckDB figure in every round: no data, not a pass.
	s2 := &Summary{Scenarios: Aggregate(runs[4:5])}
	for _, g := range Goals(s2) {
		if strings.HasPrefix(g.What, "query: GROUP BY") && (g.Verdict != NoData || !strings.Contains(g.Reason, "no DuckDB")) {
			t.Errorf("missing figure: %+v", g)
		}
	}
	var b strings.Builder
	if err := WriteMarkdown(&b, s); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"## Named figures", "| columnar | parquet_vs_segment | 0.450 | 0.450 (0.400–0.480) |",
		"| query | groupby_vs_duckdb | 1.50 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// listTopicObjects sums a topic's segment and Parquet objects and the offsets its Parquet objects
// hold per partition; waitConverted returns once they hold every offset.
func TestListTopicObjects(t *testing.T) {
	ctx := context.Background()
	b, err := objstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const id = "00112233445566778899aabbccddeeff"
	put := func(key string, n int) {
		t.Helper()
		if err := b.Put(ctx, key, strings.NewReader(strings.Repeat("x", n)), int64(n)); err != nil {
			t.Fatal(err)
		}
	}
	put(fmt.Sprintf("topics/%s/0/%020d-1.seg", id, 0), 100)
	put(fmt.Sprintf("topics/%s/0/%020d-%020d.parquet", id, 0, 40), 30)
	put(fmt.Sprintf("topics/%s/1/%020d-%020d.parquet", id, 0, 25), 10)
	put(fmt.Sprintf("topics/%s/1/%020d-%020d.parquet", id, 25, 50), 10)
	put(fmt.Sprintf("topics/%s/1/notes.txt", id), 5)
	put("topics/ffeeddccbbaa99887766554433221100/0/00000000000000000000-00000000000000000009.parquet", 7)
	s, err := listTopicObjects(ctx, b, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.segBytes != 100 || s.parquetBytes != 50 || len(s.parquets) != 3 || s.covered[0] != 40 || s.covered[1] != 50 {
		t.Fatalf("listing %+v", s)
	}
	if _, err := waitConverted(ctx, b, topicInfo{id: id, ends: map[int32]int64{0: 40, 1: 50}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := waitConverted(ctx, b, topicInfo{id: id, ends: map[int32]int64{0: 41, 1: 50}}, 0); err == nil {
		t.Fatal("converted with an offset of partition 0 in no Parquet object")
	}
	if math.IsNaN(Median([]float64{1})) {
		t.Fatal("median")
	}
}
