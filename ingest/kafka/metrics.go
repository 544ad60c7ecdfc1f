package kafka

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the listener's instruments, registered on the injected Registerer (none when nil).
type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	reqBytes    *prometheus.CounterVec
	respBytes   *prometheus.CounterVec
	connections prometheus.Gauge
	rejected    *prometheus.CounterVec
	panics      prometheus.Counter
	fileBytes   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_requests_total",
			Help: "Kafka requests received, by API.",
		}, []string{"api"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_kafka_request_duration_seconds",
			Help:    "Time from receiving a Kafka request to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"api"}),
		reqBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_request_bytes_total",
			Help: "Kafka request bytes received (header and body), by API.",
		}, []string{"api"}),
		respBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_response_bytes_total",
			Help: "Kafka response bytes sent (including the size prefix), by API.",
		}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_connections",
			Help: "Open Kafka client connections.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_connections_rejected_total",
			Help: "Kafka connections closed on arrival because a connection limit was reached, by limit (total, per_ip).",
		}, []string{"limit"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_handler_panics_total",
			Help: "Requests whose handler panicked (the connection was closed).",
		}),
		fileBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_fetch_file_bytes_total",
			Help: "Record bytes of Fetch responses sent straight from the hot log's segment files (sendfile on Linux), not read into memory.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.reqBytes, m.respBytes, m.connections, m.rejected, m.panics, m.fileBytes} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: metric already registered: %v", ErrConfig, err)
			}
			return nil, fmt.Errorf("kafka: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) requestBytes(api string, n int) {
	m.requests.WithLabelValues(api).Inc()
	m.reqBytes.WithLabelValues(api).Add(float64(n))
}

func (m *metrics) responseBytes(api string, n int) {
	m.respBytes.WithLabelValues(api).Add(float64(n))
}

func (m *metrics) observe(api string, d time.Duration) {
	m.duration.WithLabelValues(api).Observe(d.Seconds())
}
