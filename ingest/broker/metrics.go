package broker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	leaders         prometheus.Gauge
	appendedBytes   prometheus.Counter
	appendedRecords prometheus.Counter
	fetchedBytes    prometheus.Counter
	tieredBytes     prometheus.Counter
	duplicates      prometheus.Counter
	produceErrors   *prometheus.CounterVec
	discardedLogs   prometheus.Counter
	logFailures     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		leaders: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_broker_led_partitions",
			Help: "Partitions this node currently leads.",
		}),
		appendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_appended_bytes_total",
			Help: "RecordBatch bytes appended to hot logs by produce requests.",
		}),
		appendedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_appended_records_total",
			Help: "Records appended to hot logs by produce requests.",
		}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_fetched_bytes_total",
			Help: "RecordBatch bytes read from hot logs for fetch requests.",
		}),
		tieredBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_fetched_tiered_bytes_total",
			Help: "RecordBatch bytes read from object storage for fetch requests (below the hot log).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_duplicate_batches_total",
			Help: "Idempotent producer retries answered with the original offsets.",
		}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_broker_produce_errors_total",
			Help: "Rejected produce batches, by reason.",
		}, []string{"reason"}),
		discardedLogs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_fenced_logs_discarded_total",
			Help: "Local partition logs discarded because another node led the partition at a newer epoch.",
		}),
		logFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_log_failures_total",
			Help: "Led partitions given up because their hot log failed (a write or fsync error); each is retaken on the log recovered from disk.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.leaders, m.appendedBytes, m.appendedRecords, m.fetchedBytes, m.tieredBytes,
		m.duplicates, m.produceErrors, m.discardedLogs, m.logFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
		}
	}
	return m, nil
}
