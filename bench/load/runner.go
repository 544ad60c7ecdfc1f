package load

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RunConfig is one benchmark run: which systems and scenarios, how big, and where the binaries are.
type RunConfig struct {
	Mode         string // "quick" or "full", recorded in the summary
	Params       Params
	Rounds       int      // each round runs every system once; the order alternates between rounds
	Systems      []string // strata, kafka, kafka-fsync
	Scenarios    []string // produce, consume, latency, object, replay, partitions, columnar, query
	StrataBin    string
	KafkaScripts string // bench/kafka
	MinIOBin     string // "" when MinIO is not installed: Strata uses its file store, no replay baseline
	WorkDir      string // broker data, removed after each broker stops
	Log          *slog.Logger
}

// AllScenarios in the order a broker runs them.
var AllScenarios = []string{ScenarioProduce, ScenarioConsume, ScenarioLatency, ScenarioObject, ScenarioReplay, ScenarioPartitions,
	ScenarioColumnar, ScenarioQuery}

// Validate checks the config and fills defaults.
func (c *RunConfig) Validate() error {
	if c.Rounds < 1 {
		c.Rounds = 1
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if len(c.Systems) == 0 {
		c.Systems = []string{SystemStrata, SystemKafka}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = AllScenarios
	}
	for _, s := range c.Systems {
		if s != SystemStrata && s != SystemKafka && s != SystemKafkaFsync {
			return fmt.Errorf("load: unknown system %q", s)
		}
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("load: unknown scenario %q", s)
		}
	}
	if c.WorkDir == "" {
		return fmt.Errorf("load: no work dir")
	}
	return nil
}

const minioUser, minioPassword = "strata-bench", "strata-bench-secret"

// Run runs every round and returns the summary (Runs as measured, Scenarios aggregated).
func Run(ctx context.Context, cfg RunConfig) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sum := &Summary{Machine: DescribeMachine(), Settings: map[string]string{
		"mode": cfg.Mode, "rounds": strconv.Itoa(cfg.Rounds), "record_bytes": strconv.Itoa(cfg.Params.RecordSize),
		"produce_bytes": strconv.FormatInt(cfg.Params.ProduceBytes, 10),
		"latency_rate":  strconv.Itoa(cfg.Params.LatencyRate), "latency_seconds": fmt.Sprint(cfg.Params.LatencyDuration.Seconds()),
		"warmup_bytes": strconv.FormatInt(cfg.Params.WarmupBytes, 10),
		"client":       "franz-go kgo: acks=all, idempotent, no compression, same settings for every system",
		"kafka_sync":   "kafka: broker defaults (no fsync before the ack); kafka-fsync: flush.messages=1 on every topic; strata fsyncs before acks=all answers",
	}}
	sum.Machine.Note = "Indicative only when the machine is shared with other work."
	sum.Machine.Kafka = kafkaVersion(cfg.KafkaScripts)

	var minio *MinIOProc
	if cfg.MinIOBin != "" {
		minio = &MinIOProc{Bin: cfg.MinIOBin, Dir: filepath.Join(cfg.WorkDir, "minio"), User: minioUser, Password: minioPassword}
		if err := minio.Start(ctx); err != nil {
			cfg.Log.Warn("minio did not start: strata uses its file store and replay has no baseline", "err", err)
			minio = nil
		} else {
			defer func() { _ = minio.Stop(); _ = os.RemoveAll(minio.Dir) }()
			sum.Settings["object_store"] = "MinIO on loopback (s3:// backend)"
		}
	}
	if minio == nil {
		sum.Settings["object_store"] = "file:// under the data dir"
	}

	for round := 1; round <= cfg.Rounds; round++ {
		began := time.Now()
		order := slices.Clone(cfg.Systems)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		if minio != nil && round > 1 {
			// Every round on an empty MinIO: one that kept the earlier rounds' objects took
			// the later rounds' object-durability bursts at about 60% of the first's speed (112
			// MB/s in round 1, 66–69 MB/s in rounds 2 and 3 of the same Strata scenarios).
			if err := minio.Restart(ctx); err != nil {
				return sum, fmt.Errorf("round %d: %w", round, err)
			}
		}
		if minio != nil && slices.Contains(cfg.Scenarios, ScenarioReplay) {
			r, err := MinIOGet(ctx, minio.Endpoint(), minioUser, minioPassword, cfg.Params.ReplayBytes, cfg.Params.MinIOParallel)
			if err != nil {
				r.Skipped = "failed: " + err.Error()
			}
			r.Round = round
			sum.Runs = append(sum.Runs, r)
			cfg.Log.Info("scenario done", "round", round, "system", SystemMinIO, "scenario", ScenarioReplay, "mb_per_s", r.MBPerS)
		}
		for _, system := range order {
			rs, err := runSystem(ctx, cfg, system, round, minio)
			sum.Runs = append(sum.Runs, rs...)
			if err == nil && system == SystemStrata {
				sum.Runs = append(sum.Runs, runTable(ctx, cfg, round, minio)...)
			}
			RelateReplay(sum.Runs)
			if err != nil {
				return sum, err
			}
		}
		cfg.Log.Info("round done", "round", round, "of", cfg.Rounds, "order", strings.Join(order, ","),
			"took", time.Since(began).Round(time.Second))
	}
	sum.Scenarios = Aggregate(sum.Runs)
	sum.Judge()
	return sum, nil
}

