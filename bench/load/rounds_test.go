package load

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestJudgeRange(t *testing.T) {
	atLeast := func(b float64) func(float64) bool { return func(x float64) bool { return x >= b } }
	atMost := func(b float64) func(float64) bool { return func(x float64) bool { return x <= b } }
	tests := []struct {
		name   string
		ok     func(float64) bool
		lo, hi float64
		want   string
	}{
		{"≥1.2 whole range above", atLeast(1.2), 1.25, 1.6, Pass},
		{"≥1.2 min at the bound", atLeast(1.2), 1.2, 1.3, Pass},
		{"≥1.2 straddles", atLeast(1.2), 1.1, 1.3, Tie},
		{"≥1.2 max at the bound", atLeast(1.2), 1.0, 1.2, Tie},
		{"≥1.2 whole range below", atLeast(1.2), 0.9, 1.19, Fail},
		{"≥1.0 overlaps 1.0", atLeast(1.0), 0.9, 1.3, Tie},
		{"≤1.0 whole range below", atMost(1.0), 0.5, 0.9, Pass},
		{"≤1.0 straddles", atMost(1.0), 0.9, 1.1, Tie},
		{"≤1.0 whole range above", atMost(1.0), 1.01, 2, Fail},
		{"single value passes", atLeast(1.2), 1.3, 1.3, Pass},
		{"single value fails", atLeast(1.2), 1.1, 1.1, Fail},
	}
	for _, tt := range tests {
		if got := judgeRange(tt.ok, tt.lo, tt.hi); got != tt.want {
			t.Errorf("%s: %v–%v → %s, want %s", tt.name, tt.lo, tt.hi, got, tt.want)
		}
	}
}

// threeRounds is a bench-quick shaped run: three alternating rounds of Strata and Kafka.
func threeRounds() []Result {
	var runs []Result
	add := func(r Result, round int) { r.Round = round; runs = append(runs, r) }
	for i, f := range []struct {
		p1s, p1k, p12s, p12k, cs, ck, ls, lk, obj, cpu, writes float64
	}{
		// produce/1: per-round ratios 1.0, 1.0, 0.5 (Kafka swings with the round, Strata too).
		// produce/12: 1.3, 1.25, 1.4. consume: 0.9, 1.3, 1.1. latency p99: 1.1, 1.2, 1.05.
		// object p99 vs 150 ms: 100, 140, 160. idle CPU 1–3%, metadata writes 21–30/s.
		{100, 100, 130, 100, 90, 100, 11, 10, 100, 1, 25},
		{200, 200, 125, 100, 130, 100, 12, 10, 140, 2, 30},
		{100, 200, 140, 100, 110, 100, 10.5, 10, 160, 3, 21},
	} {
		round := i + 1
		add(Result{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, MBPerS: f.p1s}, round)
		add(Result{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, MBPerS: f.p1k}, round)
		add(Result{Name: ScenarioProduce, System: SystemStrata, Partitions: 12, MBPerS: f.p12s}, round)
		add(Result{Name: ScenarioProduce, System: SystemKafka, Partitions: 12, MBPerS: f.p12k}, round)
		add(Result{Name: ScenarioConsume, System: SystemStrata, Partitions: 12, MBPerS: f.cs}, round)
		add(Result{Name: ScenarioConsume, System: SystemKafka, Partitions: 12, MBPerS: f.ck}, round)
		add(Result{Name: ScenarioLatency, System: SystemStrata, P99Ms: f.ls}, round)
		add(Result{Name: ScenarioLatency, System: SystemKafka, P99Ms: f.lk}, round)
		add(Result{Name: ScenarioObject, System: SystemStrata, P99Ms: f.obj}, round)
		add(Result{Name: ScenarioPartitions, System: SystemStrata, IdleCPUPct: f.cpu, MetadataWritesPerS: f.writes}, round)
	}
	return runs
}

func goalsByWhat(s *Summary) map[string]Goal {
	m := map[string]Goal{}
	for _, g := range Goals(s) {
		m[g.What] = g
	}
	return m
}

