package compaction

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Worker's instruments. Several Workers on one registry share them.
type metrics struct {
	merges       prometheus.Counter
	inputs       prometheus.Counter
	writtenBytes prometheus.Counter
	errors       *prometheus.CounterVec // by op: leases, catalog, get, corrupt, put, replace, delete
	aborted      *prometheus.CounterVec // by reason: fenced, conflict, lease
	seconds      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_merges_total",
			Help: "Merged segment objects swapped into the catalog.",
		}),
		inputs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_input_segments_total",
			Help: "Segments replaced by merged objects.",
		}),
		writtenBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_written_bytes_total",
			Help: "Bytes of merged objects written to the bucket (swapped in or not).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compaction_errors_total",
			Help: "Failed compaction steps by operation (leases, catalog, get, corrupt, put, replace, delete).",
		}, []string{"op"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compaction_aborted_merges_total",
			Help: "Merges written but not swapped in, by reason (fenced, conflict, lease); their objects were deleted.",
		}, []string{"reason"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_compaction_merge_duration_seconds",
			Help:    "Time from the first input GET of a merge to its catalog swap.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
	}
	if reg != nil {
		m.merges = register(reg, m.merges)
		m.inputs = register(reg, m.inputs)
		m.writtenBytes = register(reg, m.writtenBytes)
		m.errors = register(reg, m.errors)
		m.aborted = register(reg, m.aborted)
		m.seconds = register(reg, m.seconds)
	}
	return m
}

// register registers c on reg, reusing a collector already registered under the same name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
