package objstoretest

// Small helpers that tests of every package share: StartMinIO needs the first two itself, and the
// packages above tier use all of them, so they live here once instead of a copy per package.

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port was free a moment ago, for a
// server that a test starts in another process and so cannot hand a listener.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SyncBuffer is an io.Writer that collects a process's output; it is safe for concurrent use, so
// one SyncBuffer may be both Stdout and Stderr of an exec.Cmd.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Tail returns the last n lines written.
func (s *SyncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(s.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// QuietLogger is the logger for a component under test: it discards everything, unless the test
// binary runs with -v, when it logs at debug level to stderr.
func QuietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// MetricValue gathers g and sums the series of the metric family name whose label values, in the
// order of their label names, begin with labelValues (every series when none are given). A counter,
// gauge or untyped series adds its value, a histogram or summary its sample count. It fails the test
// when g has no such family or no series matches: a metric a test reads must exist.
//
// Use it where the test holds only the Registerer it passed in; with the collector itself at hand,
// prometheus/testutil.ToFloat64 reads it directly.
func MetricValue(tb testing.TB, g prometheus.Gatherer, name string, labelValues ...string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		sum, matched := 0.0, false
		for _, m := range mf.GetMetric() {
			vals := make([]string, 0, len(m.GetLabel()))
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetValue())
			}
			if len(vals) < len(labelValues) || !slices.Equal(vals[:len(labelValues)], labelValues) {
				continue
			}
			matched = true
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Untyped != nil:
				sum += m.GetUntyped().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.Summary != nil:
				sum += float64(m.GetSummary().GetSampleCount())
			}
		}
		if !matched {
			tb.Fatalf("no series of %s with label values %q", name, labelValues)
		}
		return sum
	}
	tb.Fatalf("metric %s not gathered", name)
	return 0
}
