package load

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
)

// Verdicts of a goal.
const (
	Pass    = "PASS"
	Fail    = "FAIL"
	Skipped = "SKIPPED"
	NoData  = "NO DATA"
)

// Goal is one row of the ratio table: a Strata figure against its reference and the target ratio.
// With per-round figures (Summary.Runs), Ratio is the median of the ratios taken within each round
// and RatioMin/RatioMax their spread; the verdict is TIE when that spread straddles the bound.
type Goal struct {
	What      string  // e.g. "produce MB/s, 12 partitions"
	Target    string  // e.g. "≥ 1.2× Kafka"
	Strata    float64 // Strata's figure (median over rounds)
	Reference float64 // the reference figure (Kafka, MinIO, or the absolute bound; median over rounds)
	RefLabel  string  // what Reference is
	Ratio     float64 // median of the per-round Strata / Reference (NaN for no data)
	RatioMin  float64 // lowest per-round ratio (NaN for no data)
	RatioMax  float64 // highest per-round ratio (NaN for no data)
	Rounds    []RoundRatio
	Verdict   string
	Reason    string // why skipped or missing
	Note      string // how far to trust the verdict (one round, rounds left out)
}

type goalDef struct {
	what, target   string
	key, refSystem string
	field          func(Result) float64
	absolute       float64 // when > 0: Reference is this bound, not another system
	// own, when set, takes the reference and the ratio from Strata's own row (a figure measured
	// beside it in the same rounds) instead of another system's; refLabel names it.
	own      func(Result) (ref, ratio float64)
	refLabel string
	ok       func(ratio float64) bool
}

func mbps(r Result) float64  { return r.MBPerS }
func p99ms(r Result) float64 { return r.P99Ms }

var goalDefs = []goalDef{
	{what: "produce MB/s, 1 partition", target: "≥ 1.2× Kafka", key: "produce/1", refSystem: SystemKafka, field: mbps,
		ok: func(x float64) bool { return x >= 1.2 }},
	{what: "produce MB/s, 12 partitions", target: "≥ 1.2× Kafka", key: "produce/12", refSystem: SystemKafka, field: mbps,
		ok: func(x float64) bool { return x >= 1.2 }},
	{what: "produce ack p99 at a fixed rate (ms)", target: "≤ 1.0× Kafka", key: ScenarioLatency, refSystem: SystemKafka, field: p99ms,
		ok: func(x float64) bool { return x <= 1.0 }},
	{what: "hot consume MB/s", target: "≥ 1.0× Kafka", key: "consume/12", refSystem: SystemKafka, field: mbps,
		ok: func(x float64) bool { return x >= 1.0 }},
	{what: "cold replay MB/s", target: "≥ 0.8× raw MinIO GET", key: ScenarioReplay, refSystem: SystemMinIO, field: mbps,
		ok: func(x float64) bool { return x >= 0.8 }},
	{what: "cold replay vs hot consume of the same data (replay_vs_hot)", target: "≥ 0.9× hot consume", key: ScenarioReplay,
		field: mbps, own: func(r Result) (float64, float64) { return r.HotMBPerS, r.ReplayVsHot }, refLabel: "hot",
		ok: func(x float64) bool { return x >= 0.9 }},
	{what: "object-durability ack p99 (ms)", target: "≤ 150 ms", key: ScenarioObject, field: p99ms, absolute: 150,
		ok: func(x float64) bool { return x <= 1.0 }},
	{what: "object durability at ≥ 100 MB/s, 256 partitions: flush PUTs per GiB (steady)", target: "≤ 130", key: ScenarioObjectBurst + "/256",
		field: burstFlushPuts, absolute: 130, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "idle partitions: server CPU (% of one core)", target: "≤ 5%", key: ScenarioPartitions,
		field: func(r Result) float64 { return r.IdleCPUPct }, absolute: 5, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "idle partitions: metadata writes per second", target: "≤ 20/s", key: ScenarioPartitions,
		field: func(r Result) float64 { return r.MetadataWritesPerS }, absolute: 20, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "columnar: Parquet ÷ segment bytes, producer uncompressed", target: "≤ 0.5", key: ScenarioColumnar,
		field: figure("parquet_vs_segment"), absolute: 0.5, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "columnar: Parquet ÷ segment bytes, producer zstd", target: "≤ 1.0", key: ScenarioColumnar,
		field: figure("parquet_vs_segment_zstd"), absolute: 1.0, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "columnar: conversion MB/s per core (one compaction worker's encoding time)", target: "≥ 50 MB/s", key: ScenarioColumnar,
		field: figure("convert_encode_mb_per_s"), absolute: 50, ok: func(x float64) bool { return x >= 1.0 }},
	{what: "columnar: cold replay from Parquet ÷ from segments", target: "≥ 0.8", key: ScenarioColumnar,
		field: figure("replay_first_parquet_vs_segment"), absolute: 0.8, ok: func(x float64) bool { return x >= 1.0 }},
	{what: "query: 1-hour window, bytes read ÷ full scan's", target: "≤ 0.05", key: ScenarioQuery,
		field: figure("window_1h_bytes_share"), absolute: 0.05, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "query: key lookup, bytes read ÷ full scan's", target: "≤ 0.02", key: ScenarioQuery,
		field: figure("key_bytes_share"), absolute: 0.02, ok: func(x float64) bool { return x <= 1.0 }},
	{what: "query: GROUP BY per minute, seconds ÷ DuckDB's over the same Parquet", target: "≤ 2.0", key: ScenarioQuery,
		field: figure("groupby_vs_duckdb"), absolute: 2, ok: func(x float64) bool { return x <= 1.0 }},
}

