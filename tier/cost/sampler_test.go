package cost

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPick(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) Snapshot { return Snapshot{Time: t0.Add(time.Duration(s) * time.Second)} }
	first := at(0)
	ring := []Snapshot{at(30), at(60), at(90), at(120)} // every 30 s
	dropped := []Snapshot{at(600), at(630), at(660)}    // the ring let 30..570 go
	for _, tc := range []struct {
		name    string
		ring    []Snapshot
		dropped bool
		end     int // seconds after t0
		window  time.Duration
		want    int // start, seconds after t0
		capped  bool
	}{
		{"no window: since the start", ring, false, 130, 0, 0, false},
		{"no window, ring dropped: still the start", dropped, true, 670, 0, 0, false},
		{"on a snapshot", ring, false, 120, 60 * time.Second, 60, false},
		{"between snapshots: the one before", ring, false, 130, 60 * time.Second, 60, false},
		{"shorter than the interval", ring, false, 130, 5 * time.Second, 120, false},
		{"back to the first", ring, false, 130, 130 * time.Second, 0, false},
		{"between the first and the ring", ring, false, 130, 115 * time.Second, 0, false},
		{"longer than the node's life", ring, false, 130, time.Hour, 0, true},
		{"no periodic snapshot yet", nil, false, 10, 5 * time.Second, 0, false},
		{"ring dropped, window inside it", dropped, true, 670, 50 * time.Second, 600, false},
		{"ring dropped, window reaches past it", dropped, true, 670, 200 * time.Second, 600, true},
		{"ring dropped, window past the start", dropped, true, 670, time.Hour, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, capped := Pick(first, tc.ring, tc.dropped, at(tc.end).Time, tc.window)
			if !got.Time.Equal(at(tc.want).Time) || capped != tc.capped {
				t.Fatalf("Pick = %v capped %v, want %v capped %v", got.Time.Sub(t0), capped, time.Duration(tc.want)*time.Second, tc.capped)
			}
		})
	}
}

func TestDelta(t *testing.T) {
	a := Snapshot{Ops: map[string]float64{"put": 10, "get": 5}, Ingested: 100}
	b := Snapshot{Ops: map[string]float64{"put": 25, "get": 5, "head": 3}, Ingested: 1124}
	ops, ing := Delta(a, b)
	if len(ops) != 3 || ops["put"] != 15 || ops["get"] != 0 || ops["head"] != 3 || ing != 1024 {
		t.Fatalf("Delta = %v, %d", ops, ing)
	}
	// A counter that went down (never in one process) is no growth, not a wrap-around.
	if ops, ing := Delta(b, a); ops["put"] != 0 || ing != 0 {
		t.Fatalf("Delta backwards = %v, %d", ops, ing)
	}
}

// counters are the series a node registers that Read looks at, plus one it must ignore.
type counters struct {
	ops      *prometheus.CounterVec
	ingested prometheus.Counter
	hot      prometheus.Gauge
}

func register(t *testing.T, reg *prometheus.Registry) counters {
	t.Helper()
	c := counters{
		ops:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: OpsMetric}, []string{"op"}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{Name: IngestedMetric}),
		hot:      prometheus.NewGauge(prometheus.GaugeOpts{Name: HotBytesMetric}),
	}
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_other_total"})
	other.Add(99)
	reg.MustRegister(c.ops, c.ingested, c.hot, other)
	return c
}

func TestRead(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := time.Now()
	s, err := Read(reg, now)
	if err != nil || len(s.Ops) != 0 || s.Ingested != 0 || s.HotBytes != 0 || !s.Time.Equal(now) {
		t.Fatalf("empty registry: %+v, %v", s, err)
	}
	c := register(t, reg)
	c.ops.WithLabelValues("put").Add(7)
	c.ops.WithLabelValues("get_range").Add(3)
	c.ingested.Add(4096)
	c.hot.Set(512)
	s, err = Read(reg, now)
	if err != nil || len(s.Ops) != 2 || s.Ops["put"] != 7 || s.Ops["get_range"] != 3 || s.Ingested != 4096 || s.HotBytes != 512 {
		t.Fatalf("Read = %+v, %v", s, err)
	}
}

// failingCollector makes a Gather fail.
type failingCollector struct{ desc *prometheus.Desc }

func (f failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }
func (f failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("broken"))
}

// TestSampler runs a Sampler on a real registry: the first snapshot reads counters registered later
// as zero, windows are deltas from the ring, the ring is bounded, and Close is idempotent.
func TestSampler(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewSampler(SamplerConfig{}); err == nil {
		t.Fatal("a Sampler without a Gatherer")
	}
	s, err := NewSampler(SamplerConfig{Gatherer: reg, Interval: 10 * time.Millisecond, Capacity: 5})
	if err != nil {
		t.Fatal(err)
	}
	c := register(t, reg)
	c.ops.WithLabelValues("put").Add(4)
	c.ingested.Add(1 << 20)

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ringLen := func() (int, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.ring), s.dropped
	}
	// Since the start: everything counted so far.
	start, end, capped, err := s.Window(0)
	if err != nil || capped {
		t.Fatal(err, capped)
	}
	if ops, ing := Delta(start, end); ops["put"] != 4 || ing != 1<<20 {
		t.Fatalf("since start: %v %d", ops, ing)
	}
	// Let a snapshot see put=4, then count more: a short window holds only the new requests.
	waitFor("a snapshot", func() bool { n, _ := ringLen(); return n > 0 })
	time.Sleep(20 * time.Millisecond)
	c.ops.WithLabelValues("put").Add(6)
	c.ops.WithLabelValues("head").Add(2)
	start, end, _, err = s.Window(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ops, ing := Delta(start, end); ops["put"] != 6 || ops["head"] != 2 || ing != 0 {
		t.Fatalf("short window: %v %d (start %v, end %v)", ops, ing, start, end)
	}
	// The ring stays at Capacity; a window longer than the node's life is capped at the first
	// snapshot, which the ring never drops.
	waitFor("the ring to drop", func() bool { _, d := ringLen(); return d })
	if n, _ := ringLen(); n != 5 {
		t.Fatalf("ring holds %d, want 5", n)
	}
	time.Sleep(20 * time.Millisecond)
	start, end, capped, err = s.Window(time.Hour)
	if err != nil || !capped {
		t.Fatalf("window 1h: capped %v, %v", capped, err)
	}
	if ops, _ := Delta(start, end); ops["put"] != 10 || ops["head"] != 2 {
		t.Fatalf("window 1h (capped: since the first snapshot): %v", ops)
	}
	if start, end, _, _ := s.Window(0); deltaOps(start, end)["put"] != 10 {
		t.Fatalf("since start after the ring dropped: %v", deltaOps(start, end))
	}

	// A broken collector fails the report's fresh snapshot.
	reg.MustRegister(failingCollector{prometheus.NewDesc("strata_broken", "", nil, nil)})
	if _, _, _, err := s.Window(0); err == nil {
		t.Fatal("Window with a failing collector")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func deltaOps(a, b Snapshot) map[string]uint64 {
	ops, _ := Delta(a, b)
	return ops
}
