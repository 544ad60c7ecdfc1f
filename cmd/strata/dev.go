package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier/objstore"
)

// `strata dev cluster up|down|status` runs a whole cluster on this machine as local processes:
// MinIO, three NATS servers with JetStream (this binary's hidden `strata dev nats`, an embedded
// nats-server, so nothing else needs installing) and N strata nodes, all writing under one
// directory (see devLayout). `up` returns once every process is ready; the processes run on
// after it, in their own sessions, until `down` stops them by PID.

const devUsage = `strata dev cluster up|down|status [flags]   a local cluster: MinIO, 3 NATS servers, 3 strata nodes
`

// The dev cluster's MinIO root credentials: local and for development only.
const (
	devMinIOUser     = "strata-dev"
	devMinIOPassword = "strata-dev-secret"
	devNATSServers   = 3
)

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: %s", strings.TrimSpace(devUsage))
	}
	switch args[0] {
	case "cluster":
		return runDevCluster(ctx, args[1:], stdout)
	case "nats": // started by `dev cluster up`, not by people
		return runDevNATS(ctx, args[1:], stderr)
	}
	return usagef("unknown dev subcommand %q: want cluster", args[0])
}

// devConfig is `strata dev cluster`'s command line.
type devConfig struct {
	dir              string
	host             string
	nodes            int
	kafkaPort        int
	httpPort         int
	natsPort         int
	natsClusterPort  int
	minioPort        int
	minioConsolePort int
	bucket           string
	minio            string
	grace            time.Duration
	readyTimeout     time.Duration
	serverArgs       multiFlag
}

func (c *devConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", "./cluster", "directory holding every process's data (data/), logs (logs/) and PID files (pids/)")
	fs.StringVar(&c.host, "host", "127.0.0.1", "address every process listens on")
	fs.IntVar(&c.nodes, "nodes", 3, "strata nodes (1-9)")
	fs.IntVar(&c.kafkaPort, "kafka-port", 9092, "Kafka port of node 1; node i listens on kafka-port+i-1")
	fs.IntVar(&c.httpPort, "http-port", 8080, "HTTP port of node 1; node i listens on http-port+i-1")
	fs.IntVar(&c.natsPort, "nats-port", 4222, "client port of NATS server 1 (of 3); server i listens on nats-port+i-1")
	fs.IntVar(&c.natsClusterPort, "nats-cluster-port", 6222, "route port of NATS server 1; server i listens on nats-cluster-port+i-1")
	fs.IntVar(&c.minioPort, "minio-port", 9000, "MinIO S3 port")
	fs.IntVar(&c.minioConsolePort, "minio-console-port", 9001, "MinIO web console port")
	fs.StringVar(&c.bucket, "bucket", "strata", "MinIO bucket holding every node's objects (created if missing)")
	fs.StringVar(&c.minio, "minio", "", "MinIO server binary (default: minio in $STRATA_TOOLS_BIN, else on $PATH)")
	fs.DurationVar(&c.grace, "grace", 15*time.Second, "down: how long a process has after SIGTERM before SIGKILL")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", 2*time.Minute, "up: how long every process has to become ready")
	fs.Var(&c.serverArgs, "server-arg", "up: a flag added to every node's server command line (repeatable, e.g. --server-arg=--log-level=debug)")
}

func (c *devConfig) validate() error {
	if c.dir == "" {
		return usagef("--dir must not be empty")
	}
	abs, err := filepath.Abs(c.dir)
	if err != nil {
		return usagef("--dir %q: %v", c.dir, err)
	}
	c.dir = abs
	if net.ParseIP(c.host) == nil {
		return usagef("--host %q: want an IP address", c.host)
	}
	if c.nodes < 1 || c.nodes > 9 {
		return usagef("--nodes %d: want 1 to 9", c.nodes)
	}
	for _, p := range c.portRanges() {
		if p.port < 1 || p.port+p.count-1 > 65535 {
			return usagef("%s %d: want 1 to %d", p.flag, p.port, 65536-p.count)
		}
	}
	if c.bucket == "" {
		return usagef("--bucket must not be empty")
	}
	if c.grace <= 0 || c.readyTimeout <= 0 {
		return usagef("--grace and --ready-timeout must be more than 0")
	}
	return nil
}

// portRange is count ports from port, set by flag.
type portRange struct {
	flag        string
	port, count int
}

func (c *devConfig) portRanges() []portRange {
	return []portRange{{"--kafka-port", c.kafkaPort, c.nodes}, {"--http-port", c.httpPort, c.nodes},
		{"--nats-port", c.natsPort, devNATSServers}, {"--nats-cluster-port", c.natsClusterPort, devNATSServers},
		{"--minio-port", c.minioPort, 1}, {"--minio-console-port", c.minioConsolePort, 1}}
}