// burstFlushPuts is the flush PUTs per GiB of an object-burst run in its steady middle, when that
// ran at 100 MB/s or more (the bound is for that rate: slower, a flush holds less and more PUTs go
// per GiB); NaN otherwise.
func burstFlushPuts(r Result) float64 {
	if r.Figures["steady_mb_per_s"] < 100 {
		return math.NaN()
	}
	if v, ok := r.Figures["steady_flush_puts_per_gib"]; ok {
		return v
	}
	return math.NaN()
}

// figure reads a table scenario's named figure (Result.Figures); NaN when it was not measured.
func figure(name string) func(Result) float64 {
	return func(r Result) float64 {
		if v, ok := r.Figures[name]; ok {
			return v
		}
		return math.NaN()
	}
}

// Goals evaluates the project's performance goals on a summary. When s.Runs holds the rounds, each
// goal's ratio is taken within every round that measured both of its figures (Strata and the
// reference beside it), and the verdict judges the range of those ratios (see judgeRange): a goal
// passes only if every round passes. One round is judged on its single value, with a note saying
// so. A summary without Runs is judged on its aggregated rows alone.
func Goals(s *Summary) []Goal {
	out := make([]Goal, 0, len(goalDefs))
	for _, d := range goalDefs {
		out = append(out, evalGoal(d, s))
	}
	return out
}

