package compaction

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/promshare"
)

// metrics are the Worker's instruments. Several Workers on one registry share them.
type metrics struct {
	merges       prometheus.Counter
	inputs       prometheus.Counter
	writtenBytes prometheus.Counter
	errors       *prometheus.CounterVec // by op: leases, catalog, get, corrupt, put, replace, delete, sweep
	aborted      *prometheus.CounterVec // by reason: fenced, conflict, lease
	seconds      prometheus.Histogram
	sweepDeleted *prometheus.CounterVec // by reason: superseded, fenced, topic_deleted, unreferenced
	sweepBytes   prometheus.Counter

	// Key compaction (keycompact.go). The per-partition gauges exist for the compacted partitions
	// this node leads, and go when it stops leading them.
	keyDirtyRatio *prometheus.GaugeVec   // by topic, partition
	keyLag        *prometheus.GaugeVec   // by topic, partition
	keyCleanings  *prometheus.CounterVec // by reason: dirty_ratio, max_lag, tombstones
	keyRecords    prometheus.Counter
	keyBytes      prometheus.Counter
	keyTombstones prometheus.Counter

	converted      prometheus.Counter // segments converted to Parquet (convert.go)
	convertSeconds prometheus.Counter // time spent encoding them (ConvertSegment)
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
			Help: "Failed compaction steps by operation (leases, catalog, get, corrupt, put, replace, delete, sweep).",
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
		sweepDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compaction_sweep_deleted_total",
			Help: "Orphaned objects deleted by the sweeper, by reason (superseded, fenced, topic_deleted, unreferenced).",
		}, []string{"reason"}),
		sweepBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_sweep_bytes_total",
			Help: "Bytes of orphaned objects deleted by the sweeper.",
		}),
		keyDirtyRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_compaction_key_dirty_ratio",
			Help: "Share of a compacted partition's cleanable tiered bytes not cleaned yet (min.cleanable.dirty.ratio is compared with it).",
		}, []string{"topic", "partition"}),
		keyLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_compaction_key_lag_seconds",
			Help: "Age of the oldest record of a compacted partition not cleaned yet (0 when all is clean).",
		}, []string{"topic", "partition"}),
		keyCleanings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_compaction_key_cleanings_total",
			Help: "Key compaction passes over a partition that completed, by reason (dirty_ratio, max_lag, tombstones).",
		}, []string{"reason"}),
		keyRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_key_removed_records_total",
			Help: "Records removed by key compaction (superseded, expired tombstones, without a key).",
		}),
		keyBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_key_removed_bytes_total",
			Help: "Bytes by which key compaction shrank the objects it rewrote.",
		}),
		keyTombstones: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_key_removed_tombstones_total",
			Help: "Tombstones removed by key compaction once delete.retention.ms had passed (a subset of the removed records).",
		}),
		converted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_converted_segments_total",
			Help: "Segments of strata.cold.format=parquet topics replaced by Parquet objects.",
		}),
		convertSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_compaction_convert_seconds_total",
			Help: "Time spent encoding segments as Parquet objects (reading them from and writing them to object storage excluded).",
		}),
	}
	if reg != nil {
		m.converted = promshare.Keep(reg, m.converted)
		m.convertSeconds = promshare.Keep(reg, m.convertSeconds)
		m.keyDirtyRatio = promshare.Keep(reg, m.keyDirtyRatio)
		m.keyLag = promshare.Keep(reg, m.keyLag)
		m.keyCleanings = promshare.Keep(reg, m.keyCleanings)
		m.keyRecords = promshare.Keep(reg, m.keyRecords)
		m.keyBytes = promshare.Keep(reg, m.keyBytes)
		m.keyTombstones = promshare.Keep(reg, m.keyTombstones)
		m.merges = promshare.Keep(reg, m.merges)
		m.inputs = promshare.Keep(reg, m.inputs)
		m.writtenBytes = promshare.Keep(reg, m.writtenBytes)
		m.errors = promshare.Keep(reg, m.errors)
		m.aborted = promshare.Keep(reg, m.aborted)
		m.seconds = promshare.Keep(reg, m.seconds)
		m.sweepDeleted = promshare.Keep(reg, m.sweepDeleted)
		m.sweepBytes = promshare.Keep(reg, m.sweepBytes)
	}
	return m
}
