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
	// leadershipChanges counts partitions gained and lost, by reason: taken, handed_off (moved to
	// a node the placement prefers), released (shutdown), lost (another node took it), fenced (the
	// catalog refused this node's epoch), lapsed (this node's registration lapsed), failed_log.
	leadershipChanges *prometheus.CounterVec
	handoffFailures   prometheus.Counter
	heartbeatFailures prometheus.Counter
	diskFree          prometheus.Gauge
	diskFullGauge     prometheus.Gauge
	diskFullEpisodes  prometheus.Counter
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
		leadershipChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_broker_leadership_changes_total",
			Help: "Partitions this node began or stopped leading, by reason (taken, handed_off, released, lost, fenced, lapsed, failed_log).",
		}, []string{"reason"}),
		handoffFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_handoff_failures_total",
			Help: "Partition handoffs to another node abandoned (the hot tail could not be tiered in time); the partition stays here and is tried again.",
		}),
		heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_heartbeat_failures_total",
			Help: "Node registration refreshes that failed; a run of them longer than the lease TTL steps the node down from every partition.",
		}),
		diskFree: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_broker_disk_free_bytes",
			Help: "Free bytes on the file system of the data dir, as last read (every second).",
		}),
		diskFullGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_broker_disk_full",
			Help: "1 while the data dir is full (free space below --disk-reserve, or a write failed with ENOSPC): produce requests get KAFKA_STORAGE_ERROR.",
		}),
		diskFullEpisodes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_broker_disk_full_total",
			Help: "Times the data dir became full.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.leaders, m.appendedBytes, m.appendedRecords, m.fetchedBytes, m.tieredBytes,
		m.duplicates, m.produceErrors, m.discardedLogs, m.logFailures, m.leadershipChanges, m.handoffFailures,
		m.heartbeatFailures, m.diskFree, m.diskFullGauge, m.diskFullEpisodes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
		}
	}
	return m, nil
}