func runSystem(ctx context.Context, cfg RunConfig, system string, round int, minio *MinIOProc) ([]Result, error) {
	if !slices.ContainsFunc(cfg.Scenarios, func(s string) bool { return !tableScenario(s) }) {
		return nil, nil // only table scenarios: they start a server of their own (runTable)
	}
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("%s-%d", system, round))
	_ = os.RemoveAll(dir)
	var b Broker
	t := Target{Log: cfg.Log}
	switch system {
	case SystemStrata:
		sp := &StrataProc{Bin: cfg.StrataBin, Dir: dir}
		if minio != nil {
			sp.ObjectStore = fmt.Sprintf("s3://strata-bench/round-%d?region=us-east-1&endpoint=%s", round, minio.Endpoint())
			sp.Env = []string{"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioPassword}
		}
		b = sp
	case SystemKafka:
		b = &KafkaProc{Scripts: cfg.KafkaScripts, Dir: dir}
	case SystemKafkaFsync:
		b = &KafkaProc{Scripts: cfg.KafkaScripts, Dir: dir, Name: SystemKafkaFsync}
		t.TopicConfigs = map[string]string{"flush.messages": "1"}
	}
	t.Broker = b
	log := cfg.Log.With("round", round, "system", system)
	log.Info("starting broker")
	started := time.Now()
	if err := b.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// One system that will not start must not cost the other's figures: every scenario of
		// this round is reported as failed, with the reason.
		log.Error("broker did not start", "err", err)
		_ = os.RemoveAll(dir)
		var out []Result
		for _, sc := range cfg.Scenarios {
			if (sc == ScenarioObject || sc == ScenarioReplay || sc == ScenarioPartitions) && system != SystemStrata || tableScenario(sc) {
				continue
			}
			r := Result{Name: sc, System: system, Round: round, Skipped: "failed: broker did not start: " + firstLine(err.Error())}
			if sc == ScenarioProduce || sc == ScenarioConsume {
				r.Partitions = 12
			}
			out = append(out, r)
		}
		return out, nil
	}
	log.Info("broker serving", "after", time.Since(started).Round(time.Millisecond))
	if bp, ok := b.(interface{ PID() int }); ok {
		t.PIDs = map[string]int{system: bp.PID()}
		if minio != nil && system == SystemStrata {
			t.PIDs["minio"] = minio.PID()
		}
	}
	defer func() {
		if err := b.Stop(); err != nil {
			log.Error("stopping broker", "err", err)
		}
		_ = os.RemoveAll(dir)
	}()

	if err := Warmup(ctx, t, cfg.Params); err != nil {
		return nil, fmt.Errorf("%s warm-up: %w", system, err)
	}
	log.Info("broker warmed up", "bytes", cfg.Params.WarmupBytes, "after", time.Since(started).Round(time.Millisecond))

	var out []Result
	var fullTopic string // the 12-partition produce topic, read by consume
	run := func(name string, partitions int32, f func() (Result, error)) {
		var before ObjStoreCounters
		var sBefore ServerCounters
		strata := b.MetricsURL() != ""
		var quiet string
		if strata {
			// Every scenario starts on a quiet node: uploads and compaction left over from the
			// earlier ones are not its cost (its own background work still counts).
			var err error
			if quiet, err = waitBackgroundQuiet(ctx, b.MetricsURL(), cfg.Params.QuietTimeout); err != nil && ctx.Err() != nil {
				return
			}
			if quiet != "" {
				log.Info("waited for background work", "scenario", name, "note", quiet)
			}
		}
		began := time.Now()
		if strata {
			if s, err := Scrape(ctx, b.MetricsURL()); err == nil {
				before, sBefore = ObjStoreFrom(s), ServerFrom(s)
			}
		}
		log.Info("scenario start", "scenario", name, "partitions", partitions)
		r, err := f()
		r.Name, r.System, r.Round = name, system, round
		if partitions > 0 {
			r.Partitions = int(partitions)
		}
		if quiet != "" {
			r.Note = strings.TrimPrefix(r.Note+"; "+quiet, "; ")
		}
		if err != nil {
			r.Skipped = "failed: " + err.Error()
			log.Error("scenario failed", "scenario", name, "err", err)
		}
		if strata && r.Skipped == "" {
			if s, err := Scrape(ctx, b.MetricsURL()); err == nil {
				d := Delta(before, ObjStoreFrom(s), r.Bytes)
				d.SetSeconds(time.Since(began).Seconds())
				sd := ServerDeltaOf(sBefore, ServerFrom(s))
				r.ObjStore, r.Server = &d, &sd
			}
		}
		log.Info("scenario done", "scenario", name, "mb_per_s", round2(r.MBPerS), "p99_ms", round2(r.P99Ms),
			"e2e_p99_ms", round2(r.E2EP99Ms), "skipped", r.Skipped)
		out = append(out, r)
	}
	has := func(s string) bool { return slices.Contains(cfg.Scenarios, s) }
	if has(ScenarioProduce) || has(ScenarioConsume) {
		for _, parts := range []int32{1, 12} {
			if !has(ScenarioProduce) && parts == 1 {
				continue
			}
			run(ScenarioProduce, parts, func() (Result, error) {
				r, topic, err := Produce(ctx, t, cfg.Params, parts)
				if parts == 12 {
					fullTopic = topic
				}
				return r, err
			})
		}
		if !has(ScenarioProduce) { // the fill was only for consume
			out = out[:len(out)-1]
		}
	}
	if has(ScenarioConsume) {
		run(ScenarioConsume, 12, func() (Result, error) {
			if fullTopic == "" {
				return Result{}, fmt.Errorf("no pre-filled topic")
			}
			return Consume(ctx, t, cfg.Params, fullTopic)
		})
	}
	if has(ScenarioLatency) {
		run(ScenarioLatency, 0, func() (Result, error) { return Latency(ctx, t, cfg.Params, ScenarioLatency, nil) })
	}
	if has(ScenarioObject) && system == SystemStrata {
		run(ScenarioObject, 0, func() (Result, error) {
			reason, err := DetectObjectDurability(ctx, t)
			if err != nil || reason != "" {
				return Result{Skipped: reason}, err
			}
			return Latency(ctx, t, cfg.Params, ScenarioObject, map[string]string{"strata.durability": "object"})
		})
		// The same with many partitions: one node's flushes write one object each, however many
		// partitions it holds, so flush PUTs per second should not grow with them.
		if n := cfg.Params.ObjectManyPartitions; n > 0 {
			run(ScenarioObject, n, func() (Result, error) {
				reason, err := DetectObjectDurability(ctx, t)
				if err != nil || reason != "" {
					return Result{Skipped: reason}, err
				}
				p := cfg.Params
				p.LatencyPartitions = n
				if cfg.Params.ObjectManyRate > 0 {
					p.LatencyRate = cfg.Params.ObjectManyRate
				}
				return Latency(ctx, t, p, ScenarioObject, map[string]string{"strata.durability": "object"})
			})
			run(ScenarioObjectBurst, n, func() (Result, error) {
				reason, err := DetectObjectDurability(ctx, t)
				if err != nil || reason != "" {
					return Result{Skipped: reason}, err
				}
				return ObjectBurst(ctx, t, cfg.Params, n)
			})
		}
	}
	if has(ScenarioReplay) && system == SystemStrata {
		run(ScenarioReplay, 0, func() (Result, error) { return Replay(ctx, t, cfg.Params) })
	}
	if has(ScenarioPartitions) && system == SystemStrata && cfg.Params.IdlePartitions > 0 {
		run(ScenarioPartitions, 0, func() (Result, error) { return IdlePartitions(ctx, t, cfg.Params) })
	}
	return out, ctx.Err()
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// kafkaVersion reads kafka.version from bench/kafka/pom.xml.
func kafkaVersion(scripts string) string {
	b, err := os.ReadFile(filepath.Join(scripts, "pom.xml"))
	if err != nil {
		return ""
	}
	s := string(b)
	const open, closeTag = "<kafka.version>", "</kafka.version>"
	i := strings.Index(s, open)
	j := strings.Index(s, closeTag)
	if i < 0 || j < i {
		return ""
	}
	return strings.TrimSpace(s[i+len(open) : j])
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// backgroundCounters are the counters of a node's background object-store work: compaction merges
// and conversions, uploads, and PUTs of any kind.
var backgroundCounters = []string{"strata_compaction_merges_total", "strata_compaction_converted_segments_total",
	"strata_tier_uploads_total"}

// backgroundQuietSpan is how long those counters must stand still for the node to count as quiet.
const backgroundQuietSpan = 2 * time.Second

// waitBackgroundQuiet runs the node's compaction passes now (POST /v1/compaction: the merges the
// earlier scenarios left, which its timer would start at some moment of the next scenario), then
// waits, up to limit, until the background counters of the node at url (and its object PUTs) have
// not moved for backgroundQuietSpan. It returns what a note should say: how long it waited, and
// what the passes merged, when it did, or that the node was still busy when the limit passed.
func waitBackgroundQuiet(ctx context.Context, url string, limit time.Duration) (string, error) {
	start := time.Now()
	merged, err := compactNow(ctx, strings.TrimSuffix(url, "/metrics"), limit)
	if err != nil {
		return "", err
	}
	note, err := waitCountersStill(ctx, url, limit-time.Since(start))
	if merged != "" {
		note = strings.TrimPrefix(note+"; "+merged, "; ")
	}
	return note, err
}

// compactNow asks the node at base to run its merge passes now and returns what a note should say
// about them ("" when they merged nothing). A node without the endpoint (404) or with merges off
// (409) is left as it is.
func compactNow(ctx context.Context, base string, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/compaction", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("compaction before the scenario: %w", err)
	}
	defer resp.Body.Close()
	var r struct {
		Merges int `json:"merges"`
		Inputs int `json:"inputs"`
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusConflict:
		return "", nil
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("compaction before the scenario: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("compaction before the scenario: %w", err)
	}
	if r.Merges == 0 {
		return "", nil
	}
	return fmt.Sprintf("ran the earlier scenarios' compaction first: %d merges of %d segments in %.0f s",
		r.Merges, r.Inputs, time.Since(began).Seconds()), nil
}

// waitCountersStill waits, up to limit, until the background counters of the node at url (and
// its object PUTs) have not moved for backgroundQuietSpan; see waitBackgroundQuiet.
func waitCountersStill(ctx context.Context, url string, limit time.Duration) (string, error) {
	sum := func(s Samples) float64 {
		n := s.Sum("strata_objstore_operations_total", map[string]string{"op": "put"})
		for _, c := range backgroundCounters {
			n += s.Sum(c, nil)
		}
		return n
	}
	start := time.Now()
	prev, err := Scrape(ctx, url)
	if err != nil {
		return "", err
	}
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(backgroundQuietSpan):
		}
		cur, err := Scrape(ctx, url)
		if err != nil {
			return "", err
		}
		waited := time.Since(start) - backgroundQuietSpan
		switch {
		case sum(cur) == sum(prev) && waited < time.Second:
			return "", nil
		case sum(cur) == sum(prev):
			return fmt.Sprintf("waited %.0f s for earlier scenarios' compaction and uploads to finish", waited.Seconds()), nil
		case time.Since(start) > limit:
			return fmt.Sprintf("earlier scenarios' compaction or uploads still running after %.0f s (measured anyway)", limit.Seconds()), nil
		}
		prev = cur
	}
}
