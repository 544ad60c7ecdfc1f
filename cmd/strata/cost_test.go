package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier/cost"
	"github.com/strata-log/strata/tier/objstore"
)

// scrape reads a node's /metrics into "name{labels}" → value.
func scrape(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// costSeries are the scraped series a report is checked against.
func costSeries(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, cost.OpsMetric+"{") || k == cost.IngestedMetric || k == cost.HotBytesMetric ||
			k == "strata_tier_upload_backlog_segments" {
			out[k] = v
		}
	}
	return out
}

func sameSeries(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// quiesce waits until the node's counters stop moving (uploads done, nothing in flight) for a
// second, and returns them.
func quiesce(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	prev := costSeries(scrape(t, httpAddr))
	stableSince := time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		cur := costSeries(scrape(t, httpAddr))
		if !sameSeries(prev, cur) || cur["strata_tier_upload_backlog_segments"] != 0 {
			prev, stableSince = cur, time.Now()
			continue
		}
		if time.Since(stableSince) >= time.Second {
			return cur
		}
	}
	t.Fatalf("the node's object-store counters never settled: %v", prev)
	return nil
}

// reportBetween gets /v1/cost?query() between two equal scrapes of the node's counters, so the
// report saw exactly those counters; it returns the report and the counters.
func reportBetween(t *testing.T, httpAddr string, query func() string) (cost.Report, map[string]float64) {
	t.Helper()
	for range 20 {
		before := quiesce(t, httpAddr)
		resp, err := http.Get("http://" + httpAddr + "/v1/cost?" + query())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/cost: %s: %s", resp.Status, body)
		}
		after := costSeries(scrape(t, httpAddr))
		if !sameSeries(before, after) {
			continue // something moved while the report was taken: again
		}
		var r cost.Report
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return r, before
	}
	t.Fatal("the counters kept moving around every report")
	return cost.Report{}, nil
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1e-9, math.Max(math.Abs(a), math.Abs(b)))
}

// checkArithmetic checks the report's figures against its own counts and prices.
func checkArithmetic(t *testing.T, r cost.Report) {
	t.Helper()
	toMonth := cost.Month.Seconds() / r.Window.Seconds
	var count uint64
	var sum float64
	for _, q := range r.Requests {
		price := map[string]float64{cost.ClassPut: r.Prices.PutPer1000, cost.ClassGet: r.Prices.GetPer1000, cost.ClassFree: 0}[q.Class]
		if want := float64(q.Count) * price / 1000; !near(q.Cost, want) || !near(q.Monthly, want*toMonth) {
			t.Errorf("%s: %d requests cost %v (monthly %v), want %v (monthly %v)", q.Op, q.Count, q.Cost, q.Monthly, want, want*toMonth)
		}
		count += q.Count
		sum += q.Cost
	}
	if r.Total.Count != count || !near(r.Total.Cost, sum) || !near(r.Total.Monthly, sum*toMonth) {
		t.Errorf("total %+v, want %d requests costing %v", r.Total, count, sum)
	}
	monthly := r.Total.Monthly
	for _, s := range r.Storage {
		price := r.Prices.StorageGBMonth
		if s.Tier == "hot" {
			price = r.Prices.HotStorageGBMonth
		}
		if want := float64(s.Bytes) / (1 << 30) * price; !near(s.Monthly, want) {
			t.Errorf("%s tier: %d bytes cost %v a month, want %v", s.Tier, s.Bytes, s.Monthly, want)
		}
		monthly += s.Monthly
	}
	if !near(r.Monthly, monthly) {
		t.Errorf("monthly total %v, want %v", r.Monthly, monthly)
	}
	if r.Ingest.Bytes > 0 {
		want := float64(r.Ingest.Puts) / (float64(r.Ingest.Bytes) / (1 << 30))
		if r.Ingest.PutsPerGiB == nil || !near(*r.Ingest.PutsPerGiB, want) {
			t.Errorf("PUTs per GiB %v, want %v", r.Ingest.PutsPerGiB, want)
		}
	}
}

