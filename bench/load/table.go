package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/columnar/columnartest"
	"github.com/strata-log/strata/tier/objstore"
)

// The cold tier as a table: scenarios that run on a Strata server of their own (runTable), started
// after the round's main server stopped, with compaction passes every second and segments of
// strata.cold.format=parquet topics converted a second after they settle, so that conversion is
// measured rather than waited for. Strata only; they need MinIO, whose objects they list and read.
const (
	ScenarioColumnar = "columnar" // Parquet size, conversion rate, cold replay from Parquet
	ScenarioQuery    = "query"    // SQL over hot and Parquet data, and DuckDB over the same Parquet
)

func tableScenario(s string) bool { return s == ScenarioColumnar || s == ScenarioQuery }

// tableTarget is the table server and a handle on its objects.
type tableTarget struct {
	Target
	bucket objstore.Bucket // the server's object store, keys relative to its prefix
	http   string          // http://host:port of the server
	python string          // a Python with the duckdb package, "" when none was found
	work   string          // scratch directory
}

// runTable runs the columnar and query scenarios of cfg on a server of their own, one result each.
func runTable(ctx context.Context, cfg RunConfig, round int, minio *MinIOProc) []Result {
	var names []string
	for _, sc := range cfg.Scenarios {
		if tableScenario(sc) {
			names = append(names, sc)
		}
	}
	if len(names) == 0 {
		return nil
	}
	log := cfg.Log.With("round", round, "system", SystemStrata)
	all := func(reason string) []Result {
		out := make([]Result, len(names))
		for i, n := range names {
			out[i] = Result{Name: n, System: SystemStrata, Round: round, Skipped: reason}
		}
		return out
	}
	if minio == nil {
		return all("needs MinIO (make tools): the scenarios list and read the server's objects")
	}
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("strata-table-%d", round))
	_ = os.RemoveAll(dir)
	store := fmt.Sprintf("s3://strata-bench/round-%d-table?region=us-east-1&endpoint=%s", round, minio.Endpoint())
	sp := &StrataProc{Bin: cfg.StrataBin, Dir: dir, ObjectStore: store,
		Env:  []string{"AWS_ACCESS_KEY_ID=" + minioUser, "AWS_SECRET_ACCESS_KEY=" + minioPassword},
		Args: []string{"--compaction-interval", "1s", "--parquet-convert-after", "1s", "--query-timeout", "10m"}}
	log.Info("starting table server")
	if err := sp.Start(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return all("failed: table server did not start: " + firstLine(err.Error()))
	}
	defer func() {
		if err := sp.Stop(); err != nil {
			log.Error("stopping table server", "err", err)
		}
		_ = os.RemoveAll(dir)
	}()
	b, err := objstore.Open(ctx, store, objstore.WithCredentials(minioUser, minioPassword))
	if err != nil {
		return all("failed: " + err.Error())
	}
	defer b.Close()
	tt := tableTarget{Target: Target{Broker: sp, Log: log}, bucket: b, http: strings.TrimSuffix(sp.MetricsURL(), "/metrics"),
		python: findPython(cfg), work: filepath.Join(dir, "scratch")}
	var out []Result
	for _, name := range names {
		log.Info("scenario start", "scenario", name)
		began := time.Now()
		var r Result
		switch name {
		case ScenarioColumnar:
			r, err = Columnar(ctx, tt, cfg.Params)
		case ScenarioQuery:
			r, err = Query(ctx, tt, cfg.Params)
		}
		r.Name, r.System, r.Round = name, SystemStrata, round
		if err != nil {
			r.Skipped = "failed: " + err.Error()
			log.Error("scenario failed", "scenario", name, "err", err)
		}
		log.Info("scenario done", "scenario", name, "took", time.Since(began).Round(time.Second), "figures", r.Figures,
			"skipped", r.Skipped)
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// findPython returns a Python that imports duckdb: the compat venv (make clients) under
// $STRATA_TOOLS_BIN/.. or .tools, or "".
func findPython(cfg RunConfig) string {
	var cands []string
	if tb := os.Getenv("STRATA_TOOLS_BIN"); tb != "" {
		cands = append(cands, filepath.Join(tb, "..", "compat-venv", "bin", "python"))
	}
	cands = append(cands, filepath.Join(".tools", "compat-venv", "bin", "python"))
	for _, c := range cands {
		if err := runCmd(context.Background(), nil, c, "-c", "import duckdb"); err == nil {
			return c
		}
	}
	return ""
}

// produceLogs sends n JSON log records (columnartest.NewLogs(seed)) to topic, record i at ts(i), with the
// given batch compression, and returns the value bytes acked.
func produceLogs(ctx context.Context, t Target, topic string, n int64, size int, seed uint64, ts func(i int64) int64,
	codec kgo.CompressionCodec, timeout time.Duration) (int64, error) {
	cl, err := kgo.NewClient(clientOpts(t, kgo.DefaultProduceTopic(topic), kgo.MaxBufferedBytes(64<<20),
		kgo.ProducerBatchCompression(codec))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	g := columnartest.NewLogs(seed)
	var acked atomic.Int64
	var mu sync.Mutex
	var firstErr error
	for i := int64(0); i < n && sctx.Err() == nil; i++ {
		k, v := g.Next(ts(i), size)
		cl.Produce(sctx, &kgo.Record{Key: k, Value: v, Timestamp: time.UnixMilli(ts(i))}, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				return
			}
			acked.Add(int64(len(r.Value)))
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return acked.Load(), err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return acked.Load(), fmt.Errorf("produce to %s: %w", topic, firstErr)
	}
	if sctx.Err() != nil {
		return acked.Load(), fmt.Errorf("produce to %s: stopped at the %v limit", topic, timeout)
	}
	return acked.Load(), nil
}

// topicInfo is a topic's ID (as Strata names its objects' folder) and its partitions' end offsets.
type topicInfo struct {
	id   string
	ends map[int32]int64
}

func describeTopic(ctx context.Context, t Target, topic string) (topicInfo, error) {
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return topicInfo{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return topicInfo{}, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return topicInfo{}, fmt.Errorf("metadata of %s: %v", topic, td.Err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return topicInfo{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	info := topicInfo{id: fmt.Sprintf("%x", td.ID[:]), ends: map[int32]int64{}}
	ends.Each(func(o kadm.ListedOffset) { info.ends[o.Partition] = o.Offset })
	return info, nil
}

// objectSet is a listing of one topic's objects.
type objectSet struct {
	segBytes, parquetBytes int64
	segs, parquets         []string
	covered                map[int32]int64 // offsets held in Parquet objects per partition (sum of their ranges)
}

func listTopicObjects(ctx context.Context, b objstore.Bucket, topicID string) (objectSet, error) {
	s := objectSet{covered: map[int32]int64{}}
	err := b.List(ctx, "topics/"+topicID+"/", func(a objstore.Attrs) error {
		parts := strings.Split(a.Key, "/")
		if len(parts) != 4 {
			return nil
		}
		switch name := parts[3]; {
		case strings.HasSuffix(name, ".seg"):
			s.segBytes += a.Size
			s.segs = append(s.segs, a.Key)
		case strings.HasSuffix(name, ".parquet"):
			s.parquetBytes += a.Size
			s.parquets = append(s.parquets, a.Key)
			p, err1 := strconv.ParseInt(parts[2], 10, 32)
			base, next, ok := strings.Cut(strings.TrimSuffix(name, ".parquet"), "-")
			b, err2 := strconv.ParseInt(base, 10, 64)
			n, err3 := strconv.ParseInt(next, 10, 64)
			if err1 == nil && err2 == nil && err3 == nil && ok && n > b {
				s.covered[int32(p)] += n - b
			}
		}
		return nil
	})
	return s, err
}

// waitConverted waits until the Parquet objects of the topic hold every offset below ends, and
// returns the listing that showed it.
func waitConverted(ctx context.Context, b objstore.Bucket, info topicInfo, limit time.Duration) (objectSet, error) {
	deadline := time.Now().Add(limit)
	for {
		s, err := listTopicObjects(ctx, b, info.id)
		if err != nil {
			return s, err
		}
		done := true
		for p, end := range info.ends {
			done = done && s.covered[p] >= end
		}
		if done {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("not converted to Parquet after %v: %d objects cover %v of %v", limit, len(s.parquets), s.covered, info.ends)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitStable waits until a listing of the topic's objects has not changed for quiet, and returns it.
func waitStable(ctx context.Context, b objstore.Bucket, topicID string, quiet, limit time.Duration) (objectSet, error) {
	deadline := time.Now().Add(limit)
	var last objectSet
	since := time.Now()
	for {
		s, err := listTopicObjects(ctx, b, topicID)
		if err != nil {
			return s, err
		}
		if !slices.Equal(s.segs, last.segs) || !slices.Equal(s.parquets, last.parquets) || !maps.Equal(s.covered, last.covered) {
			last, since = s, time.Now()
		}
		if time.Since(since) >= quiet && len(s.segs)+len(s.parquets) > 0 {
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("objects of topic %s still changing after %v", topicID, limit)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// queryStats is the Strata-Query-Stats trailer.
type queryStats struct {
	Segment struct{ Rows, Bytes int64 } `json:"segment"`
	Hot     struct{ Rows, Bytes int64 } `json:"hot"`
	Pruned  int64                       `json:"segments_pruned"`
	Read    int64                       `json:"segments_read"`
	// HotPruned counts the hot-tail spans the hot index let the query skip.
	HotPruned int64 `json:"hot_spans_pruned"`
}

func (s queryStats) bytes() int64 { return s.Segment.Bytes + s.Hot.Bytes }

// sql runs stmt through POST /v1/sql and returns its NDJSON rows, its stats and how long the
// answer took to arrive whole.
func (tt tableTarget) sql(ctx context.Context, stmt string) ([]map[string]any, queryStats, time.Duration, error) {
	var st queryStats
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tt.http+"/v1/sql", strings.NewReader(stmt))
	if err != nil {
		return nil, st, 0, err
	}
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, st, 0, err
	}
	defer resp.Body.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, st, 0, fmt.Errorf("sql %q: answer line %q: %v", stmt, sc.Text(), err)
		}
		if e, ok := row["error"]; ok && len(row) == 1 {
			return nil, st, 0, fmt.Errorf("sql %q: %v", stmt, e)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, st, 0, err
	}
	elapsed := time.Since(began)
	if resp.StatusCode != http.StatusOK {
		return nil, st, 0, fmt.Errorf("sql %q: %s %v", stmt, resp.Status, rows)
	}
	if e := resp.Trailer.Get("Strata-Query-Error"); e != "" {
		return nil, st, 0, fmt.Errorf("sql %q: %s", stmt, e)
	}
	if s := resp.Trailer.Get("Strata-Query-Stats"); s != "" {
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return nil, st, 0, fmt.Errorf("sql %q: stats %q: %v", stmt, s, err)
		}
	}
	return rows, st, elapsed, nil
}

// copyParquet copies the topic's Parquet objects into dir, laid out as in the bucket, and
// returns the glob that reads them.
func copyParquet(ctx context.Context, b objstore.Bucket, keys []string, dir string) (string, error) {
	for _, k := range keys {
		rc, err := b.Get(ctx, k)
		if err != nil {
			return "", err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "topics", "*", "*", "*.parquet"), nil
}

// duckdbScript times a statement over read_parquet(glob) with the DuckDB Python package: argv is
// glob, statement (with {t} for the table), runs; it prints the rows of the last run's answer and
// the seconds of every run as JSON. Threads are capped as the query engine's (--query-threads).
const duckdbScript = `
import duckdb, json, sys, time
glob, stmt, runs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
con.execute("SET threads = %d" % threads)
sql = stmt.replace("{t}", "read_parquet('%s')" % glob)
secs = []
for _ in range(runs):
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    secs.append(time.perf_counter() - t0)
print(json.dumps({"rows": len(rows), "seconds": secs}))
`

// duckdb runs stmt over the Parquet files of glob runs times and returns each run's seconds and
// the answer's rows.
func (tt tableTarget) duckdb(ctx context.Context, glob, stmt string, runs, threads int) ([]float64, int, error) {
	var out bytes.Buffer
	if err := runCmd(ctx, &out, tt.python, "-c", duckdbScript, glob, stmt, strconv.Itoa(runs), strconv.Itoa(threads)); err != nil {
		return nil, 0, fmt.Errorf("duckdb: %w: %s", err, strings.TrimSpace(out.String()))
	}
	var res struct {
		Rows    int       `json:"rows"`
		Seconds []float64 `json:"seconds"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, 0, fmt.Errorf("duckdb: answer %q: %v", out.String(), err)
	}
	return res.Seconds, res.Rows, nil
}

func runCmd(ctx context.Context, out io.Writer, name string, args ...string) error {
	if _, err := os.Stat(name); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	return cmd.Run()
}

// medianFigures is the median of every figure over the rounds that measured it.
func medianFigures(rs []Result) map[string]float64 {
	all := map[string][]float64{}
	for _, r := range rs {
		for k, v := range r.Figures {
			all[k] = append(all[k], v)
		}
	}
	if len(all) == 0 {
		return nil
	}
	out := make(map[string]float64, len(all))
	for k, vs := range all {
		out[k] = Median(vs)
	}
	return out
}

// median of durations in seconds.
func medianSeconds(ds []time.Duration) float64 {
	vs := make([]float64, len(ds))
	for i, d := range ds {
		vs[i] = d.Seconds()
	}
	return Median(vs)
}
