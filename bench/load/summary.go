package load

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSummary marks a summary file that cannot be read back.
var ErrSummary = errors.New("load: bad summary")

// Systems and scenario names as they appear in the summary.
const (
	SystemStrata = "strata"
	SystemKafka  = "kafka"
	// SystemKafkaFsync is Kafka with flush.messages=1 on every topic: it fsyncs before answering
	// acks=all, as Strata does, so its rows show what durability costs Kafka on this disk.
	SystemKafkaFsync = "kafka-fsync"
	SystemMinIO      = "minio" // raw object-store GET bandwidth, the replay baseline

	ScenarioProduce = "produce"
	ScenarioConsume = "consume"
	ScenarioLatency = "latency"
	ScenarioReplay  = "replay"
	ScenarioObject  = "object"
	// ScenarioObjectBurst is produce at full speed to an object-durability topic of many
	// partitions, run with the object scenario: what its flushes cost in PUTs per GiB at
	// throughput (the object scenario proper runs at fixed, lower rates).
	ScenarioObjectBurst = "object-burst"
)

// Result is one scenario on one system. Throughput counts record value bytes (1 MB = 10^6 bytes).
// Latencies are in milliseconds: for produce, latency and object the producer's ack latency (from
// the Produce call to its promise), with the end-to-end figures (send time carried in the record
// to its arrival at a consumer) in the E2E fields. A skipped result has Skipped set and no figures.
type Result struct {
	Name        string  `json:"name"`
	System      string  `json:"system"`
	Partitions  int     `json:"partitions,omitempty"`
	Round       int     `json:"round,omitempty"`
	Skipped     string  `json:"skipped,omitempty"`
	Records     int64   `json:"records"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MBPerS      float64 `json:"mb_per_s"`
	RecordsPerS float64 `json:"records_per_s"`
	TargetRate  float64 `json:"target_records_per_s,omitempty"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	E2EP50Ms    float64 `json:"e2e_p50_ms,omitempty"`
	E2EP99Ms    float64 `json:"e2e_p99_ms,omitempty"`
	E2EP999Ms   float64 `json:"e2e_p999_ms,omitempty"`
	Errors      int64   `json:"errors,omitempty"`
	Note        string  `json:"note,omitempty"`
	// HotMBPerS is, on a Strata replay row, the rate of a hot consume of the same partitions and
	// bytes (read while the hot log still held them), and ReplayVsHot the replay's MB/s over it:
	// what a consumer notices when its data has left the hot tier. ReplayVsMinIO is the replay's
	// MB/s over the raw MinIO GET of the same round. Each ratio is taken within one round; the
	// aggregate is their median.
	HotMBPerS     float64 `json:"hot_mb_per_s,omitempty"`
	ReplayVsHot   float64 `json:"replay_vs_hot,omitempty"`
	ReplayVsMinIO float64 `json:"replay_vs_minio,omitempty"`
	// IdleCPUPct and MetadataWritesPerS are, on a partitions row, the server's CPU (percent of one
	// core) and metadata writes per second while its partitions sat idle.
	IdleCPUPct         float64 `json:"idle_cpu_pct,omitempty"`
	MetadataWritesPerS float64 `json:"metadata_writes_per_s,omitempty"`
	// Figures are a scenario's named figures (columnar, query; object-burst's steady window; the
	// replay's CPU per pass): ratios, shares, seconds and rates that have no column of their own
	// (Columnar, Query and Replay name them). The aggregate
	// holds each one's median over the rounds that measured it.
	Figures map[string]float64 `json:"figures,omitempty"`
	// ObjStore is the change in Strata's object store counters over the scenario (Strata only).
	ObjStore *ObjStoreDelta `json:"objstore,omitempty"`
	// Server is the change in Strata's request-path counters over the scenario (Strata only).
	Server *ServerDelta `json:"server,omitempty"`
	// CDF and E2ECDF are reduced latency distributions for the plots (latency scenarios only).
	CDF    []CDFPoint `json:"cdf,omitempty"`
	E2ECDF []CDFPoint `json:"e2e_cdf,omitempty"`
}

