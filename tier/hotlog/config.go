package hotlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/promshare"
)

// Defaults for zero Config fields.
const (
	DefaultSegmentBytes       = 128 << 20
	DefaultSegmentAge         = 7 * 24 * time.Hour
	DefaultIndexIntervalBytes = 4096
)

// ErrConfig marks an invalid Config.
var ErrConfig = errors.New("hotlog: invalid config")

// Config tunes a Dir and its Logs. Zero fields take the defaults; LogConfig's zero fields take the
// Dir's values.
type Config struct {
	SegmentBytes       int64         // roll when the active segment would pass this size (default 128 MiB)
	SegmentAge         time.Duration // roll when the active segment is older than this (default 7 days)
	IndexIntervalBytes int           // bytes of batches between sparse index entries (default 4096)
	Logger             *slog.Logger  // default slog.Default()
	Metrics            *Metrics      // optional

	// LazySeal, for a partition whose data is made durable elsewhere before it is acknowledged
	// (strata.durability=object: the registration in object storage), seals rolled segments
	// without fsyncing them or the directory: a roll for a flush then costs no disk round trip.
	// Such segments are fsynced when LazySeal is turned off (before the owner acknowledges by
	// this log's fsync again) and on Close. After a power cut one may be found torn: it is set
	// aside like any damaged segment, and what it held is in object storage or was never
	// acknowledged.
	LazySeal bool

	// Sync, when set, replaces f.Sync() for every fsync of a segment file (group commits, seals,
	// truncations, the fsync on Close). It exists for fault injection in tests — fail the next
	// fsync of one partition's log, say — and must otherwise call f.Sync(). It is fixed when a Log
	// opens; LogConfig does not change it for a Log already open.
	Sync func(f *os.File) error

	// openFile opens segment files; tests replace it to inject faults.
	openFile func(path string, flag int, perm os.FileMode) (file, error)
}

// file is what a Log needs from a segment file.
type file interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

func osOpenFile(path string, flag int, perm os.FileMode) (file, error) {
	return os.OpenFile(path, flag, perm)
}

// hookedFile routes Sync through Config.Sync.
type hookedFile struct {
	*os.File
	sync func(*os.File) error
}

func (f hookedFile) Sync() error { return f.sync(f.File) }

// openSegFile opens a segment file with the configured opener, routing its fsyncs through Config.Sync
// when one is set.
func (c Config) openSegFile(path string, flag int, perm os.FileMode) (file, error) {
	f, err := c.openFile(path, flag, perm)
	if err != nil || c.Sync == nil {
		return f, err
	}
	if osf, ok := f.(*os.File); ok {
		return hookedFile{File: osf, sync: c.Sync}, nil
	}
	return f, nil
}

// Validate reports negative sizes and durations.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 0:
		return fmt.Errorf("%w: SegmentBytes %d is negative", ErrConfig, c.SegmentBytes)
	case c.SegmentAge < 0:
		return fmt.Errorf("%w: SegmentAge %v is negative", ErrConfig, c.SegmentAge)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: IndexIntervalBytes %d is negative", ErrConfig, c.IndexIntervalBytes)
	}
	return nil
}

// inherit fills c's zero fields from base.
func (c Config) inherit(base Config) Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = base.SegmentBytes
	}
	if c.SegmentAge == 0 {
		c.SegmentAge = base.SegmentAge
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = base.IndexIntervalBytes
	}
	if c.Logger == nil {
		c.Logger = base.Logger
	}
	if c.Metrics == nil {
		c.Metrics = base.Metrics
	}
	if c.openFile == nil {
		c.openFile = base.openFile
	}
	if c.Sync == nil {
		c.Sync = base.Sync
	}
	return c
}

func (c Config) withDefaults() Config {
	return c.inherit(Config{
		SegmentBytes:       DefaultSegmentBytes,
		SegmentAge:         DefaultSegmentAge,
		IndexIntervalBytes: DefaultIndexIntervalBytes,
		Logger:             slog.Default(),
		openFile:           osOpenFile,
	})
}

// Metrics are the hot log's Prometheus instruments, shared by every Log of a Dir.
type Metrics struct {
	FsyncSeconds   prometheus.Histogram
	AppendedBytes  prometheus.Counter
	Appends        prometheus.Counter
	SegmentsRolled prometheus.Counter
	// Live is strata_hotlog_bytes: the open Logs, whose bytes on disk it sums when scraped.
	Live *LiveLogs
}

// LiveLogs is a gauge collector over the open Logs: strata_hotlog_bytes, their bytes on disk
// (segments with their indexes). Every Metrics registered on one registry shares one.
type LiveLogs struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	logs map[*Log]struct{}
}

func newLiveLogs() *LiveLogs {
	return &LiveLogs{
		desc: prometheus.NewDesc("strata_hotlog_bytes", "Bytes on disk of the open hot logs (segments with their indexes) on this node.", nil, nil),
		logs: make(map[*Log]struct{}),
	}
}

// Describe implements prometheus.Collector.
func (c *LiveLogs) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *LiveLogs) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.Bytes()))
}

// Bytes is the sum of the open Logs' bytes on disk.
func (c *LiveLogs) Bytes() int64 {
	c.mu.Lock()
	logs := make([]*Log, 0, len(c.logs))
	for l := range c.logs {
		logs = append(logs, l)
	}
	c.mu.Unlock()
	var n int64
	for _, l := range logs {
		n += l.diskBytes()
	}
	return n
}

func (m *Metrics) opened(l *Log) {
	if m != nil && m.Live != nil {
		m.Live.mu.Lock()
		m.Live.logs[l] = struct{}{}
		m.Live.mu.Unlock()
	}
}

func (m *Metrics) closed(l *Log) {
	if m != nil && m.Live != nil {
		m.Live.mu.Lock()
		delete(m.Live.logs, l)
		m.Live.mu.Unlock()
	}
}

// NewMetrics creates the instruments and registers them with reg (nil: not registered). A collector
// already registered under the same name is reused.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		FsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "strata_hotlog_fsync_duration_seconds",
			Help:    "Latency of hot-log fsyncs (group commits and segment seals).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		AppendedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_hotlog_appended_bytes_total",
			Help: "Bytes of record batches appended to hot logs.",
		}),
		Appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_hotlog_appended_batches_total",
			Help: "Record batches appended to hot logs.",
		}),
		SegmentsRolled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_hotlog_segments_rolled_total",
			Help: "Hot-log segments sealed.",
		}),
		Live: newLiveLogs(),
	}
	if reg != nil {
		promshare.Keep(reg, prometheus.Collector(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "strata_hotlog_span_files",
			Help: "File descriptors held by hot-log record sets being sent straight from their segment files (sendfile); at most a quarter of the descriptor limit.",
		}, func() float64 { return float64(SpanFiles()) })))
		m.FsyncSeconds = promshare.Keep(reg, m.FsyncSeconds)
		m.AppendedBytes = promshare.Keep(reg, m.AppendedBytes)
		m.Appends = promshare.Keep(reg, m.Appends)
		m.SegmentsRolled = promshare.Keep(reg, m.SegmentsRolled)
		m.Live = promshare.Keep(reg, m.Live)
	}
	return m
}

func (m *Metrics) observeFsync(d time.Duration) {
	if m != nil {
		m.FsyncSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) appended(n int) {
	if m != nil {
		m.AppendedBytes.Add(float64(n))
		m.Appends.Inc()
	}
}

func (m *Metrics) rolled() {
	if m != nil {
		m.SegmentsRolled.Inc()
	}
}
