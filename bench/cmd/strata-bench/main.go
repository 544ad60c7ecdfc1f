// Command strata-bench runs Strata and Apache Kafka side by side under the same franz-go load and
// writes the results: summary.json, summary.md (ratios against the goals), throughput.png and
// latency_cdf.png.
//
//	strata-bench run [-quick] [-out bench/out] [-rounds N] [-systems strata,kafka,kafka-fsync]
//	                 [-scenarios produce,consume,latency,object,replay]
//	strata-bench report [-in bench/out/summary.json] [-out bench/out]   re-render md and plots
//	strata-bench metrics -url http://host:port/metrics                   list Strata's series
//	strata-bench dashboard [-o deploy/grafana/strata.json]                 write the Grafana dashboard
//
// The brokers are started and stopped by the harness: Strata from -strata-bin, Kafka through
// bench/kafka/start.sh and stop.sh. When a MinIO binary is found ($STRATA_TOOLS_BIN/minio or
// .tools/bin/minio) Strata's object store is a MinIO server on loopback and the replay scenario
// gets its raw-GET baseline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-log/strata/bench/grafana"
	"github.com/strata-log/strata/bench/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = run(ctx, args)
	case "report":
		err = report(args)
	case "metrics":
		err = metrics(ctx, args)
	case "dashboard":
		err = dashboard(args)
	default:
		err = fmt.Errorf("unknown command %q (want run, report, metrics or dashboard)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "strata-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "small sizes, three rounds (about a quarter of an hour)")
	out := fs.String("out", "bench/out", "output directory")
	work := fs.String("work", "", "broker data directory (default <out>/work)")
	rounds := fs.Int("rounds", 0, "rounds, each running every system once in alternating order (default 3)")
	systems := fs.String("systems", "", `systems to run, of strata, kafka and kafka-fsync (Kafka with flush.messages=1) (default "strata,kafka" quick, all three full)`)
	scenarios := fs.String("scenarios", strings.Join(load.AllScenarios, ","), "scenarios to run")
	strataBin := fs.String("strata-bin", "bin/strata", "strata binary")
	kafkaScripts := fs.String("kafka-scripts", "bench/kafka", "directory of the Kafka start.sh/stop.sh scripts")
	minioBin := fs.String("minio-bin", "", "MinIO binary (default: found in $STRATA_TOOLS_BIN or .tools/bin; \"none\" to use the file store)")
	produceMiB := fs.Int("produce-mib", 0, "override the MiB each produce run sends")
	latencySecs := fs.Int("latency-seconds", 0, "override how long the latency scenarios send")
	objectManyRate := fs.Int("object-many-rate", 0, "override the records per second (1 KiB each) of the many-partition object run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := load.RunConfig{Mode: "full", Params: load.FullParams(), Rounds: 3, StrataBin: *strataBin,
		KafkaScripts: *kafkaScripts, Systems: []string{load.SystemStrata, load.SystemKafka, load.SystemKafkaFsync},
		Scenarios: split(*scenarios)}
	if *quick {
		cfg.Mode, cfg.Params = "quick", load.QuickParams()
		cfg.Systems = []string{load.SystemStrata, load.SystemKafka}
	}
	if *systems != "" {
		cfg.Systems = split(*systems)
	}
	if *produceMiB > 0 {
		cfg.Params.ProduceBytes = int64(*produceMiB) << 20
		cfg.Params.ReplayBytes = min(cfg.Params.ReplayBytes, cfg.Params.ProduceBytes)
	}
	if *latencySecs > 0 {
		cfg.Params.LatencyDuration = time.Duration(*latencySecs) * time.Second
	}
	if *objectManyRate > 0 {
		cfg.Params.ObjectManyRate = *objectManyRate
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	cfg.WorkDir = *work
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(*out, "work")
	}
	var err error
	if cfg.WorkDir, err = filepath.Abs(cfg.WorkDir); err != nil {
		return err
	}
	cfg.MinIOBin = findMinIO(*minioBin)
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	sum, err := load.Run(ctx, cfg)
	if sum != nil && len(sum.Runs) > 0 {
		sum.Scenarios = load.Aggregate(sum.Runs)
		if werr := write(sum, *out); werr != nil {
			return errors.Join(err, werr)
		}
	}
	if err != nil {
		return err
	}
	cfg.Log.Info("benchmark done", "took", time.Since(start).Round(time.Second), "out", *out)
	return nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func findMinIO(flagVal string) string {
	switch flagVal {
	case "none":
		return ""
	case "":
	default:
		return flagVal
	}
	var dirs []string
	if d := os.Getenv("STRATA_TOOLS_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, filepath.Join(".tools", "bin"))
	for _, d := range dirs {
		p := filepath.Join(d, "minio")
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return ""
}

// write judges the goals and renders summary.json, summary.md and the plots into dir.
func write(sum *load.Summary, dir string) error {
	sum.Judge()
	f, err := os.Create(filepath.Join(dir, "summary.json"))
	if err != nil {
		return err
	}
	if err := sum.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(dir, "summary.md"))
	if err != nil {
		return err
	}
	if err := load.WriteMarkdown(md, sum); err != nil {
		md.Close()
		return err
	}
	if err := md.Close(); err != nil {
		return err
	}
	var errs []error
	if _, err := load.PlotThroughput(sum, dir); err != nil {
		errs = append(errs, err)
	}
	if _, err := load.PlotLatencyCDF(sum, dir); err != nil {
		errs = append(errs, err)
	}
	for _, e := range errs { // a missing plot is not fatal: the figures are in the JSON
		fmt.Fprintln(os.Stderr, "strata-bench: plot:", e)
	}
	return nil
}

func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "bench/out/summary.json", "summary to render")
	out := fs.String("out", "bench/out", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := load.ReadSummary(f)
	if err != nil {
		return err
	}
	if len(sum.Runs) > 0 {
		sum.Scenarios = load.Aggregate(sum.Runs)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	return write(sum, *out)
}

func metrics(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:8080/metrics", "a Strata node's metrics endpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := load.Scrape(ctx, *url)
	if err != nil {
		return err
	}
	for _, n := range s.Names("strata_") {
		fmt.Println(n)
	}
	return nil
}

func dashboard(args []string) error {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	out := fs.String("o", "deploy/grafana/strata.json", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := grafana.JSON()
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}
