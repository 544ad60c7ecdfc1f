package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const exposition = `# HELP strata_objstore_operations_total Object store calls, by operation.
# TYPE strata_objstore_operations_total counter
strata_objstore_operations_total{op="put"} 12
strata_objstore_operations_total{op="get"} 3
strata_objstore_operations_total{op="get_range"} 4
strata_objstore_errors_total{op="put"} 1
strata_objstore_bytes_total{direction="write",op="put"} 1.2e+07
strata_objstore_bytes_total{direction="read",op="get"} 3000
strata_objstore_bytes_total{direction="read",op="get_range"} 400
weird_label{a="x\"y,z}",b="n\\m"} 5 1700000000000
plain_metric 2.5
broken{op="put" 1
not_a_number{op="put"} abc
`

func TestParseText(t *testing.T) {
	s, bad, err := ParseText(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if bad != 2 {
		t.Errorf("bad lines = %d, want 2", bad)
	}
	tests := []struct {
		name  string
		match map[string]string
		want  float64
	}{
		{"strata_objstore_operations_total", map[string]string{"op": "put"}, 12},
		{"strata_objstore_operations_total", nil, 19},
		{"strata_objstore_bytes_total", map[string]string{"direction": "read"}, 3400},
		{"weird_label", map[string]string{"a": `x"y,z}`, "b": `n\m`}, 5},
		{"plain_metric", nil, 2.5},
		{"missing", nil, 0},
	}
	for _, tt := range tests {
		if got := s.Sum(tt.name, tt.match); got != tt.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
	if got := s.Names("strata_objstore_"); strings.Join(got, ",") != "strata_objstore_bytes_total,strata_objstore_errors_total,strata_objstore_operations_total" {
		t.Errorf("Names = %v", got)
	}
}

func TestObjStoreDelta(t *testing.T) {
	s, _, _ := ParseText(strings.NewReader(exposition))
	after := ObjStoreFrom(s)
	want := ObjStoreCounters{Puts: 12, Gets: 7, Errors: 1, PutBytes: 1.2e7, GetBytes: 3400}
	if after != want {
		t.Fatalf("counters %+v, want %+v", after, want)
	}
	d := Delta(ObjStoreCounters{Puts: 2, PutBytes: 2e6}, after, 1<<29) // half a GiB moved
	if d.Puts != 10 || d.PutsPerGiB != 20 || d.GetsPerGiB != 14 || d.BytesPerPut != 1e6 || d.BytesPerGet != 485.71 {
		t.Fatalf("delta %+v", d)
	}
	d = Delta(ObjStoreCounters{Puts: 2, FlushPuts: 1}, ObjStoreCounters{Puts: 62, FlushPuts: 46}, 1<<30)
	d.SetSeconds(4)
	if d.FlushPuts != 45 || d.FlushPutsPerS != 11.25 || d.PutsPerS != 15 || d.PutsPerGiB != 60 || d.FlushPutsPerGiB != 45 {
		t.Fatalf("flush delta %+v", d)
	}
	zero := Delta(ObjStoreCounters{}, ObjStoreCounters{}, 0)
	if zero.PutsPerGiB != 0 || zero.BytesPerPut != 0 || zero.FlushPutsPerS != 0 {
		t.Fatalf("zero delta %+v: rates must be 0, not NaN", zero)
	}
}

// TestScrapeRealRegistry reads what client_golang really serves, labels sorted its way.
func TestScrapeRealRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_objstore_operations_total", Help: "h"}, []string{"op"})
	by := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_objstore_bytes_total", Help: "h"}, []string{"op", "direction"})
	reg.MustRegister(ops, by)
	ops.WithLabelValues("put").Add(3)
	ops.WithLabelValues("get_range").Add(2)
	by.WithLabelValues("put", "write").Add(3 << 20)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	s, err := Scrape(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := ObjStoreFrom(s)
	if c.Puts != 3 || c.Gets != 2 || c.PutBytes != 3<<20 {
		t.Fatalf("counters %+v", c)
	}
	bad := httptest.NewServer(http.NotFoundHandler())
	defer bad.Close()
	if _, err := Scrape(context.Background(), bad.URL); err == nil {
		t.Fatal("a 404 scrape should fail")
	}
}

func FuzzParseText(f *testing.F) {
	f.Add(exposition)
	f.Add(`a{b="` + "\\")
	f.Add("{}")
	f.Add(`x{="y"} 1`)
	f.Fuzz(func(t *testing.T, in string) {
		s, bad, _ := ParseText(strings.NewReader(in))
		if bad < 0 {
			t.Fatal("negative bad count")
		}
		for _, smp := range s {
			if smp.Name == "" {
				t.Fatalf("sample without a name from %q", in)
			}
		}
	})
}

func TestServerDelta(t *testing.T) {
	const text = `strata_kafka_requests_total{api="Produce"} 10
strata_kafka_requests_total{api="Fetch"} 4
strata_kafka_response_bytes_total{api="Fetch"} 4096
strata_kafka_response_bytes_total{api="Produce"} 999
strata_hotlog_fsync_duration_seconds_count 5
strata_hotlog_appended_batches_total 40
`
	s, _, _ := ParseText(strings.NewReader(text))
	d := ServerDeltaOf(ServerCounters{FetchRequests: 2, Batches: 10, Fsyncs: 2}, ServerFrom(s))
	want := ServerDelta{ProduceRequests: 10, FetchRequests: 2, FetchResponseBytes: 4096, BytesPerFetch: 2048, Fsyncs: 3, Batches: 30, BatchesPerFsync: 10}
	if d != want {
		t.Fatalf("delta %+v, want %+v", d, want)
	}
	if z := ServerDeltaOf(ServerCounters{}, ServerCounters{}); z.BytesPerFetch != 0 || z.BatchesPerFsync != 0 {
		t.Fatalf("empty delta must not divide by zero: %+v", z)
	}
}