// portsFree checks, before anything starts, that no other process listens on a port the cluster
// needs: a readiness check would otherwise be answered by that process.
func (c *devConfig) portsFree() error {
	for _, p := range c.portRanges() {
		for i := range p.count {
			ln, err := net.Listen("tcp", c.addr(p.port+i))
			if err != nil {
				return fmt.Errorf("port %d (from %s %d) is taken: %w; choose other ports with %s", p.port+i, p.flag, p.port, err, p.flag)
			}
			ln.Close()
		}
	}
	return nil
}

func (c *devConfig) addr(port int) string { return net.JoinHostPort(c.host, strconv.Itoa(port)) }

func (c *devConfig) kafkaAddrs() []string {
	var out []string
	for i := range c.nodes {
		out = append(out, c.addr(c.kafkaPort+i))
	}
	return out
}

func (c *devConfig) httpURLs() []string {
	var out []string
	for i := range c.nodes {
		out = append(out, "http://"+c.addr(c.httpPort+i))
	}
	return out
}

func (c *devConfig) natsURLs() []string {
	var out []string
	for i := range devNATSServers {
		out = append(out, "nats://"+c.addr(c.natsPort+i))
	}
	return out
}

func (c *devConfig) minioURL() string { return "http://" + c.addr(c.minioPort) }

// objectStoreURL is the s3:// URL every node writes to: the whole bucket.
func (c *devConfig) objectStoreURL() string {
	u := url.URL{Scheme: "s3", Host: c.bucket, Path: "/",
		RawQuery: url.Values{"endpoint": {c.minioURL()}, "region": {"us-east-1"}}.Encode()}
	return u.String()
}

// findMinIO resolves --minio: the flag, else $STRATA_TOOLS_BIN/minio (what `make` passes), else
// minio on $PATH.
func (c *devConfig) findMinIO() (string, error) {
	if c.minio != "" {
		return c.minio, nil
	}
	if dir := os.Getenv("STRATA_TOOLS_BIN"); dir != "" {
		p := filepath.Join(dir, "minio")
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("minio")
	if err != nil {
		return "", errors.New("no MinIO server binary: run `make tools`, or pass --minio PATH")
	}
	return p, nil
}

// devGroup is processes started together, and a check of the group as a whole once each of them
// is ready (may be nil).
type devGroup struct {
	procs []devProc
	all   func(ctx context.Context) error
}

// plan lists the cluster's processes in starting order: MinIO, the NATS servers, the nodes.
func (c *devConfig) plan(l devLayout, self, minioBin string) []devGroup {
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + devMinIOUser, "AWS_SECRET_ACCESS_KEY=" + devMinIOPassword, "AWS_REGION=us-east-1"}
	minio := devProc{name: "minio",
		argv: []string{minioBin, "server", l.dataDir("minio"), "--address", c.addr(c.minioPort),
			"--console-address", c.addr(c.minioConsolePort), "--quiet"},
		env: []string{"MINIO_ROOT_USER=" + devMinIOUser, "MINIO_ROOT_PASSWORD=" + devMinIOPassword, "MINIO_UPDATE=off"},
		ready: func(ctx context.Context) error {
			if err := httpOK(ctx, c.minioURL()+"/minio/health/ready"); err != nil {
				return err
			}
			// A signed call that creates the bucket when missing: IAM is up once it works.
			b, err := objstore.Open(ctx, c.objectStoreURL(), objstore.WithCredentials(devMinIOUser, devMinIOPassword),
				objstore.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				return err
			}
			return b.Close()
		}}

	var routes []string
	for i := range devNATSServers {
		routes = append(routes, "nats-route://"+c.addr(c.natsClusterPort+i))
	}
	natsGroup := devGroup{all: func(ctx context.Context) error { return jetStreamReady(ctx, c.natsURLs(), l.natsTokenPath()) }}
	for i := range devNATSServers {
		name, addr := fmt.Sprintf("nats-%d", i+1), c.addr(c.natsPort+i)
		natsGroup.procs = append(natsGroup.procs, devProc{name: name,
			argv: []string{self, "dev", "nats", "--name", name, "--dir", l.dataDir(name), "--host", c.host,
				"--port", strconv.Itoa(c.natsPort + i), "--cluster-port", strconv.Itoa(c.natsClusterPort + i),
				"--routes", strings.Join(routes, ","), "--token-file", l.natsTokenPath()},
			ready: func(ctx context.Context) error {
				conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				if err == nil {
					conn.Close()
				}
				return err
			}})
	}

	var nodes []devProc
	for i := range c.nodes {
		name, readyz := fmt.Sprintf("strata-%d", i+1), c.httpURLs()[i]+"/readyz"
		argv := []string{self, "server", "--node-id", strconv.Itoa(i + 1), "--data-dir", l.dataDir(name),
			"--kafka-addr", c.addr(c.kafkaPort + i), "--http-addr", c.addr(c.httpPort + i),
			"--metadata", strings.Join(c.natsURLs(), ","), "--metadata-token-file", l.natsTokenPath(),
			"--object-store", c.objectStoreURL()}
		nodes = append(nodes, devProc{name: name, argv: append(argv, c.serverArgs...), env: awsEnv,
			ready: func(ctx context.Context) error { return httpOK(ctx, readyz) }})
	}
	// Node 1 starts alone and creates the metadata's KV buckets: nodes creating them at once on a
	// fresh NATS cluster can fail with "stream not found" (natsmeta's open races with a peer's create).
	return []devGroup{{procs: []devProc{minio}}, natsGroup, {procs: nodes[:1]}, {procs: nodes[1:]}}
}