func TestGoalsRounds(t *testing.T) {
	runs := threeRounds()
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs}
	got := goalsByWhat(s)
	tests := []struct {
		what          string
		verdict       string
		med, min, max float64
	}{
		// The median of per-round ratios, not the ratio of medians (100/200 = 0.5 here).
		{"produce MB/s, 1 partition", Fail, 1, 0.5, 1},
		{"produce MB/s, 12 partitions", Pass, 1.3, 1.25, 1.4},
		{"hot consume MB/s", Tie, 1.1, 0.9, 1.3},
		{"produce ack p99 at a fixed rate (ms)", Fail, 1.1, 1.05, 1.2},
		{"object-durability ack p99 (ms)", Tie, 140.0 / 150, 100.0 / 150, 160.0 / 150},
		{"idle partitions: server CPU (% of one core)", Pass, 0.4, 0.2, 0.6},
		{"idle partitions: metadata writes per second", Fail, 1.25, 21.0 / 20, 1.5},
		{"cold replay MB/s", NoData, math.NaN(), math.NaN(), math.NaN()},
	}
	near := func(a, b float64) bool { return (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) < 1e-9 }
	for _, tt := range tests {
		g := got[tt.what]
		if g.Verdict != tt.verdict || !near(g.Ratio, tt.med) || !near(g.RatioMin, tt.min) || !near(g.RatioMax, tt.max) {
			t.Errorf("%s: %s %v (%v–%v), want %s %v (%v–%v)", tt.what, g.Verdict, g.Ratio, g.RatioMin, g.RatioMax,
				tt.verdict, tt.med, tt.min, tt.max)
		}
		if tt.verdict != NoData && (len(g.Rounds) != 3 || g.Note != "") {
			t.Errorf("%s: %d rounds, note %q; want 3 and none", tt.what, len(g.Rounds), g.Note)
		}
	}
	if p := got["produce MB/s, 1 partition"]; p.Strata != 100 || p.Reference != 200 || p.Rounds[2] != (RoundRatio{Round: 3, Strata: 100, Reference: 200, Ratio: 0.5}) {
		t.Errorf("produce/1 figures: %+v", p)
	}

	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, s); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"| hot consume MB/s | ≥ 1.0× Kafka | 110.0 | 100.0 (kafka) | 1.10× (0.90×–1.30×) | TIE |",
		"| produce MB/s, 12 partitions | ≥ 1.2× Kafka | 130.0 | 100.0 (kafka) | 1.30× (1.25×–1.40×) | PASS |",
		"| object-durability ack p99 (ms) | ≤ 150 ms | 140.0 | 150.0 (bound) | 0.93× (0.67×–1.07×) | TIE |",
		"| goal | round 1 | round 2 | round 3 | median (min–max) | verdict |",
		"| produce MB/s, 1 partition | 1.00× | 1.00× | 0.50× | 1.00× (0.50×–1.00×) | FAIL |",
		"TIE: the rounds fall on both sides of it.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
}