// Key names a scenario variant independent of the system and round, e.g. "produce/12".
func (r Result) Key() string {
	if r.Partitions > 0 {
		return r.Name + "/" + strconv.Itoa(r.Partitions)
	}
	return r.Name
}

// SetThroughput fills the rates from counts and elapsed time.
func (r *Result) SetThroughput(records, bytes int64, elapsed time.Duration) {
	r.Records, r.Bytes, r.Seconds = records, bytes, elapsed.Seconds()
	r.MBPerS, r.RecordsPerS = 0, 0
	if r.Seconds > 0 {
		r.MBPerS = float64(bytes) / 1e6 / r.Seconds
		r.RecordsPerS = float64(records) / r.Seconds
	}
}

// SetLatency fills the ack-latency percentiles (zero for no samples).
func (r *Result) SetLatency(sorted []float64) {
	l := Summarize(sorted)
	r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs = finite(l.P50), finite(l.P99), finite(l.P999), finite(l.Max)
}

// SetE2E fills the end-to-end percentiles (zero for no samples).
func (r *Result) SetE2E(sorted []float64) {
	l := Summarize(sorted)
	r.E2EP50Ms, r.E2EP99Ms, r.E2EP999Ms = finite(l.P50), finite(l.P99), finite(l.P999)
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model,omitempty"`
	MemoryGiB float64 `json:"memory_gib"`
	GoVersion string  `json:"go_version"`
	Kernel    string  `json:"kernel,omitempty"`
	OS        string  `json:"os"`
	Arch      string  `json:"arch"`
	LoadAvg   string  `json:"load_avg_at_start,omitempty"`
	Java      string  `json:"java,omitempty"`
	Kafka     string  `json:"kafka_version,omitempty"`
	Started   string  `json:"started"`
	Note      string  `json:"note,omitempty"`
}

// Summary is bench/out/summary.json. Scenarios holds one row per (scenario, partitions, system): the
// median over rounds of every figure; Runs holds every round as measured; Goals (filled by Judge)
// holds every goal's per-round ratios, their median and spread, and the verdict.
type Summary struct {
	Scenarios []Result          `json:"scenarios"`
	Runs      []Result          `json:"runs,omitempty"`
	Goals     []GoalFigures     `json:"goals,omitempty"`
	Machine   Machine           `json:"machine"`
	Settings  map[string]string `json:"settings,omitempty"`
}

// DescribeMachine reads what it can of this machine from /proc; missing files leave fields empty.
func DescribeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Started: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	m.MemoryGiB = procField("/proc/meminfo", "MemTotal", func(v string) float64 {
		kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
		return math.Round(kb/1024/1024*10) / 10
	})
	procField("/proc/cpuinfo", "model name", func(v string) float64 { m.CPUModel = strings.TrimSpace(v); return 0 })
	return m
}

func procField(path, key string, parse func(string) float64) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key && strings.TrimSpace(v) != "" {
			return parse(strings.TrimSpace(v))
		}
	}
	return 0
}

