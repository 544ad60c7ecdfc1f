package query

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the query engine's Prometheus metrics.
type metrics struct {
	queries  *prometheus.CounterVec
	rows     *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_query_queries_total",
			Help: "Queries run, by outcome (ok, bad_statement, unknown_topic, limit, busy, error)."}, []string{"outcome"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_query_scanned_rows_total",
			Help: "Records read by queries, by tier (segment, hot)."}, []string{"tier"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_query_scanned_bytes_total",
			Help: "Record batch bytes read by queries, by tier (segment, hot)."}, []string{"tier"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_query_duration_seconds",
			Help: "Time from a query's start to its close.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.queries, m.rows, m.bytes, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(st Stats, d time.Duration, outcome string) {
	m.queries.WithLabelValues(outcome).Inc()
	m.rows.WithLabelValues("segment").Add(float64(st.Segment.Rows))
	m.rows.WithLabelValues("hot").Add(float64(st.Hot.Rows))
	m.bytes.WithLabelValues("segment").Add(float64(st.Segment.Bytes))
	m.bytes.WithLabelValues("hot").Add(float64(st.Hot.Bytes))
	m.duration.Observe(d.Seconds())
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadStatement):
		return "bad_statement"
	case errors.Is(err, ErrUnknownTopic):
		return "unknown_topic"
	case errors.Is(err, ErrLimit):
		return "limit"
	case errors.Is(err, ErrBusy):
		return "busy"
	}
	return "error"
}
