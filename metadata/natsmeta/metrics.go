package natsmeta

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	ops            *prometheus.HistogramVec // by method and result
	retries        *prometheus.CounterVec   // calls retried after a timeout or failover, by call
	casConflicts   *prometheus.CounterVec   // lost compare-and-swaps, by bucket
	batchSize      *prometheus.HistogramVec // writes per atomic batch, by bucket
	batchFallbacks *prometheus.CounterVec   // batches refused whose writes went alone, by bucket
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ops: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_metadata_op_duration_seconds",
			Help:    "Duration of metadata store methods.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metadata_call_retries_total",
			Help: "JetStream calls sent again after a timeout or during a failover.",
		}, []string{"call"}),
		casConflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metadata_cas_conflicts_total",
			Help: "Compare-and-swap writes that lost a race and were retried on fresh state.",
		}, []string{"bucket"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_metadata_batch_writes",
			Help:    "Compare-and-swap writes committed together in one atomic batch (one fsync), by bucket.",
			Buckets: prometheus.ExponentialBuckets(2, 2, 8),
		}, []string{"bucket"}),
		batchFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_metadata_batch_fallbacks_total",
			Help: "Atomic batches the server refused (one stale revision refuses all); their writes were sent one by one.",
		}, []string{"bucket"}),
	}
	if reg != nil {
		reg.MustRegister(m.ops, m.retries, m.casConflicts, m.batchSize, m.batchFallbacks)
	}
	return m
}