// checkCounts checks the report's request counts and ingested bytes are the counters' growth
// from base (nil: zero, the node's start) to now.
func checkCounts(t *testing.T, r cost.Report, base, now map[string]float64) {
	t.Helper()
	seen := 0
	for _, q := range r.Requests {
		k := fmt.Sprintf("%s{op=%q}", cost.OpsMetric, q.Op)
		v, ok := now[k]
		if !ok {
			t.Errorf("report counts op %q, which /metrics does not have", q.Op)
			continue
		}
		seen++
		if want := uint64(v - base[k]); q.Count != want {
			t.Errorf("%s: report %d, /metrics delta %d", q.Op, q.Count, want)
		}
		if q.Op == "put" && r.Ingest.Puts != q.Count {
			t.Errorf("ingest puts %d, put requests %d", r.Ingest.Puts, q.Count)
		}
	}
	for k := range now {
		if strings.HasPrefix(k, cost.OpsMetric+"{") {
			seen--
		}
	}
	if seen != 0 {
		t.Errorf("report ops %+v do not match /metrics' ops", r.Requests)
	}
	if want := uint64(now[cost.IngestedMetric] - base[cost.IngestedMetric]); r.Ingest.Bytes != want {
		t.Errorf("ingested %d, /metrics delta %d", r.Ingest.Bytes, want)
	}
	if r.Storage[1].Tier != "hot" || float64(r.Storage[1].Bytes) != now[cost.HotBytesMetric] {
		t.Errorf("hot tier %+v, strata_hotlog_bytes %v", r.Storage[1], now[cost.HotBytesMetric])
	}
}

