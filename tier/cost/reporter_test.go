package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
)

// newCatalog is a metadata store holding topics a (2 partitions: 3 segments, 1000 + 2000 + 500
// bytes) and b (1 partition: 1 segment of 4096 bytes) and an empty topic c.
func newCatalog(t *testing.T) *memmeta.Store {
	t.Helper()
	ctx := context.Background()
	st, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for name, parts := range map[string]int32{"a": 2, "b": 1, "c": 3} {
		if _, err := st.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: parts}); err != nil {
			t.Fatal(err)
		}
	}
	reg := func(topic string, p int32, base, next, size int64) {
		t.Helper()
		ref := metadata.SegmentRef{Key: fmt.Sprintf("%s/%d/%d", topic, p, base), BaseOffset: base, NextOffset: next,
			Size: size, MinTimestamp: -1, MaxTimestamp: -1}
		if err := st.RegisterSegment(ctx, metadata.TopicPartition{Topic: topic, Partition: p}, 1, ref); err != nil {
			t.Fatal(err)
		}
	}
	reg("a", 0, 0, 10, 1000)
	reg("a", 0, 10, 20, 2000)
	reg("a", 1, 0, 5, 500)
	reg("b", 0, 0, 100, 4096)
	return st
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, b
}

func TestReporterHTTP(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewSampler(SamplerConfig{Gatherer: reg, Interval: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := register(t, reg)
	c.ops.WithLabelValues("put").Add(2000)
	c.ops.WithLabelValues("get").Add(10000)
	c.ops.WithLabelValues("delete").Add(7)
	c.ingested.Add(4 << 30)
	c.hot.Set(12345)

	if _, err := NewReporter(Config{Sampler: s}); err == nil {
		t.Fatal("a Reporter without Catalogs")
	}
	rep, err := NewReporter(Config{Sampler: s, Catalogs: newCatalog(t), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rep)
	defer srv.Close()

	code, body := get(t, srv.URL+"/v1/cost")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, rc := range r.Requests {
		counts[rc.Op] = rc.Count
		if !near(rc.Cost, float64(rc.Count)*DefaultPrices().PerRequest(rc.Op)) ||
			!near(rc.Monthly, rc.Cost*Month.Seconds()/r.Window.Seconds) {
			t.Errorf("request %+v: cost or monthly rate off (window %v s)", rc, r.Window.Seconds)
		}
	}
	if len(counts) != 3 || counts["put"] != 2000 || counts["get"] != 10000 || counts["delete"] != 7 {
		t.Errorf("requests %+v", r.Requests)
	}
	if r.Prices != DefaultPrices() || r.Window.RequestedSeconds != 0 || r.Window.Capped || r.Window.Seconds <= 0 {
		t.Errorf("prices %+v window %+v", r.Prices, r.Window)
	}
	if r.Storage[0].Bytes != 7596 || r.Storage[1].Bytes != 12345 {
		t.Errorf("storage %+v, want object 7596, hot 12345", r.Storage)
	}
	want := []TopicBytes{{"a", 3500, 3}, {"b", 4096, 1}, {"c", 0, 0}}
	if len(r.Topics) != 3 {
		t.Fatalf("topics %+v", r.Topics)
	}
	for i, w := range want {
		if r.Topics[i].TopicBytes != w {
			t.Errorf("topic %+v, want %+v", r.Topics[i], w)
		}
	}
	if r.Ingest.PutsPerGiB == nil || *r.Ingest.PutsPerGiB != 500 || r.Ingest.Bytes != 4<<30 {
		t.Errorf("ingest %+v", r.Ingest)
	}

	// Overridden prices, a window: an hour-long window on a node a moment old is capped.
	code, body = get(t, srv.URL+"/v1/cost?window=1h&put_per_1000=1&storage_gb_month=2")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	r = Report{}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.Prices != (Prices{PutPer1000: 1, GetPer1000: 0.0004, StorageGBMonth: 2}) || r.Window.RequestedSeconds != 3600 || !r.Window.Capped {
		t.Errorf("prices %+v window %+v", r.Prices, r.Window)
	}
	for _, rc := range r.Requests {
		if rc.Op == "put" && !near(rc.Cost, 2) {
			t.Errorf("2000 PUTs at $1 per 1000: %+v", rc)
		}
	}

	for _, q := range []string{"window=soon", "window=-1h", "window=0s", "get_per_1000=free"} {
		code, body := get(t, srv.URL+"/v1/cost?"+q)
		var e errorBody
		if code != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s: status %d %s, want 400 with an error", q, code, body)
		}
	}
}

// failingCatalogs fails every catalog read after listing one topic.
type failingCatalogs struct{}

func (failingCatalogs) ListTopics(context.Context) ([]metadata.Topic, error) {
	return []metadata.Topic{{Name: "t", Partitions: 20}}, nil
}

func (failingCatalogs) GetCatalog(context.Context, metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	return metadata.PartitionCatalog{}, errors.New("metadata down")
}

func TestReporterCatalogFailure(t *testing.T) {
	s, err := NewSampler(SamplerConfig{Gatherer: prometheus.NewRegistry(), Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := NewReporter(Config{Sampler: s, Catalogs: failingCatalogs{}, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rep)
	defer srv.Close()
	code, body := get(t, srv.URL+"/v1/cost")
	if code != http.StatusInternalServerError || !strings.Contains(string(body), "metadata down") {
		t.Fatalf("status %d %s", code, body)
	}
	// A cancelled request stops reading catalogs and says so.
	rep, err = NewReporter(Config{Sampler: s, Catalogs: newCatalog(t), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rep.ObjectBytes(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ObjectBytes on a cancelled context: %v", err)
	}
}
