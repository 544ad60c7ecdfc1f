package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
)

// startBroker runs a real broker on a hot log in a temp dir and an embedded NATS metadata store.
func startBroker(t *testing.T) *node {
	t.Helper()
	dir, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	st := natsmetatest.Store(t)
	b, err := broker.New(broker.Config{NodeID: 1, KafkaAddr: "127.0.0.1:9", HotLog: dir, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	admin, err := topics.New(topics.Config{NodeID: 1, Store: st, Node: b})
	if err != nil {
		t.Fatal(err)
	}
	return &node{Broker: b, admin: admin}
}

// node is a broker and its topic administration.
type node struct {
	*broker.Broker
	admin *topics.Admin
}

func newServer(t *testing.T, b *node, maxBody int64) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_test_probe_total", Help: "probe"}))
	h, err := Handler(Config{Producer: b, Topics: b.admin, Gatherer: reg, MaxBodyBytes: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// readAll returns every record value (and key) in a partition from offset 0.
func readAll(t *testing.T, b *broker.Broker, tp metadata.TopicPartition) (keys, values []string) {
	t.Helper()
	ctx := context.Background()
	res, err := b.Fetch(ctx, tp, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for s := segment.NewSplitter(res.Records); s.Next(); {
		for _, r := range decodeRecords(t, s.Batch()) {
			keys = append(keys, string(r.Key))
			values = append(values, string(r.Value))
		}
	}
	return keys, values
}

func TestIngestNDJSON(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 0)

	body := `{"user":"ada","n":1}
"a plain string"

{"user":"bob","n":2}
{"user":42,"n":3}
`
	code, out := post(t, srv.URL+"/v1/topics/logs/records?key=user", body)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, out)
	}
	var resp IngestResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Topic != "logs" || len(resp.Records) != 4 {
		t.Fatalf("response %+v, want 4 records on logs", resp)
	}
	tp := metadata.TopicPartition{Topic: "logs", Partition: resp.Records[0].Partition}
	keys, values := readAll(t, b.Broker, tp)
	want := []string{`{"user":"ada","n":1}`, "a plain string", `{"user":"bob","n":2}`, `{"user":42,"n":3}`}
	wantKeys := []string{"ada", "", "bob", "42"}
	if len(values) != len(want) {
		t.Fatalf("stored %d records %q, want %q", len(values), values, want)
	}
	for i := range want {
		if values[i] != want[i] || keys[i] != wantKeys[i] {
			t.Errorf("record %d: key %q value %q, want key %q value %q", i, keys[i], values[i], wantKeys[i], want[i])
		}
		if resp.Records[i].Offset != int64(i) {
			t.Errorf("record %d answered offset %d", i, resp.Records[i].Offset)
		}
	}
}

func TestIngestBadLineWritesNothing(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 0)
	for _, tc := range []struct {
		name, body string
		line       int
	}{
		{"broken object", "{\"a\":1}\n{\"a\":\n", 2},
		{"number", "{\"a\":1}\n\"s\"\n17\n", 3},
		{"trailing garbage", "{\"a\":1} x\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv.URL+"/v1/topics/bad/records", tc.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, out)
			}
			var e errorBody
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatal(err)
			}
			if e.Line != tc.line || !strings.Contains(e.Error, fmt.Sprintf("line %d", tc.line)) {
				t.Fatalf("error %+v, want line %d", e, tc.line)
			}
		})
	}
	// Nothing was written: the topic was never even created.
	if _, err := b.admin.Topic(context.Background(), "bad"); broker.Code(err) == 0 {
		t.Fatalf("topic %q exists after only bad posts", "bad")
	}
}

func TestIngestBodyTooLarge(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 64)
	code, out := post(t, srv.URL+"/v1/topics/big/records", strings.Repeat(`{"k":"vvvvvvvv"}`+"\n", 10))
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", code, out)
	}
	if _, err := b.admin.Topic(context.Background(), "big"); broker.Code(err) == 0 {
		t.Fatal("topic exists after a refused body")
	}
}

func TestProbesAndMetrics(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 0)
	for path, want := range map[string]string{
		"/healthz":      "ok",
		"/readyz":       "ready",
		"/metrics":      "strata_test_probe_total",
		"/debug/pprof/": "goroutine",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want 200 containing %q", path, resp.StatusCode, body, want)
		}
	}
}

func TestReadyzReportsFailure(t *testing.T) {
	n := startBroker(t)
	h, err := Handler(Config{Producer: n, Topics: n.admin, Ready: func(context.Context) error { return fmt.Errorf("metadata unreachable") }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "metadata unreachable") {
		t.Fatalf("readyz: %d %q", rec.Code, rec.Body.String())
	}
}