// Aggregate reduces runs to one Result per (scenario key, system) in first-seen order: the median of
// every figure over the rounds that were not skipped, the CDFs of the median-p99 round, and the
// object-store deltas summed. A variant skipped in every round stays skipped with the first reason.
func Aggregate(runs []Result) []Result {
	type group struct{ all []Result }
	var order []string
	groups := map[string]*group{}
	for _, r := range runs {
		k := r.Key() + "\x00" + r.System
		g, ok := groups[k]
		if !ok {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		g.all = append(g.all, r)
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		g := groups[k]
		var ok []Result
		for _, r := range g.all {
			if r.Skipped == "" {
				ok = append(ok, r)
			}
		}
		if len(ok) == 0 {
			s := g.all[0]
			s.Round = 0
			out = append(out, s)
			continue
		}
		med := func(f func(Result) float64) float64 {
			vs := make([]float64, len(ok))
			for i, r := range ok {
				vs[i] = f(r)
			}
			return Median(vs)
		}
		a := Result{Name: ok[0].Name, System: ok[0].System, Partitions: ok[0].Partitions, TargetRate: ok[0].TargetRate, Note: ok[0].Note}
		a.Records = int64(med(func(r Result) float64 { return float64(r.Records) }))
		a.Bytes = int64(med(func(r Result) float64 { return float64(r.Bytes) }))
		a.Seconds = med(func(r Result) float64 { return r.Seconds })
		a.MBPerS = med(func(r Result) float64 { return r.MBPerS })
		a.RecordsPerS = med(func(r Result) float64 { return r.RecordsPerS })
		a.P50Ms = med(func(r Result) float64 { return r.P50Ms })
		a.P99Ms = med(func(r Result) float64 { return r.P99Ms })
		a.P999Ms = med(func(r Result) float64 { return r.P999Ms })
		a.MaxMs = med(func(r Result) float64 { return r.MaxMs })
		a.E2EP50Ms = med(func(r Result) float64 { return r.E2EP50Ms })
		a.E2EP99Ms = med(func(r Result) float64 { return r.E2EP99Ms })
		a.E2EP999Ms = med(func(r Result) float64 { return r.E2EP999Ms })
		// Rounds without a figure (no hot pass, no baseline) do not pull the median to zero.
		medSet := func(f func(Result) float64) float64 {
			var vs []float64
			for _, r := range ok {
				if v := f(r); v > 0 {
					vs = append(vs, v)
				}
			}
			if len(vs) == 0 {
				return 0
			}
			return Median(vs)
		}
		a.HotMBPerS = medSet(func(r Result) float64 { return r.HotMBPerS })
		a.ReplayVsHot = medSet(func(r Result) float64 { return r.ReplayVsHot })
		a.ReplayVsMinIO = medSet(func(r Result) float64 { return r.ReplayVsMinIO })
		a.Figures = medianFigures(ok)
		a.IdleCPUPct = med(func(r Result) float64 { return r.IdleCPUPct })
		a.MetadataWritesPerS = med(func(r Result) float64 { return r.MetadataWritesPerS })
		for _, r := range ok {
			a.Errors += r.Errors
			if r.ObjStore != nil {
				if a.ObjStore == nil {
					a.ObjStore = &ObjStoreDelta{}
				}
				a.ObjStore.add(*r.ObjStore)
			}
		}
		if a.ObjStore != nil {
			a.ObjStore.derive()
		}
		for _, r := range ok { // request-path figures of the first round that has them
			if r.Server != nil {
				a.Server = r.Server
				break
			}
		}
		byP99 := slices.Clone(ok)
		slices.SortStableFunc(byP99, func(x, y Result) int { return cmpFloat(x.P99Ms, y.P99Ms) })
		mid := byP99[(len(byP99)-1)/2]
		a.CDF, a.E2ECDF = mid.CDF, mid.E2ECDF
		out = append(out, a)
	}
	return out
}

// RelateReplay sets ReplayVsMinIO on every Strata replay run that has a raw MinIO GET of the same
// round beside it: both read the same MinIO on the same machine moments apart.
func RelateReplay(runs []Result) {
	base := map[int]float64{}
	for _, r := range runs {
		if r.Name == ScenarioReplay && r.System == SystemMinIO && r.Skipped == "" {
			base[r.Round] = r.MBPerS
		}
	}
	for i := range runs {
		r := &runs[i]
		if b := base[r.Round]; r.Name == ScenarioReplay && r.System == SystemStrata && r.Skipped == "" && b > 0 {
			r.ReplayVsMinIO = r.MBPerS / b
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Find returns the aggregated result for a scenario key and system.
func (s *Summary) Find(key, system string) (Result, bool) {
	for _, r := range s.Scenarios {
		if r.Key() == key && r.System == system {
			return r, true
		}
	}
	return Result{}, false
}

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// ReadSummary reads a summary written by WriteJSON.
func ReadSummary(r io.Reader) (*Summary, error) {
	var s Summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSummary, err)
	}
	for i, sc := range s.Scenarios {
		if sc.Name == "" || sc.System == "" {
			return nil, fmt.Errorf("%w: scenario %d has no name or system", ErrSummary, i)
		}
	}
	return &s, nil
}
