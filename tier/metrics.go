package tier

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/promshare"
)

// uploadMetrics are the Uploader's instruments. Several Uploaders on one registry share them.
type uploadMetrics struct {
	backlogSegments prometheus.Gauge
	backlogBytes    prometheus.Gauge
	uploads         prometheus.Counter
	uploadedBytes   prometheus.Counter
	uploadSeconds   prometheus.Histogram
	errors          *prometheus.CounterVec // by op: put, register, catalog, retention, delete
	fenced          prometheus.Counter
	localDeleted    prometheus.Counter
	retentionDrops  prometheus.Counter
	objectsDeleted  prometheus.Counter
	deletesPending  prometheus.Gauge
	catalogBytes    prometheus.Gauge
	// Shared objects (object durability): one per flush, each holding several partitions' ranges.
	sharedObjects prometheus.Counter
	sharedRanges  prometheus.Histogram
	sharedBytes   prometheus.Histogram
}

func newUploadMetrics(reg prometheus.Registerer) *uploadMetrics {
	m := &uploadMetrics{
		backlogSegments: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_upload_backlog_segments",
			Help: "Sealed hot-log segments waiting to be uploaded and registered.",
		}),
		backlogBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_upload_backlog_bytes",
			Help: "Bytes of sealed hot-log segments waiting to be uploaded and registered.",
		}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_uploads_total",
			Help: "Segments uploaded and registered in the catalog.",
		}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_uploaded_bytes_total",
			Help: "Bytes of segments uploaded and registered.",
		}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tier_upload_duration_seconds",
			Help:    "Time from the start of a segment's upload to its registration, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_tier_errors_total",
			Help: "Failed tiering steps by operation (put, register, catalog, retention, delete).",
		}, []string{"op"}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_fenced_total",
			Help: "Partitions that stopped tiering because a newer leader epoch fenced them.",
		}),
		localDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_local_segments_deleted_total",
			Help: "Hot-log segments deleted by local retention.",
		}),
		retentionDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_retention_segments_dropped_total",
			Help: "Tiered segments that left the catalog by retention.",
		}),
		objectsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_objects_deleted_total",
			Help: "Segment objects deleted from the bucket after their grace period.",
		}),
		deletesPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_delete_pending_objects",
			Help: "Objects out of the catalog waiting for their grace period to end.",
		}),
		catalogBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_catalog_bytes",
			Help: "Bytes of segment objects registered in the catalog for the partitions this node tiers, as last read.",
		}),
		sharedObjects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_shared_objects_total",
			Help: "Objects written by object-durability flushes, each holding the pending data of every partition flushed (one per flush).",
		}),
		sharedRanges: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tier_shared_object_ranges",
			Help:    "Partition ranges per object written by an object-durability flush.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		sharedBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tier_shared_object_bytes",
			Help:    "Size (fill) of each object written by an object-durability flush.",
			Buckets: prometheus.ExponentialBuckets(1<<10, 2, 15),
		}),
	}
	if reg != nil {
		m.backlogSegments = promshare.Keep(reg, m.backlogSegments)
		m.backlogBytes = promshare.Keep(reg, m.backlogBytes)
		m.uploads = promshare.Keep(reg, m.uploads)
		m.uploadedBytes = promshare.Keep(reg, m.uploadedBytes)
		m.uploadSeconds = promshare.Keep(reg, m.uploadSeconds)
		m.errors = promshare.Keep(reg, m.errors)
		m.fenced = promshare.Keep(reg, m.fenced)
		m.localDeleted = promshare.Keep(reg, m.localDeleted)
		m.retentionDrops = promshare.Keep(reg, m.retentionDrops)
		m.objectsDeleted = promshare.Keep(reg, m.objectsDeleted)
		m.deletesPending = promshare.Keep(reg, m.deletesPending)
		m.catalogBytes = promshare.Keep(reg, m.catalogBytes)
		m.sharedObjects = promshare.Keep(reg, m.sharedObjects)
		m.sharedRanges = promshare.Keep(reg, m.sharedRanges)
		m.sharedBytes = promshare.Keep(reg, m.sharedBytes)
	}
	return m
}

// readMetrics are the Reader's instruments.
type readMetrics struct {
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	cacheBytes     prometheus.Gauge
	cacheEvictions prometheus.Counter
	readAhead      prometheus.Counter
	readBytes      prometheus.Counter
	getSeconds     prometheus.Histogram
	getBytes       prometheus.Counter
	corrupt        prometheus.Counter
	parquetBytes   prometheus.Counter
}

func newReadMetrics(reg prometheus.Registerer) *readMetrics {
	m := &readMetrics{
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_cache_hits_total",
			Help: "Block cache lookups served from memory (read-ahead that already landed included).",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_cache_misses_total",
			Help: "Block cache lookups that had to wait for a ranged GET.",
		}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_cache_bytes",
			Help: "Bytes held by the block cache.",
		}),
		cacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_cache_evictions_total",
			Help: "Blocks evicted from the block cache to stay under its size.",
		}),
		readAhead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_readahead_blocks_total",
			Help: "Blocks fetched ahead of sequential readers.",
		}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_read_bytes_total",
			Help: "Bytes of record batches returned from object storage reads.",
		}),
		getSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_tier_get_duration_seconds",
			Help:    "Latency of the block cache's ranged GETs.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		getBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_get_bytes_total",
			Help: "Bytes fetched from object storage by the block cache.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_corrupt_objects_total",
			Help: "Reads that found a corrupt object (bad footer, index or batch CRC).",
		}),
		parquetBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_tier_parquet_read_bytes_total",
			Help: "Bytes of record batches rebuilt from Parquet objects (a subset of strata_tier_read_bytes_total).",
		}),
	}
	if reg != nil {
		m.cacheHits = promshare.Keep(reg, m.cacheHits)
		m.cacheMisses = promshare.Keep(reg, m.cacheMisses)
		m.cacheBytes = promshare.Keep(reg, m.cacheBytes)
		m.cacheEvictions = promshare.Keep(reg, m.cacheEvictions)
		m.readAhead = promshare.Keep(reg, m.readAhead)
		m.readBytes = promshare.Keep(reg, m.readBytes)
		m.getSeconds = promshare.Keep(reg, m.getSeconds)
		m.getBytes = promshare.Keep(reg, m.getBytes)
		m.corrupt = promshare.Keep(reg, m.corrupt)
		m.parquetBytes = promshare.Keep(reg, m.parquetBytes)
	}
	return m
}
