package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func sampleRuns() []Result {
	return []Result{
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 1, MBPerS: 120, P99Ms: 9,
			ObjStore: &ObjStoreDelta{Puts: 4, PutBytes: 4 << 20, MovedBytes: 1 << 29}},
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 2, MBPerS: 100, P99Ms: 7,
			ObjStore: &ObjStoreDelta{Puts: 6, PutBytes: 4 << 20, MovedBytes: 1 << 29}},
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 3, MBPerS: 140, P99Ms: 8},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 1, MBPerS: 100},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 2, MBPerS: 80},
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 12, Round: 1, MBPerS: 100},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 12, Round: 1, MBPerS: 100},
		{Name: ScenarioConsume, System: SystemStrata, Partitions: 12, Round: 1, MBPerS: 300},
		{Name: ScenarioConsume, System: SystemKafka, Partitions: 12, Round: 1, MBPerS: 200},
		{Name: ScenarioLatency, System: SystemStrata, Round: 1, P99Ms: 4, E2EP99Ms: 5,
			CDF: []CDFPoint{{1, 0.5}, {4, 1}}},
		{Name: ScenarioLatency, System: SystemKafka, Round: 1, P99Ms: 5, E2EP99Ms: 6},
		{Name: ScenarioObject, System: SystemStrata, Round: 1, Skipped: "needs tiering: no PUT"},
		{Name: ScenarioReplay, System: SystemMinIO, Round: 1, MBPerS: 1000},
		{Name: ScenarioReplay, System: SystemStrata, Round: 1, Skipped: "needs tiering: no GET"},
		{Name: ScenarioReplay, System: SystemStrata, Round: 2, Skipped: "needs tiering: no GET"},
	}
}

func TestAggregate(t *testing.T) {
	agg := Aggregate(sampleRuns())
	keys := make([]string, len(agg))
	for i, r := range agg {
		keys[i] = r.Key() + "@" + r.System
	}
	want := "produce/1@strata produce/1@kafka produce/12@strata produce/12@kafka consume/12@strata consume/12@kafka " +
		"latency@strata latency@kafka object@strata replay@minio replay@strata"
	if strings.Join(keys, " ") != want {
		t.Fatalf("order\n got %s\nwant %s", strings.Join(keys, " "), want)
	}
	s := &Summary{Scenarios: agg}
	p1, _ := s.Find("produce/1", SystemStrata)
	if p1.MBPerS != 120 || p1.P99Ms != 8 || p1.Round != 0 {
		t.Errorf("strata produce/1 median = %v MB/s p99 %v (round %d), want 120, 8, 0", p1.MBPerS, p1.P99Ms, p1.Round)
	}
	if p1.ObjStore == nil || p1.ObjStore.Puts != 10 || p1.ObjStore.PutsPerGiB != 10 || p1.ObjStore.BytesPerPut != 838860.8 {
		t.Errorf("summed object store %+v", p1.ObjStore)
	}
	k1, _ := s.Find("produce/1", SystemKafka)
	if k1.MBPerS != 90 {
		t.Errorf("kafka produce/1 median of two = %v, want 90", k1.MBPerS)
	}
	if r, _ := s.Find(ScenarioReplay, SystemStrata); r.Skipped != "needs tiering: no GET" || r.Round != 0 {
		t.Errorf("replay stays skipped: %+v", r)
	}
	if l, _ := s.Find(ScenarioLatency, SystemStrata); len(l.CDF) != 2 {
		t.Errorf("latency CDF kept: %+v", l.CDF)
	}
}

func TestAggregateMixedSkips(t *testing.T) {
	runs := []Result{
		{Name: ScenarioConsume, System: SystemStrata, Partitions: 12, Round: 1, Skipped: "failed: boom"},
		{Name: ScenarioConsume, System: SystemStrata, Partitions: 12, Round: 2, MBPerS: 50},
	}
	agg := Aggregate(runs)
	if len(agg) != 1 || agg[0].Skipped != "" || agg[0].MBPerS != 50 {
		t.Fatalf("a round that ran wins over a failed one: %+v", agg)
	}
}