func TestGoalsMissingReferenceRounds(t *testing.T) {
	runs := threeRounds()
	for i := range runs { // Kafka did not start in round 2; its consume never ran at all
		r := &runs[i]
		switch {
		case r.System == SystemKafka && r.Name == ScenarioConsume:
			r.System = SystemMinIO // out of the way: no kafka consume row at all
		case r.System == SystemKafka && r.Round == 2:
			*r = Result{Name: r.Name, System: r.System, Partitions: r.Partitions, Round: 2, Skipped: "failed: broker did not start"}
		}
	}
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs}
	got := goalsByWhat(s)
	p12 := got["produce MB/s, 12 partitions"]
	if p12.Verdict != Pass || len(p12.Rounds) != 2 || p12.Rounds[1].Round != 3 || p12.Note != "2 of 3 rounds had both figures" ||
		p12.RatioMin != 1.3 || p12.RatioMax != 1.4 {
		t.Errorf("round 2 left out: %+v", p12)
	}
	if c := got["hot consume MB/s"]; c.Verdict != NoData || !strings.Contains(c.Reason, "kafka did not run consume/12") {
		t.Errorf("no kafka consume: %+v", c)
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| produce MB/s, 12 partitions | ≥ 1.2× Kafka | 130.0 | 100.0 (kafka) | 1.35× (1.30×–1.40×) | PASS (2 of 3 rounds had both figures) |",
		"| produce MB/s, 12 partitions | 1.30× | – | 1.40× | 1.35× (1.30×–1.40×) | PASS |",
		"| hot consume MB/s | ≥ 1.0× Kafka | – | – | – | NO DATA: kafka did not run consume/12 |",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q\n%s", want, buf.String())
		}
	}

	// Kafka measured only the round in which Strata failed: no round has both figures.
	runs = []Result{
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 1, MBPerS: 120},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 1, Skipped: "failed: boom"},
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 2, Skipped: "failed: boom"},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 2, MBPerS: 100},
	}
	s = &Summary{Scenarios: Aggregate(runs), Runs: runs}
	if g := goalsByWhat(s)["produce MB/s, 1 partition"]; g.Verdict != NoData || !strings.Contains(g.Reason, "no round measured both") {
		t.Errorf("figures from different rounds are not compared: %+v", g)
	}

	// One round with a figure out of three: judged on it, and said so.
	runs = []Result{
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 1, MBPerS: 130},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 1, MBPerS: 100},
		{Name: ScenarioProduce, System: SystemStrata, Partitions: 1, Round: 2, MBPerS: 120},
		{Name: ScenarioProduce, System: SystemKafka, Partitions: 1, Round: 2, Skipped: "failed: boom"},
	}
	s = &Summary{Scenarios: Aggregate(runs), Runs: runs}
	if g := goalsByWhat(s)["produce MB/s, 1 partition"]; g.Verdict != Pass || g.Note != "one of 2 rounds had both figures: no spread" {
		t.Errorf("one usable round: %+v", g)
	}
}

func TestGoalsSingleRound(t *testing.T) {
	runs := threeRounds()[:10] // round 1 only
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs, Settings: map[string]string{"mode": "quick", "rounds": "1"}}
	got := goalsByWhat(s)
	// A single round is judged on its value (there is no spread to straddle the bound), with a note.
	for what, want := range map[string]string{
		"produce MB/s, 1 partition":      Fail, // 1.0×
		"produce MB/s, 12 partitions":    Pass, // 1.3×
		"hot consume MB/s":               Fail, // 0.9×
		"object-durability ack p99 (ms)": Pass, // 100 ms
	} {
		g := got[what]
		if g.Verdict != want || g.Note != "one round: no spread" || len(g.Rounds) != 1 || g.RatioMin != g.RatioMax {
			t.Errorf("%s: %+v, want %s with a note", what, g, want)
		}
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, s); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	if want := "| produce MB/s, 12 partitions | ≥ 1.2× Kafka | 130.0 | 100.0 (kafka) | 1.30× | PASS (one round: no spread) |"; !strings.Contains(md, want) {
		t.Errorf("markdown lacks %q\n%s", want, md)
	}
	if strings.Contains(md, "Goals by round") {
		t.Errorf("one round needs no by-round table\n%s", md)
	}
}

func TestJudgeJSON(t *testing.T) {
	runs := threeRounds()
	s := &Summary{Scenarios: Aggregate(runs), Runs: runs}
	s.Judge()
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf); err != nil { // NaN ratios of goals without data must not reach the encoder
		t.Fatal(err)
	}
	var raw struct {
		Goals []map[string]any `json:"goals"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Goals) != len(goalDefs) {
		t.Fatalf("%d goals in JSON, want %d", len(raw.Goals), len(goalDefs))
	}
	byWhat := map[string]map[string]any{}
	for _, g := range raw.Goals {
		byWhat[g["what"].(string)] = g
	}
	c := byWhat["hot consume MB/s"]
	if c["verdict"] != Tie || c["ratio_median"] != 1.1 || c["ratio_min"] != 0.9 || c["ratio_max"] != 1.3 || len(c["rounds"].([]any)) != 3 {
		t.Errorf("consume goal in JSON: %v", c)
	}
	r := byWhat["cold replay MB/s"]
	if _, ok := r["ratio_median"]; ok || r["verdict"] != NoData || r["reason"] == "" {
		t.Errorf("goal without data in JSON: %v", r)
	}
	back, err := ReadSummary(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Goals) != len(s.Goals) || back.Goals[0].Rounds[2].Ratio != 0.5 || *back.Goals[0].RatioMin != 0.5 {
		t.Errorf("goals lost in the round trip: %+v", back.Goals[0])
	}
}
