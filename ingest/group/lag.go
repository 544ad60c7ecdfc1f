package group

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
)

var lagDesc = prometheus.NewDesc(
	"strata_group_consumer_lag_records",
	"Records between a consumer group's committed offset and the partition's high watermark, exported by the partition's leader.",
	[]string{"group", "topic", "partition"}, nil)

// LagCollector exports consumer lag at scrape time. Each node reports the partitions it leads, for
// every group with committed offsets, so every (group, partition) series comes from exactly one node.
type LagCollector struct {
	store   metadata.Offsets
	end     func(ctx context.Context, tp metadata.TopicPartition) (int64, bool)
	timeout time.Duration
	log     *slog.Logger
}

var _ prometheus.Collector = (*LagCollector)(nil)

// NewLagCollector reads committed offsets from store and high watermarks from end, which reports
// false for partitions this node does not lead. A scrape spends at most timeout on the store.
func NewLagCollector(store metadata.Offsets, end func(ctx context.Context, tp metadata.TopicPartition) (int64, bool), timeout time.Duration, log *slog.Logger) *LagCollector {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &LagCollector{store: store, end: end, timeout: timeout, log: log}
}

// Describe implements prometheus.Collector.
func (l *LagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

// Collect implements prometheus.Collector.
func (l *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	groups, err := l.store.ListGroups(ctx)
	if err != nil {
		l.log.Warn("group: lag: list groups", "err", err)
		return
	}
	for _, g := range groups {
		offsets, err := l.store.FetchOffsets(ctx, g)
		if err != nil {
			l.log.Warn("group: lag: fetch offsets", "group", g, "err", err)
			continue
		}
		for tp, oc := range offsets {
			end, ok := l.end(ctx, tp)
			if !ok || oc.Offset < 0 {
				continue
			}
			lag := max(end-oc.Offset, 0)
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag),
				g, tp.Topic, strconv.Itoa(int(tp.Partition)))
		}
	}
}