func TestSummaryJSONRoundTrip(t *testing.T) {
	runs := sampleRuns()
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs, Machine: DescribeMachine(), Settings: map[string]string{"mode": "quick"}}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	// The documented shape: scenarios[] with these keys, and a machine object.
	var raw struct {
		Scenarios []map[string]any `json:"scenarios"`
		Machine   map[string]any   `json:"machine"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "system", "mb_per_s", "records_per_s", "p50_ms", "p99_ms", "p999_ms"} {
		if _, ok := raw.Scenarios[0][k]; !ok {
			t.Errorf("scenario JSON lacks %q: %v", k, raw.Scenarios[0])
		}
	}
	for _, k := range []string{"cpus", "memory_gib", "go_version", "kernel", "os", "arch"} {
		if _, ok := raw.Machine[k]; !ok {
			t.Errorf("machine JSON lacks %q", k)
		}
	}
	got, err := ReadSummary(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scenarios) != len(s.Scenarios) || len(got.Runs) != len(runs) || got.Machine.CPUs != s.Machine.CPUs {
		t.Fatalf("round trip lost data: %d scenarios, %d runs", len(got.Scenarios), len(got.Runs))
	}
	if got.Scenarios[0].ObjStore == nil || got.Scenarios[0].ObjStore.Puts != 10 {
		t.Fatalf("object store counters lost: %+v", got.Scenarios[0].ObjStore)
	}
}

func TestReadSummaryRejects(t *testing.T) {
	for _, in := range []string{"", "{", `{"scenarios":[{"system":"strata"}]}`, `{"scenarios":"x"}`} {
		if _, err := ReadSummary(strings.NewReader(in)); !errors.Is(err, ErrSummary) {
			t.Errorf("ReadSummary(%q) = %v, want ErrSummary", in, err)
		}
	}
}

func TestSetters(t *testing.T) {
	var r Result
	r.SetThroughput(1000, 1000*1024, 2*time.Second)
	if r.MBPerS != 0.512 || r.RecordsPerS != 500 || r.Seconds != 2 {
		t.Fatalf("throughput %+v", r)
	}
	r.SetThroughput(1, 1, 0)
	if r.MBPerS != 0 || math.IsInf(r.RecordsPerS, 0) {
		t.Fatalf("zero elapsed must not divide: %+v", r)
	}
	r.SetLatency(nil)
	if r.P50Ms != 0 || r.P99Ms != 0 {
		t.Fatalf("no samples must give zeros (JSON has no NaN): %+v", r)
	}
	r.SetE2E([]float64{1, 2, 3, 4})
	if r.E2EP50Ms != 2 || r.E2EP99Ms != 4 {
		t.Fatalf("e2e %+v", r)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

// replayRuns are three rounds of the replay scenario with the MinIO baseline of each round; round 3's
// hot pass is missing.
func replayRuns() []Result {
	return []Result{
		{Name: ScenarioReplay, System: SystemMinIO, Round: 1, MBPerS: 400},
		{Name: ScenarioReplay, System: SystemStrata, Round: 1, MBPerS: 180, HotMBPerS: 200, ReplayVsHot: 0.9},
		{Name: ScenarioReplay, System: SystemMinIO, Round: 2, MBPerS: 500},
		{Name: ScenarioReplay, System: SystemStrata, Round: 2, MBPerS: 100, HotMBPerS: 250, ReplayVsHot: 0.4},
		{Name: ScenarioReplay, System: SystemMinIO, Round: 3, Skipped: "failed: boom"},
		{Name: ScenarioReplay, System: SystemStrata, Round: 3, MBPerS: 150},
	}
}

func TestReplayRatios(t *testing.T) {
	runs := replayRuns()
	RelateReplay(runs)
	RelateReplay(runs) // idempotent
	for i, want := range []float64{0, 0.45, 0, 0.2, 0, 0} {
		if got := runs[i].ReplayVsMinIO; math.Abs(got-want) > 1e-9 {
			t.Errorf("run %d (%s round %d): replay_vs_minio %v, want %v", i, runs[i].System, runs[i].Round, got, want)
		}
	}
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs}
	r, ok := s.Find(ScenarioReplay, SystemStrata)
	if !ok {
		t.Fatal("no strata replay row")
	}
	// Medians over the rounds that measured the figure: round 3 has no hot pass and no baseline.
	if r.MBPerS != 150 || r.HotMBPerS != 225 || math.Abs(r.ReplayVsHot-0.65) > 1e-9 || math.Abs(r.ReplayVsMinIO-0.325) > 1e-9 {
		t.Fatalf("aggregated replay %+v", r)
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Scenarios []map[string]any `json:"scenarios"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sc := range raw.Scenarios {
		if sc["system"] == SystemStrata {
			found = true
			if sc["replay_vs_hot"] != 0.65 || sc["hot_mb_per_s"] != 225.0 || sc["replay_vs_minio"] != 0.325 {
				t.Errorf("replay JSON %v", sc)
			}
		} else if _, ok := sc["replay_vs_hot"]; ok {
			t.Errorf("a row without the figure carries replay_vs_hot: %v", sc)
		}
	}
	if !found {
		t.Fatalf("no strata row in %s", buf.String())
	}
}