// TestCostReport runs a node on MinIO, produces enough to tier segments in object durability, and
// checks GET /v1/cost against the node's /metrics, the catalog and the bucket, then the CLI.
func TestCostReport(t *testing.T) {
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "0", "--sweep-interval", "0", "--cost-sample-interval", "100ms"}
	c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic = "costs"
	c.createTopic(t, ctx, topic, 3, map[string]*string{"strata.durability": strp("object")})
	cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	produce := func(round, records int) {
		t.Helper()
		for i := range records {
			r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%30)), Value: bytes.Repeat([]byte{byte('a' + round)}, 200)}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 4 { // each acked flush is at least one segment per partition written to
		produce(round, 300)
	}

	// Since the node started: the counters as they are.
	r, now := reportBetween(t, n.http, func() string { return "" })
	checkCounts(t, r, nil, now)
	checkArithmetic(t, r)
	if r.Window.RequestedSeconds != 0 || r.Window.Capped || r.Prices != cost.DefaultPrices() {
		t.Errorf("window %+v, prices %+v", r.Window, r.Prices)
	}

	// Stored bytes: the catalog's segment sizes, which are the bucket's objects (nothing compacted
	// or swept).
	store, err := natsmeta.Open(ctx, natsmeta.Config{URLs: c.nats.ClientURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var catBytes int64
	var segments int
	objects := map[string]bool{} // object durability flushes the partitions into shared objects
	for p := range int32(3) {
		cat, err := store.GetCatalog(ctx, metadata.TopicPartition{Topic: topic, Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range cat.Segments {
			catBytes += s.Size
			segments++
			objects[s.Key] = true
		}
	}
	var bucketBytes int64
	if err := c.minio.Open(t, c.object).List(ctx, "", func(a objstore.Attrs) error { bucketBytes += a.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	if segments < 4 || catBytes == 0 {
		t.Fatalf("only %d segments (%d bytes) tiered", segments, catBytes)
	}
	if r.Storage[0].Tier != "object" || r.Storage[0].Bytes != catBytes || bucketBytes != catBytes {
		t.Errorf("object tier %+v; catalog %d bytes, bucket %d bytes", r.Storage[0], catBytes, bucketBytes)
	}
	if len(r.Topics) != 1 || r.Topics[0].Topic != topic || r.Topics[0].Bytes != catBytes || r.Topics[0].Segments != segments {
		t.Errorf("topics %+v, want %s with %d bytes in %d segments", r.Topics, topic, catBytes, segments)
	}
	if r.Ingest.Puts < uint64(len(objects)) {
		t.Errorf("%d PUTs for %d objects", r.Ingest.Puts, len(objects))
	}
	t.Logf("since start: %d PUTs, %d bytes ingested, %.0f PUTs per GiB, %d segments (%d bytes)",
		r.Ingest.Puts, r.Ingest.Bytes, *r.Ingest.PutsPerGiB, segments, catBytes)

	// A window: the counters' growth since a quiet moment, priced at other prices.
	base := quiesce(t, n.http)
	t0 := time.Now()
	time.Sleep(500 * time.Millisecond) // snapshots of the quiet counters
	produce(5, 300)
	var window time.Duration
	r, now = reportBetween(t, n.http, func() string {
		window = time.Since(t0).Truncate(time.Millisecond) // back to the quiet moment, whenever it is asked
		return "window=" + window.String() + "&put_per_1000=0.01&hot_storage_gb_month=0.08"
	})
	checkCounts(t, r, base, now)
	checkArithmetic(t, r)
	if r.Ingest.Puts == 0 || r.Ingest.Bytes == 0 {
		t.Errorf("the window saw no PUT or no ingest: %+v", r.Ingest)
	}
	if r.Prices.PutPer1000 != 0.01 || r.Prices.HotStorageGBMonth != 0.08 || r.Prices.GetPer1000 != 0.0004 {
		t.Errorf("prices %+v", r.Prices)
	}
	if r.Window.RequestedSeconds < window.Seconds() || r.Window.Capped {
		t.Errorf("window %+v, asked %v", r.Window, window)
	}

	t.Run("cli", func(t *testing.T) { testCostCLI(t, n.http) })
}

func testCostCLI(t *testing.T, httpAddr string) {
	var out, errb bytes.Buffer
	if code := run([]string{"cost", "--http-addr", httpAddr}, nil, &out, &errb); code != 0 {
		t.Fatalf("strata cost: exit %d: %s", code, errb.String())
	}
	table := out.String()
	for _, want := range []string{"since the node started", "OP ", "CLASS", "PER MONTH", "\nput ", "\ntotal ", "\nobject ",
		"\nhot ", "\ncosts ", "PUTs per GiB", cost.IngestedMetric} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	out.Reset()
	if code := run([]string{"cost", "--http-addr", httpAddr, "--json", "--window", "1h", "--price", "storage_gb_month=1"}, nil, &out, &errb); code != 0 {
		t.Fatalf("strata cost --json: exit %d: %s", code, errb.String())
	}
	var r cost.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if r.Window.RequestedSeconds != 3600 || !r.Window.Capped || r.Prices.StorageGBMonth != 1 || len(r.Requests) == 0 {
		t.Errorf("--json --window 1h: window %+v prices %+v", r.Window, r.Prices)
	}

	out.Reset()
	if code := run([]string{"cost", "--http-addr", httpAddr, "--window", "1h"}, nil, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "capped") {
		t.Errorf("--window 1h on a young node: exit %d, %q", code, out.String())
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--window", "soon"}, 2, `invalid value "soon" for flag -window`},
		{[]string{"--window", "-5m"}, 2, "--window -5m0s: want a positive duration"},
		{[]string{"--price", "put=1"}, 2, `--price "put=1": want NAME=USD`},
		{[]string{"--price", "put_per_1000=free"}, 2, `--price "put_per_1000=free": want a number`},
		{[]string{"--http-addr", "nohostport"}, 2, `--http-addr "nohostport": want host:port`},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--http-addr", "127.0.0.1:1", "--timeout", "2s"}, 1, "cannot reach a Strata node at 127.0.0.1:1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errb bytes.Buffer
			args := append([]string{"cost", "--http-addr", httpAddr}, tc.args...)
			if code := run(args, nil, io.Discard, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errb.String(), tc.code, tc.want)
			}
		})
	}
}