func runDevCluster(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("want up, down or status")
	}
	fs := flag.NewFlagSet("dev cluster", flag.ContinueOnError)
	var cfg devConfig
	cfg.register(fs)
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	l := devLayout{dir: cfg.dir}
	switch args[0] {
	case "up":
		return devUp(ctx, &cfg, l, stdout)
	case "down":
		n, err := l.stopAll(stdout, cfg.grace)
		if err == nil && n == 0 {
			fmt.Fprintf(stdout, "no cluster running in %s\n", cfg.dir)
		}
		return err
	case "status":
		return devStatus(ctx, &cfg, l, stdout)
	}
	return usagef("unknown dev cluster subcommand %q: want up, down or status", args[0])
}

// devUp starts the cluster unless one runs in the directory already. On any failure it stops what
// it started and returns the failing process's last log lines.
func devUp(ctx context.Context, cfg *devConfig, l devLayout, stdout io.Writer) error {
	entries, err := l.pidFiles()
	if err != nil {
		return err
	}
	var running, stale []string
	for _, e := range entries {
		if l.alive(e) {
			running = append(running, e.name)
		} else {
			stale = append(stale, e.name)
		}
	}
	if len(running) > 0 && len(stale) == 0 {
		fmt.Fprintf(stdout, "a cluster is already running in %s (%s): not starting another\n\n", cfg.dir, strings.Join(running, ", "))
		printDevSummary(l.endpoints(cfg), l, stdout)
		return nil
	}
	if len(running) > 0 {
		return fmt.Errorf("a cluster in %s is partly running (%s up, %s down): run `strata dev cluster down` first",
			cfg.dir, strings.Join(running, ", "), strings.Join(stale, ", "))
	}
	for _, name := range stale {
		fmt.Fprintf(stdout, "%-9s removed a stale PID file (not running)\n", name)
		_ = os.Remove(l.pidPath(name))
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	minioBin, err := cfg.findMinIO()
	if err != nil {
		return err
	}
	if err := cfg.portsFree(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.dir, "prometheus.yml"), []byte(prometheusConfig(cfg)), 0o644); err != nil {
		return err
	}
	if err := l.saveEndpoints(cfg.endpoints()); err != nil {
		return err
	}
	if _, err := natsmeta.LoadOrCreateToken(l.natsTokenPath()); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout)
	defer cancel()
	fail := func(name string, err error) error {
		fmt.Fprintf(stdout, "%s failed: stopping what was started\n", name)
		if _, serr := l.stopAll(stdout, cfg.grace); serr != nil {
			err = errors.Join(err, serr)
		}
		return fmt.Errorf("%s: %w\n--- last lines of %s ---\n%s", name, err, l.logPath(name), logTail(l.logPath(name), 30))
	}
	for _, g := range cfg.plan(l, self, minioBin) {
		exits := make([]<-chan struct{}, len(g.procs))
		for i, p := range g.procs {
			if exits[i], err = l.start(p); err != nil {
				return fail(p.name, err)
			}
		}
		for i, p := range g.procs {
			if err := waitReady(ctx, exits[i], p.ready); err != nil {
				return fail(p.name, err)
			}
			pid, _ := os.ReadFile(l.pidPath(p.name))
			fmt.Fprintf(stdout, "%-9s ready, pid %s\n", p.name, strings.TrimSpace(string(pid)))
		}
		if g.all != nil {
			if err := waitReady(ctx, nil, g.all); err != nil {
				return fail(g.procs[0].name, err)
			}
		}
	}
	fmt.Fprintln(stdout)
	printDevSummary(cfg.endpoints(), l, stdout)
	return nil
}

