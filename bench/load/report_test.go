package load

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGoals(t *testing.T) {
	s := &Summary{Scenarios: Aggregate(sampleRuns())}
	got := map[string]Goal{}
	for _, g := range Goals(s) {
		got[g.What] = g
	}
	tests := []struct {
		what    string
		verdict string
		ratio   float64 // NaN: no ratio
		reason  string  // substring of Reason
	}{
		{"produce MB/s, 1 partition", Pass, 120.0 / 90, ""},
		{"produce MB/s, 12 partitions", Fail, 1, ""},
		{"produce ack p99 at a fixed rate (ms)", Pass, 0.8, ""},
		{"hot consume MB/s", Pass, 1.5, ""},
		{"cold replay MB/s", Skipped, math.NaN(), "needs tiering: no GET"},
		{"cold replay vs hot consume of the same data (replay_vs_hot)", Skipped, math.NaN(), "needs tiering: no GET"},
		{"object-durability ack p99 (ms)", Skipped, math.NaN(), "needs tiering: no PUT"},
		{"object durability at ≥ 100 MB/s, 256 partitions: flush PUTs per GiB (steady)", NoData, math.NaN(), "did not run object-burst/256"},
		{"idle partitions: server CPU (% of one core)", NoData, math.NaN(), "did not run partitions"},
		{"idle partitions: metadata writes per second", NoData, math.NaN(), "did not run partitions"},
		{"columnar: Parquet ÷ segment bytes, producer uncompressed", NoData, math.NaN(), "did not run columnar"},
		{"columnar: Parquet ÷ segment bytes, producer zstd", NoData, math.NaN(), "did not run columnar"},
		{"columnar: conversion MB/s per core (one compaction worker's encoding time)", NoData, math.NaN(), "did not run columnar"},
		{"columnar: cold replay from Parquet ÷ from segments", NoData, math.NaN(), "did not run columnar"},
		{"query: 1-hour window, bytes read ÷ full scan's", NoData, math.NaN(), "did not run query"},
		{"query: key lookup, bytes read ÷ full scan's", NoData, math.NaN(), "did not run query"},
		{"query: GROUP BY per minute, seconds ÷ DuckDB's over the same Parquet", NoData, math.NaN(), "did not run query"},
	}
	if len(got) != len(tests) {
		t.Fatalf("got %d goals, want %d", len(got), len(tests))
	}
	for _, tt := range tests {
		g, ok := got[tt.what]
		if !ok {
			t.Errorf("missing goal %q", tt.what)
			continue
		}
		if g.Verdict != tt.verdict {
			t.Errorf("%s: verdict %s, want %s", tt.what, g.Verdict, tt.verdict)
		}
		if math.IsNaN(tt.ratio) != math.IsNaN(g.Ratio) || (!math.IsNaN(g.Ratio) && math.Abs(g.Ratio-tt.ratio) > 1e-9) {
			t.Errorf("%s: ratio %v, want %v", tt.what, g.Ratio, tt.ratio)
		}
		if !strings.Contains(g.Reason, tt.reason) {
			t.Errorf("%s: reason %q lacks %q", tt.what, g.Reason, tt.reason)
		}
	}
}

