package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/query"
)

// queryAnswer is one POST /v1/sql answer: its NDJSON rows and the trailer's stats.
type queryAnswer struct {
	rows  []map[string]any
	stats query.Stats
}

func postSQL(t *testing.T, httpAddr, stmt, accept string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/sql", strings.NewReader(stmt))
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func sqlRows(t *testing.T, httpAddr, stmt string) queryAnswer {
	t.Helper()
	resp, b := postSQL(t, httpAddr, stmt, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s: %s", stmt, resp.Status, b)
	}
	if e := resp.Trailer.Get(query.TrailerError); e != "" {
		t.Fatalf("%s: %s", stmt, e)
	}
	var a queryAnswer
	if err := json.Unmarshal([]byte(resp.Trailer.Get(query.TrailerStats)), &a.stats); err != nil {
		t.Fatalf("%s: stats trailer %q: %v", stmt, resp.Trailer.Get(query.TrailerStats), err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("%s: row %q: %v", stmt, sc.Text(), err)
		}
		a.rows = append(a.rows, row)
	}
	return a
}

// logRecord is one produced JSON log line.
type logRecord struct {
	Level string `json:"level"`
	Svc   string `json:"svc"`
	User  int    `json:"user"`
	Msg   string `json:"msg"`
}

// TestQueryAcrossTiers produces the same known JSON logs over three hours of timestamps to two
// topics of a two-node cluster (MinIO, embedded NATS): "hot" never rolls a segment, "logs" rolls
// one per hour of data and tiers it. Counts, group-bys, time windows, key lookups, JSON fields and
// text search, asked of node 1, must give the expected answers from both: from the hot logs of
// both nodes (node 2's tails come by Kafka Fetch), from segment objects, and with the tier
// boundary inside the data (a marker per partition still hot). Every (partition, offset) is read
// once: no gap, no duplicate at the boundary. A one-hour window reads fewer bytes than the whole.
func TestQueryAcrossTiers(t *testing.T) {
	c := startCluster(t, 1, 2)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.logs())
			if d := os.Getenv("QUERY_TEST_LOGS"); d != "" {
				os.WriteFile(d, []byte(c.node(1).p.log()), 0o644)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const parts, perHour, hours = 4, 300, 3
	c.createTopic(t, ctx, "hot", parts, map[string]*string{"segment.ms": strp("3600000")})
	c.createTopic(t, ctx, "logs", parts, map[string]*string{"segment.ms": strp("1500")})
	cl := c.client(t)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	levels := []string{"info", "info", "warn", "error"}

	type want struct{ total, errors, hour1, user3, keyU7, apiErrors, textTimeout int }
	var w want
	for h := range hours {
		var recs []*kgo.Record
		for i := range perHour {
			n := h*perHour + i
			lr := logRecord{Level: levels[n%len(levels)], Svc: []string{"api", "db", "web"}[n%3], User: n % 10,
				Msg: fmt.Sprintf("request %d", n)}
			if n%25 == 0 {
				lr.Msg = fmt.Sprintf("request %d: upstream Timeout", n)
				w.textTimeout++
			}
			v, _ := json.Marshal(lr)
			ts := base.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Hour/perHour)
			for _, topic := range []string{"hot", "logs"} {
				recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "u%d", n%10), Value: v, Timestamp: ts})
			}
			w.total++
			if lr.Level == "error" {
				w.errors++
				if lr.Svc == "api" {
					w.apiErrors++
				}
			}
			if h == 1 {
				w.hour1++
			}
			if lr.User == 3 {
				w.user3++
			}
			if n%10 == 7 {
				w.keyU7++
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1700 * time.Millisecond) // the next hour of "logs" goes to new segments
	}

	http1 := c.node(1).p.http // queries go here, but for the hot check from node 2
	check := func(phase, topic string) (window, all query.Stats) {
		t.Helper()
		sqlOf := func(stmt string) string { return strings.ReplaceAll(stmt, "TOPIC", topic) }
		one := func(stmt string) float64 {
			t.Helper()
			a := sqlRows(t, http1, sqlOf(stmt))
			if len(a.rows) != 1 || len(a.rows[0]) != 1 {
				t.Fatalf("%s: %s: rows %v", phase, stmt, a.rows)
			}
			for _, v := range a.rows[0] {
				f, _ := v.(float64)
				return f
			}
			return -1
		}
		for _, q := range []struct {
			stmt string
			want int
		}{
			{`SELECT count(*) FROM TOPIC WHERE key <> 'marker'`, w.total},
			{`SELECT count(DISTINCT (partition, "offset")) FROM TOPIC WHERE key <> 'marker'`, w.total},
			{`SELECT count(*) FROM TOPIC WHERE value->>'$.level' = 'error'`, w.errors},
			{`SELECT count(*) FROM TOPIC WHERE key = 'u7'`, w.keyU7},
			{`SELECT count(*) FROM TOPIC WHERE CAST(value->>'$.user' AS INTEGER) = 3`, w.user3},
			{`SELECT count(*) FROM TOPIC WHERE (value->>'$.level') = 'error' AND (value->>'$.svc') = 'api'`, w.apiErrors},
			{`SELECT count(*) FROM TOPIC WHERE value ILIKE '%timeout%'`, w.textTimeout},
		} {
			if got := one(q.stmt); got != float64(q.want) {
				t.Errorf("%s: %s = %v, want %d", phase, sqlOf(q.stmt), got, q.want)
			}
		}
		// A one-hour window, and a count over everything for comparison.
		win := sqlRows(t, http1, sqlOf(`SELECT count(*) AS n FROM TOPIC WHERE timestamp >= TIMESTAMP '2026-03-01 01:00:00' AND timestamp < TIMESTAMP '2026-03-01 02:00:00'`))
		if got := win.rows[0]["n"]; got != float64(w.hour1) {
			t.Errorf("%s: hour-1 window = %v, want %d", phase, got, w.hour1)
		}
		full := sqlRows(t, http1, sqlOf(`SELECT count(*) AS n FROM TOPIC`))
		// Group by hour and level: three levels per hour, summing to the total.
		g := sqlRows(t, http1, sqlOf(`SELECT time_bucket(INTERVAL 1 HOUR, timestamp) AS hour, value->>'$.level' AS level, count(*) AS n
			FROM TOPIC WHERE key <> 'marker' GROUP BY ALL ORDER BY hour, level`))
		sum := 0.0
		for _, r := range g.rows {
			sum += r["n"].(float64)
		}
		if len(g.rows) != hours*3 || sum != float64(w.total) {
			t.Errorf("%s: group by hour, level: %d groups summing to %v, want %d and %d: %v", phase, len(g.rows), sum, hours*3, w.total, g.rows)
		}
		return win.stats, full.stats
	}

	// Both nodes lead some partitions of "hot", so each node reads some tails in process and
	// the others by Kafka Fetch.
	ls, err := leaders(ctx, kadm.NewClient(cl), "hot")
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[int32]int{}
	for _, l := range ls {
		byNode[l[0]]++
	}
	if byNode[1] == 0 || byNode[2] == 0 {
		t.Fatalf("hot: leaders %v, want both nodes", ls)
	}
	for _, node := range []int{1, 2} {
		http1 = c.node(node).p.http
		_, hotStats := check(fmt.Sprintf("hot from node %d", node), "hot")
		t.Logf("hot from node %d: %+v", node, hotStats)
		if hotStats.Hot.Rows != int64(w.total) || hotStats.Segment.Rows != 0 {
			t.Errorf("hot: want every row from the hot logs: %+v", hotStats)
		}
	}
	http1 = c.node(1).p.http

	deadline := time.Now().Add(60 * time.Second)
	for {
		a := sqlRows(t, http1, `SELECT count(*) FROM logs`)
		if a.stats.Segment.Rows == int64(w.total) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not tiered after 60s: %+v", a.stats)
		}
		time.Sleep(300 * time.Millisecond)
	}
	window, all := check("tiered", "logs")
	t.Logf("tiered: window %+v, all %+v", window, all)
	if all.Segment.Rows != int64(w.total) || all.Hot.Rows != 0 {
		t.Errorf("tiered: want every row from segments: %+v", all)
	}
	if window.Segment.Bytes >= all.Segment.Bytes/2 || window.SegmentsPruned == 0 {
		t.Errorf("a one-hour window of three read %d of %d segment bytes (%d segments pruned)", window.Segment.Bytes, all.Segment.Bytes, window.SegmentsPruned)
	}

	// Two markers per partition: the first rolls the idle active segment, the second stays in a
	// new one for segment.ms (1.5 s), so the tier boundary runs inside the data. On a machine so
	// busy that they were tiered before the query, again (every answer must be right either way).
	pc := c.client(t, kgo.DefaultProduceTopic("logs"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	markers := 0
	for attempt := 1; ; attempt++ {
		for range 2 {
			var recs []*kgo.Record
			for p := range int32(parts) {
				recs = append(recs, &kgo.Record{Key: []byte("marker"), Value: []byte(`{"level":"marker"}`), Partition: p})
			}
			if err := pc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			markers += parts
		}
		mixed := sqlRows(t, http1, `SELECT count(*) AS n, count(DISTINCT (partition, "offset")) AS d FROM logs`)
		if n := float64(w.total + markers); mixed.rows[0]["n"] != n || mixed.rows[0]["d"] != n {
			t.Errorf("with the markers: %v, want %v rows, all distinct", mixed.rows, n)
		}
		t.Logf("mixed: %+v", mixed.stats)
		if mixed.stats.Hot.Rows > 0 && mixed.stats.Segment.Rows >= int64(w.total) {
			break
		}
		if attempt == 3 {
			t.Fatalf("with the markers: want the boundary inside the data (markers hot, the rest in segments): %+v", mixed.stats)
		}
	}
	check("mixed", "logs")

	// Search: newest first, with a histogram, through the CLI too.
	q := url.Values{"topic": {"logs"}, "q": {"TIMEOUT"}, "where": {"svc=api"}, "limit": {"5"}, "histogram": {"1h"},
		"from": {"2026-03-01T00:00:00Z"}}
	resp, err := http.Get("http://" + http1 + "/v1/search?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != http.StatusOK || len(lines) != 6 || !strings.HasPrefix(lines[5], `{"bucket":"1h0m0s","histogram":[`) {
		t.Fatalf("search: %s\n%s", resp.Status, body)
	}
	prev := "9999"
	for _, l := range lines[:5] {
		var r struct {
			Timestamp string
			Value     string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Timestamp > prev || !strings.Contains(r.Value, `"svc":"api"`) ||
			!strings.Contains(r.Value, "Timeout") {
			t.Fatalf("search hit %s (after %s): %v", l, prev, err)
		}
		prev = r.Timestamp
	}
	var out, errb bytes.Buffer
	if code := run([]string{"search", "logs", "--http-addr", http1, "--q", "timeout", "--limit", "3"}, nil, &out, &errb); code != 0 ||
		strings.Count(out.String(), "\n") != 3 {
		t.Fatalf("strata search: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"sql", "--http-addr", http1, "--format", "csv", `SELECT value->>'$.level' AS level, count(*) AS n FROM logs WHERE key <> 'marker' GROUP BY 1 ORDER BY 1`},
		nil, &out, &errb); code != 0 || out.String() != fmt.Sprintf("level,n\nerror,%d\ninfo,%d\nwarn,%d\n", w.errors, w.total/2, w.total/4) {
		t.Fatalf("strata sql: exit %d\n%s\n%s", code, out.String(), errb.String())
	}

	// Arrow IPC.
	resp2, b := postSQL(t, http1, `SELECT partition, "offset", timestamp, value FROM logs ORDER BY partition, "offset" LIMIT 10`, "application/vnd.apache.arrow.stream")
	if resp2.StatusCode != http.StatusOK {
		t.Fatalf("arrow: %s %s", resp2.Status, b)
	}
	rd, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rd.Next() {
		n += int(rd.RecordBatch().NumRows())
	}
	if n != 10 || rd.Schema().NumFields() != 4 || rd.Schema().Field(2).Type.String() != "timestamp[ms, tz=UTC]" {
		t.Fatalf("arrow: %d rows, schema %v", n, rd.Schema())
	}
	rd.Release()

	// Errors: a bad statement, an unknown topic, the row limit, no file access.
	for _, e := range []struct {
		stmt   string
		status int
		msg    string
	}{
		{`SELEC 1`, http.StatusBadRequest, "syntax error"},
		{`SELECT * FROM nosuchtopic`, http.StatusNotFound, "nosuchtopic"},
		{`SELECT * FROM range(200000)`, http.StatusOK, "more than 100000 rows"},
		{`SELECT * FROM read_csv('/etc/passwd')`, http.StatusBadRequest, "disabled"},
		{`SET memory_limit = '100GB'`, http.StatusBadRequest, "locked"},
	} {
		resp, b := postSQL(t, http1, e.stmt, "")
		msg := string(b) + resp.Trailer.Get(query.TrailerError)
		if resp.StatusCode != e.status || !strings.Contains(msg, e.msg) {
			t.Errorf("%s: %s %s, want %d and %q", e.stmt, resp.Status, msg, e.status, e.msg)
		}
	}
	// Kafka still serves.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hot", Value: []byte(`{"level":"after"}`)}).FirstErr(); err != nil {
		t.Fatalf("produce after the queries: %v", err)
	}
}

// TestQueryLimits: a query past its timeout or memory budget answers 422 with the limit named,
// a second query past --query-concurrency 429, and the node keeps serving Kafka and HTTP.
func TestQueryLimits(t *testing.T) {
	p := startStrata(t, append(serverArgs(t.TempDir()), "--query-timeout", "3s", "--query-memory", "33554432",
		"--query-concurrency", "1")...)
	start := time.Now()
	resp, b := postSQL(t, p.http, `SELECT count(*) FROM range(100000000000) a`, "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "timeout of 3s") {
		t.Errorf("long query: %s %s", resp.Status, b)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a query with a 3s timeout took %v", d)
	}
	resp, b = postSQL(t, p.http, `SELECT string_agg(repeat('x', 1000) || range, ',') FROM range(1000000)`, "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "memory budget") {
		t.Errorf("big query: %s %s", resp.Status, b)
	}

	// One query holds the only slot: another is refused meanwhile.
	done := make(chan struct{})
	longStatus := 0
	go func() {
		defer close(done)
		resp, _ := postSQL(t, p.http, `SELECT count(*) FROM range(100000000000) a`, "")
		longStatus = resp.StatusCode
	}()
	refused := false
	for !refused {
		select {
		case <-done:
			if longStatus != http.StatusTooManyRequests { // refused when a SELECT 1 held the slot
				t.Fatalf("no query was refused while another ran (the long one: %d)", longStatus)
			}
			refused = true
			continue
		case <-time.After(50 * time.Millisecond):
		}
		resp, b = postSQL(t, p.http, `SELECT 1`, "")
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			refused = true
		case http.StatusOK: // the long query had not started yet
		default:
			t.Fatalf("a query past the concurrency: %s %s", resp.Status, b)
		}
	}
	<-done

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic("after"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("still serving"),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}, {Key: "trace", Value: []byte("t2")}}}).FirstErr(); err != nil {
		t.Fatalf("produce after the queries: %v", err)
	}
	a := sqlRows(t, p.http, `SELECT key, value, headers, headers[2].value AS second FROM after`)
	if len(a.rows) != 1 || a.rows[0]["value"] != "still serving" || a.rows[0]["key"] != nil || a.rows[0]["second"] != "t2" ||
		fmt.Sprint(a.rows[0]["headers"]) != "[map[key:trace value:t1] map[key:trace value:t2]]" {
		t.Fatalf("after: %v", a.rows)
	}
}