// devEndpoints is where a cluster's services answer. `up` keeps it in <dir>/cluster.json, so
// status and a second up need only --dir.
type devEndpoints struct {
	Kafka   []string `json:"kafka"`
	HTTP    []string `json:"http"`
	NATS    []string `json:"nats"`
	MinIO   string   `json:"minio"`
	Console string   `json:"minio_console"`
	Bucket  string   `json:"bucket"`
}

func (c *devConfig) endpoints() devEndpoints {
	return devEndpoints{Kafka: c.kafkaAddrs(), HTTP: c.httpURLs(), NATS: c.natsURLs(), MinIO: c.minioURL(),
		Console: "http://" + c.addr(c.minioConsolePort), Bucket: c.bucket}
}

func (l devLayout) saveEndpoints(ep devEndpoints) error {
	b, err := json.MarshalIndent(ep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dir, "cluster.json"), append(b, '\n'), 0o644)
}

// endpoints reads cluster.json, else falls back to the flags' endpoints.
func (l devLayout) endpoints(cfg *devConfig) devEndpoints {
	var ep devEndpoints
	b, err := os.ReadFile(filepath.Join(l.dir, "cluster.json"))
	if err != nil || json.Unmarshal(b, &ep) != nil {
		return cfg.endpoints()
	}
	return ep
}

func printDevSummary(ep devEndpoints, l devLayout, out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Kafka bootstrap\t%s\n", strings.Join(ep.Kafka, ","))
	fmt.Fprintf(tw, "HTTP (metrics, readyz, ingest)\t%s\n", strings.Join(ep.HTTP, " "))
	fmt.Fprintf(tw, "NATS (metadata)\t%s  token in %s\n", strings.Join(ep.NATS, ","), l.natsTokenPath())
	fmt.Fprintf(tw, "MinIO S3\t%s  bucket %s  user %s  password %s\n", ep.MinIO, ep.Bucket, devMinIOUser, devMinIOPassword)
	fmt.Fprintf(tw, "MinIO console\t%s\n", ep.Console)
	fmt.Fprintf(tw, "Logs\t%s\n", filepath.Join(l.dir, "logs"))
	fmt.Fprintf(tw, "Prometheus config\t%s (Prometheus is not started)\n", filepath.Join(l.dir, "prometheus.yml"))
	tw.Flush()
	fmt.Fprintf(out, "\nTry:  %s topic create demo --partitions 6 --bootstrap %s\n", os.Args[0], strings.Join(ep.Kafka, ","))
	fmt.Fprintf(out, "Stop: %s dev cluster down --dir %s\n", os.Args[0], l.dir)
}

// devStatus prints each process's state; it fails unless all of them run.
func devStatus(ctx context.Context, cfg *devConfig, l devLayout, out io.Writer) error {
	entries, err := l.pidFiles()
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintf(out, "no cluster in %s\n", cfg.dir)
		return errors.New("not running")
	}
	ep := l.endpoints(cfg)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	up := 0
	for _, e := range entries {
		state := "not running (stale PID file)"
		if l.alive(e) {
			up++
			state = "running"
			if n, ok := strings.CutPrefix(e.name, "strata-"); ok {
				i, _ := strconv.Atoi(n)
				if i >= 1 && i <= len(ep.HTTP) {
					cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					if err := httpOK(cctx, ep.HTTP[i-1]+"/readyz"); err != nil {
						state = "running, not ready: " + err.Error()
					} else {
						state = "running, ready"
					}
					cancel()
				}
			}
		}
		fmt.Fprintf(tw, "%s\tpid %d\t%s\n", e.name, e.pid, state)
	}
	tw.Flush()
	if up < len(entries) {
		return fmt.Errorf("%d of %d processes running", up, len(entries))
	}
	return nil
}

func prometheusConfig(cfg *devConfig) string {
	var targets []string
	for i := range cfg.nodes {
		targets = append(targets, "'"+cfg.addr(cfg.httpPort+i)+"'")
	}
	return "# Scrapes the dev cluster's strata nodes: prometheus --config.file=prometheus.yml\n" +
		"global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: strata\n    static_configs:\n" +
		"      - targets: [" + strings.Join(targets, ", ") + "]\n"
}

// httpOK GETs u and wants 200.
func httpOK(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("GET %s: %s %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// jetStreamReady succeeds once the NATS cluster answers a JetStream request, which takes an
// elected meta leader. It presents the token in tokenFile.
func jetStreamReady(ctx context.Context, urls []string, tokenFile string) error {
	tok, err := natsmeta.ReadToken(tokenFile)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Timeout(time.Second), nats.Token(tok))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(ctx)
	return err
}