func TestGoalsBoundaryAndMissing(t *testing.T) {
	s := &Summary{Scenarios: []Result{
		{Name: ScenarioProduce, Partitions: 1, System: SystemStrata, MBPerS: 120},
		{Name: ScenarioProduce, Partitions: 1, System: SystemKafka, MBPerS: 100},  // exactly 1.2×: pass
		{Name: ScenarioProduce, Partitions: 12, System: SystemStrata, MBPerS: 50}, // no Kafka row
		{Name: ScenarioConsume, Partitions: 12, System: SystemStrata, MBPerS: 50},
		{Name: ScenarioConsume, Partitions: 12, System: SystemKafka}, // zero reference
		{Name: ScenarioObject, System: SystemStrata, P99Ms: 151},     // just over the bound
		{Name: ScenarioReplay, System: SystemStrata, MBPerS: 80},
		{Name: ScenarioReplay, System: SystemMinIO, MBPerS: 100}, // exactly 0.8×: pass
		{Name: ScenarioObjectBurst, Partitions: 256, System: SystemStrata, MBPerS: 90, Figures: map[string]float64{"steady_mb_per_s": 100, "steady_flush_puts_per_gib": 130}}, // at the bounds
		{Name: ScenarioPartitions, System: SystemStrata, IdleCPUPct: 5, MetadataWritesPerS: 20.5},                                                                             // at and over the bounds
		{Name: ScenarioColumnar, System: SystemStrata, Figures: map[string]float64{ // at, over, at the bounds; one missing
			"parquet_vs_segment": 0.5, "parquet_vs_segment_zstd": 1.01, "convert_encode_mb_per_s": 50}},
		{Name: ScenarioQuery, System: SystemStrata, Figures: map[string]float64{
			"window_1h_bytes_share": 0.05, "key_bytes_share": 0.021, "groupby_vs_duckdb": 2}},
	}}
	want := map[string]string{
		"produce MB/s, 1 partition":            Pass,
		"produce MB/s, 12 partitions":          NoData,
		"produce ack p99 at a fixed rate (ms)": NoData,
		"hot consume MB/s":                     NoData,
		"cold replay MB/s":                     Pass,
		"object-durability ack p99 (ms)":       Fail,
		"object durability at ≥ 100 MB/s, 256 partitions: flush PUTs per GiB (steady)": Pass,
		"idle partitions: server CPU (% of one core)":                                  Pass,
		"idle partitions: metadata writes per second":                                  Fail,
		// A replay row without a hot pass beside it has no ratio to judge.
		"cold replay vs hot consume of the same data (replay_vs_hot)":                NoData,
		"columnar: Parquet ÷ segment bytes, producer uncompressed":                   Pass,
		"columnar: Parquet ÷ segment bytes, producer zstd":                           Fail,
		"columnar: conversion MB/s per core (one compaction worker's encoding time)": Pass,
		"columnar: cold replay from Parquet ÷ from segments":                         NoData,
		"query: 1-hour window, bytes read ÷ full scan's":                             Pass,
		"query: key lookup, bytes read ÷ full scan's":                                Fail,
		"query: GROUP BY per minute, seconds ÷ DuckDB's over the same Parquet":       Pass,
	}
	for _, g := range Goals(s) {
		if g.Verdict != want[g.What] {
			t.Errorf("%s: %s (%s), want %s", g.What, g.Verdict, g.Reason, want[g.What])
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	s := &Summary{Scenarios: Aggregate(sampleRuns()), Machine: Machine{CPUs: 2, MemoryGiB: 24, GoVersion: "go1.26.8", Kafka: "4.3.1"},
		Settings: map[string]string{"mode": "quick", "rounds": "3"}}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, s); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| produce MB/s, 1 partition | ≥ 1.2× Kafka | 120.0 | 90.00 (kafka) | 1.33× | PASS |",
		"| produce MB/s, 12 partitions | ≥ 1.2× Kafka | 100.0 | 100.0 (kafka) | 1.00× | FAIL |",
		"| cold replay MB/s | ≥ 0.8× raw MinIO GET | – | – | – | SKIPPED: needs tiering: no GET |",
		"| replay | strata | | | | | | | | | skipped: needs tiering: no GET |",
		"| produce/1 | 10 | 0 | 0 | 10.00 | 0 | 0 | 838861 | 0 |",
		"Kafka 4.3.1",
		"Mode: quick; rounds: 3",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := strings.Count(line, "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d bars, header %d: %s", n, cols, line)
		}
	}
}

func TestPlots(t *testing.T) {
	dir := t.TempDir()
	s := &Summary{Scenarios: Aggregate(sampleRuns())}
	for _, f := range []func(*Summary, string) (string, error){PlotThroughput, PlotLatencyCDF} {
		path, err := f(s, dir)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
			t.Fatalf("%s is not a PNG (%d bytes)", filepath.Base(path), len(b))
		}
	}
	if _, err := PlotLatencyCDF(&Summary{}, dir); err == nil {
		t.Fatal("an empty summary has no CDF to plot")
	}
}

func TestReplayVsHotReport(t *testing.T) {
	runs := replayRuns()
	RelateReplay(runs)
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs}
	var g Goal
	for _, x := range Goals(s) {
		if strings.Contains(x.What, "replay_vs_hot") {
			g = x
		}
	}
	// Round 1 is at the 0.9× bound and round 2 far below it: the rounds disagree, so a tie; round 3
	// has no hot pass and is left out of the ratios.
	if g.Verdict != Tie || math.Abs(g.Ratio-0.65) > 1e-9 || g.RatioMin != 0.4 || g.RatioMax != 0.9 ||
		g.Reference != 225 || g.Strata != 150 || g.RefLabel != "hot" || len(g.Rounds) != 2 || g.Note != "2 of 3 rounds had both figures" {
		t.Fatalf("replay_vs_hot goal %+v", g)
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, s); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| cold replay vs hot consume of the same data (replay_vs_hot) | ≥ 0.9× hot consume | 150.0 | 225.0 (hot) | 0.65× (0.40×–0.90×) | TIE (2 of 3 rounds had both figures) |",
		"| cold replay MB/s | ≥ 0.8× raw MinIO GET | 150.0 | 450.0 (minio) | 0.33× (0.20×–0.45×) | FAIL (2 of 3 rounds had both figures) |",
		"| cold replay MB/s | 0.45× | 0.20× | 0.33× (0.20×–0.45×) | FAIL |",
		"| cold replay vs hot consume of the same data (replay_vs_hot) | 0.90× | 0.40× | 0.65× (0.40×–0.90×) | TIE |",
		"## Cold replay by round",
		"| 1 | 180.0 | 200.0 | 0.90× | 400.0 | 0.45× |",
		"| 3 | 150.0 | – | – | – | – |",
		"| median (min–max) | 150.0 (100.0–180.0) | 225.0 (200.0–250.0) | 0.65× (0.40×–0.90×) | 450.0 (400.0–500.0) | 0.33× (0.20×–0.45×) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}

	// At the bound the goal passes (an aggregated row alone, no rounds).
	s.Runs = nil
	s.Scenarios = []Result{{Name: ScenarioReplay, System: SystemStrata, MBPerS: 90, HotMBPerS: 100, ReplayVsHot: 0.9}}
	for _, x := range Goals(s) {
		if strings.Contains(x.What, "replay_vs_hot") && x.Verdict != Pass {
			t.Errorf("0.9× is the bound: %+v", x)
		}
	}
}