// TestQueryWindowBytes measures what a one-hour window reads of a day of logs tiered in hourly
// segments (one node, segment objects in its file store): the catalog's min/max timestamps prune
// the other hours' segments before any byte of them is read.
func TestQueryWindowBytes(t *testing.T) {
	p := startStrata(t, serverArgs(t.TempDir())...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic("day"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.ms": strp("300")}, "day"); err != nil {
		t.Fatal(err)
	}
	const hours, perHour = 24, 200
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for h := range hours {
		var recs []*kgo.Record
		for i := range perHour {
			v := fmt.Sprintf(`{"level":"info","svc":"api","msg":"request %d of hour %d","pad":"%s"}`, i, h, strings.Repeat("x", 100))
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "u%d", i%50), Value: []byte(v),
				Timestamp: base.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Hour/perHour)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond) // each hour in its own segments
	}
	var all queryAnswer
	for deadline := time.Now().Add(60 * time.Second); ; {
		if all = sqlRows(t, p.http, `SELECT count(*) AS n FROM day`); all.stats.Segment.Rows == hours*perHour {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not tiered after 60s: %+v\n%s", all.stats, p.stderr.Tail(40))
		}
		time.Sleep(300 * time.Millisecond)
	}
	win := sqlRows(t, p.http, `SELECT count(*) AS n FROM day WHERE timestamp >= TIMESTAMP '2026-03-01 10:00:00' AND timestamp < TIMESTAMP '2026-03-01 11:00:00'`)
	if win.rows[0]["n"] != float64(perHour) || all.rows[0]["n"] != float64(hours*perHour) {
		t.Fatalf("window %v, all %v", win.rows, all.rows)
	}
	ratio := float64(win.stats.Segment.Bytes) / float64(all.stats.Segment.Bytes)
	t.Logf("a one-hour window of %d read %d of %d segment bytes (%.1f%%); %d segments pruned, %d read",
		hours, win.stats.Segment.Bytes, all.stats.Segment.Bytes, 100*ratio, win.stats.SegmentsPruned, win.stats.SegmentsRead)
	if ratio > 0.05 {
		t.Errorf("a one-hour window of %d read %.1f%% of the bytes, want at most 5%%", hours, 100*ratio)
	}
}