func evalGoal(d goalDef, s *Summary) Goal {
	g := Goal{What: d.what, Target: d.target, Ratio: math.NaN(), RatioMin: math.NaN(), RatioMax: math.NaN(), RefLabel: d.refSystem}
	st, ok := s.Find(d.key, SystemStrata)
	switch {
	case !ok:
		g.Verdict, g.Reason = NoData, "strata did not run "+d.key
		return g
	case st.Skipped != "":
		g.Verdict, g.Reason = Skipped, st.Skipped
		return g
	}
	g.Strata = d.field(st)
	if math.IsNaN(g.Strata) {
		g.Verdict, g.Reason = NoData, "strata's "+d.key+" has no such figure"
		if st.Note != "" {
			g.Reason += " (" + st.Note + ")"
		}
		return g
	}
	var ratio float64
	switch {
	case d.own != nil:
		g.RefLabel = d.refLabel
		var ref float64
		ref, ratio = d.own(st)
		if ref <= 0 || ratio <= 0 {
			g.Verdict, g.Reason = NoData, "no "+d.refLabel+" figure beside strata's "+d.key
			return g
		}
		g.Reference = ref
	case d.absolute > 0:
		g.Reference, g.RefLabel = d.absolute, "bound"
	default:
		ref, ok := s.Find(d.key, d.refSystem)
		if !ok || ref.Skipped != "" {
			g.Verdict, g.Reason = NoData, d.refSystem+" did not run "+d.key
			if ok {
				g.Reason = d.refSystem + ": " + ref.Skipped
			}
			return g
		}
		g.Reference = d.field(ref)
	}
	if d.own == nil {
		if g.Reference <= 0 {
			g.Verdict, g.Reason = NoData, "reference figure is zero"
			return g
		}
		ratio = g.Strata / g.Reference
	}
	if len(s.Runs) == 0 { // aggregated rows only: one value, no spread
		g.Ratio, g.RatioMin, g.RatioMax = ratio, ratio, ratio
		g.Verdict = judgeRange(d.ok, ratio, ratio)
		return g
	}
	g.Rounds = roundRatios(d, s.Runs)
	if len(g.Rounds) == 0 {
		g.Verdict, g.Reason = NoData, "no round measured both strata's and the "+g.RefLabel+" figure of "+d.key
		return g
	}
	rs := make([]float64, len(g.Rounds))
	for i, r := range g.Rounds {
		rs[i] = r.Ratio
	}
	g.Ratio, g.RatioMin, g.RatioMax = Median(rs), slices.Min(rs), slices.Max(rs)
	g.Verdict = judgeRange(d.ok, g.RatioMin, g.RatioMax)
	ran := 0 // rounds in which Strata measured the figure
	for _, r := range s.Runs {
		if r.System == SystemStrata && r.Key() == d.key && r.Skipped == "" {
			ran++
		}
	}
	switch {
	case len(g.Rounds) == 1 && ran == 1:
		g.Note = "one round: no spread"
	case len(g.Rounds) == 1:
		g.Note = fmt.Sprintf("one of %d rounds had both figures: no spread", ran)
	case len(g.Rounds) < ran:
		g.Note = fmt.Sprintf("%d of %d rounds had both figures", len(g.Rounds), ran)
	}
	return g
}

// WriteMarkdown writes the report: the goals with their ratios, every aggregated result, and the
// object-store counters.
func WriteMarkdown(w io.Writer, s *Summary) error {
	var b strings.Builder
	m := s.Machine
	fmt.Fprintf(&b, "# Strata vs Apache Kafka\n\n")
	fmt.Fprintf(&b, "Machine: %d CPUs (%s), %.1f GiB, %s, kernel %s, Kafka %s, load average at start %s, %s.\n",
		m.CPUs, orDash(m.CPUModel), m.MemoryGiB, m.GoVersion, orDash(m.Kernel), orDash(m.Kafka), orDash(m.LoadAvg), m.Started)
	if m.Note != "" {
		fmt.Fprintf(&b, "%s\n", m.Note)
	}
	if mode := s.Settings["mode"]; mode != "" {
		fmt.Fprintf(&b, "Mode: %s; rounds: %s; figures are medians over rounds.\n", mode, orDash(s.Settings["rounds"]))
	}
	goals := Goals(s)
	b.WriteString("\n## Goals\n\n")
	if len(s.Runs) > 0 {
		b.WriteString("strata and reference: medians over rounds; ratio: the median of the ratios taken within each round " +
			"(min–max over rounds). PASS needs every round to meet the target, FAIL every round to miss it; " +
			"TIE: the rounds fall on both sides of it.\n\n")
	}
	b.WriteString("| goal | target | strata | reference | ratio | verdict |\n|---|---|---:|---:|---:|---|\n")
	for _, g := range goals {
		if g.Verdict == Skipped || g.Verdict == NoData {
			fmt.Fprintf(&b, "| %s | %s | – | – | – | %s: %s |\n", g.What, g.Target, g.Verdict, escape(g.Reason))
			continue
		}
		verdict := g.Verdict
		if g.Note != "" {
			verdict += " (" + g.Note + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s (%s) | %s | %s |\n", g.What, g.Target, num(g.Strata), num(g.Reference), g.RefLabel,
			goalRatio(g), escape(verdict))
	}
	writeGoalRounds(&b, goals)
	b.WriteString("\n## Results\n\n| scenario | system | MB/s | records/s | p50 ms | p99 ms | p99.9 ms | e2e p50 ms | e2e p99 ms | e2e p99.9 ms | note |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range s.Scenarios {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | | | | | | | | | skipped: %s |\n", r.Key(), r.System, escape(r.Skipped))
			continue
		}
		note := r.Note
		if r.Errors > 0 {
			note = strings.TrimSpace(fmt.Sprintf("%d errors %s", r.Errors, note))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Key(), r.System,
			num(r.MBPerS), num(r.RecordsPerS), lat(r.P50Ms, r), lat(r.P99Ms, r), lat(r.P999Ms, r),
			opt(r.E2EP50Ms), opt(r.E2EP99Ms), opt(r.E2EP999Ms), escape(note))
	}
	writeReplayRounds(&b, s)
	writeFigures(&b, s)
	var objRows []Result
	for _, r := range s.Scenarios {
		if r.ObjStore != nil {
			objRows = append(objRows, r)
		}
	}
	if len(objRows) > 0 {
		b.WriteString("\n## Strata object store, per scenario\n\n| scenario | PUTs | GETs | errors | PUTs/GiB | flush PUTs/GiB | GETs/GiB | bytes/PUT | bytes/GET | flush PUTs/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range objRows {
			o := r.ObjStore
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s |\n", r.Key(), o.Puts, o.Gets, o.Errors,
				num(o.PutsPerGiB), num(o.FlushPutsPerGiB), num(o.GetsPerGiB), num(o.BytesPerPut), num(o.BytesPerGet), num(o.FlushPutsPerS))
		}
	}
	var srvRows []Result
	for _, r := range s.Scenarios {
		if r.Server != nil {
			srvRows = append(srvRows, r)
		}
	}
	if len(srvRows) > 0 {
		b.WriteString("\n## Strata request path, per scenario\n\n| scenario | Produce requests | Fetch requests | bytes/Fetch response | fsyncs | batches/fsync |\n|---|---:|---:|---:|---:|---:|\n")
		for _, r := range srvRows {
			v := r.Server
			fmt.Fprintf(&b, "| %s | %.0f | %.0f | %s | %.0f | %s |\n", r.Key(), v.ProduceRequests, v.FetchRequests, num(v.BytesPerFetch), v.Fsyncs, num(v.BatchesPerFsync))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func escape(s string) string { return strings.ReplaceAll(s, "|", "/") }

// num prints a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func opt(v float64) string {
	if v == 0 {
		return ""
	}
	return num(v)
}

// lat prints a latency only for results that measured one.
func lat(v float64, r Result) string {
	if r.Name == ScenarioConsume || r.Name == ScenarioReplay || tableScenario(r.Name) {
		return ""
	}
	return num(v)
}

// writeReplayRounds writes the cold replay's figures per round and their spread: a 2-core machine
// shared with other work swings single runs by 2×, so the median alone hides how far to trust it.
func writeReplayRounds(b *strings.Builder, s *Summary) {
	var rows []Result
	for _, r := range s.Runs {
		if r.Name == ScenarioReplay && r.System == SystemStrata && r.Skipped == "" {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	minio := map[int]float64{}
	for _, r := range s.Runs {
		if r.Name == ScenarioReplay && r.System == SystemMinIO && r.Skipped == "" {
			minio[r.Round] = r.MBPerS
		}
	}
	b.WriteString("\n## Cold replay by round\n\n| round | cold MB/s | hot MB/s | replay_vs_hot | MinIO GET MB/s | replay_vs_minio |\n|---:|---:|---:|---:|---:|---:|\n")
	cols := [5][]float64{}
	for _, r := range rows {
		m := math.NaN()
		if v, ok := minio[r.Round]; ok {
			m = v
		}
		vals := [5]float64{r.MBPerS, r.HotMBPerS, r.ReplayVsHot, m, r.ReplayVsMinIO}
		for i, v := range vals {
			if v == 0 {
				v = math.NaN()
			}
			cols[i] = append(cols[i], v)
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %s |\n", r.Round, num(vals[0]), num(nanZero(vals[1])), ratio(vals[2]), num(m), ratio(vals[4]))
	}
	fmt.Fprintf(b, "| median (min–max) | %s | %s | %s | %s | %s |\n", spread(cols[0], num), spread(cols[1], num),
		spread(cols[2], ratio), spread(cols[3], num), spread(cols[4], ratio))
}

func nanZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

func ratio(v float64) string {
	if v == 0 || math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// spread prints the median and the range of vs (NaN entries left out).
func spread(vs []float64, f func(float64) string) string {
	var ok []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return "–"
	}
	return fmt.Sprintf("%s (%s–%s)", f(Median(ok)), f(slices.Min(ok)), f(slices.Max(ok)))
}

// goalRatio prints a goal's ratio: "median (min–max)" over two or more rounds, the value alone for
// one round or for a summary without per-round figures.
func goalRatio(g Goal) string {
	if len(g.Rounds) < 2 {
		return fmt.Sprintf("%.2f×", g.Ratio)
	}
	return fmt.Sprintf("%.2f× (%.2f×–%.2f×)", g.Ratio, g.RatioMin, g.RatioMax)
}

// writeGoalRounds writes every judged goal's ratio in each round, so a reader sees which rounds
// carried a median and whether the order of the systems in a round shows.
func writeGoalRounds(b *strings.Builder, goals []Goal) {
	last := 0
	for _, g := range goals {
		for _, r := range g.Rounds {
			last = max(last, r.Round)
		}
	}
	if last < 2 {
		return
	}
	b.WriteString("\n## Goals by round\n\n| goal |")
	for i := 1; i <= last; i++ {
		fmt.Fprintf(b, " round %d |", i)
	}
	b.WriteString(" median (min–max) | verdict |\n|---|" + strings.Repeat("---:|", last) + "---:|---|\n")
	for _, g := range goals {
		if len(g.Rounds) == 0 {
			continue
		}
		fmt.Fprintf(b, "| %s |", g.What)
		for i := 1; i <= last; i++ {
			cell := "–"
			if j := slices.IndexFunc(g.Rounds, func(r RoundRatio) bool { return r.Round == i }); j >= 0 {
				cell = fmt.Sprintf("%.2f×", g.Rounds[j].Ratio)
			}
			fmt.Fprintf(b, " %s |", cell)
		}
		fmt.Fprintf(b, " %s | %s |\n", goalRatio(g), g.Verdict)
	}
}

// writeFigures writes the scenarios' named figures (the table scenarios', object-burst's steady
// window): the median over rounds and the spread.
func writeFigures(b *strings.Builder, s *Summary) {
	header := false
	for _, agg := range s.Scenarios {
		if len(agg.Figures) == 0 {
			continue
		}
		if !header {
			b.WriteString("\n## Named figures (object-burst, columnar, query; CPU per GiB of produce and replay)\n\n| scenario | figure | median | median (min–max) over rounds |\n|---|---|---:|---:|\n")
			header = true
		}
		names := slices.Sorted(maps.Keys(agg.Figures))
		for _, name := range names {
			var vs []float64
			for _, r := range s.Runs {
				if v, ok := r.Figures[name]; ok && r.Key() == agg.Key() && r.System == agg.System && r.Skipped == "" {
					vs = append(vs, v)
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", agg.Key(), name, num(agg.Figures[name]), spread(vs, num))
		}
	}
}
