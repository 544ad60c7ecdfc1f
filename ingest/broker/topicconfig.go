package broker

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// Topic configs reach the partitions this node leads here: ingest/topics administers and
// validates them; the broker reads the ones the data path acts on.

var _ topics.Node = (*Broker)(nil)

// Reconcile runs the leadership reconcile now (see the package doc): partitions of new topics this
// node should lead are taken, those of deleted topics dropped, before it returns. The topic admin
// calls it after a change so that an answered CreateTopics is served at once.
func (b *Broker) Reconcile(ctx context.Context) error { return b.reconcile(ctx) }

// ApplyTopic pushes t's configs to the partitions of t this node leads.
func (b *Broker) ApplyTopic(t metadata.Topic) {
	b.mu.RLock()
	var led []*partition
	for tp, p := range b.parts {
		if tp.Topic == t.Name && p.topicID == t.ID {
			led = append(led, p)
		}
	}
	b.mu.RUnlock()
	for _, p := range led {
		b.applyTopic(p, t)
	}
}

// hotLogConfig is the per-partition log config derived from the topic's segment settings.
func (b *Broker) hotLogConfig(t metadata.Topic) hotlog.Config {
	c := b.cfg.HotLogConfig
	if c.Logger == nil {
		c.Logger = b.log
	}
	// Object durability acknowledges once the data is registered in object storage, so the rolls
	// that put it there need not wait for the disk (hotlog.Config.LazySeal).
	c.LazySeal = b.cfg.Tiering != nil && topics.String(t, "strata.durability", "local") == "object"
	c.SegmentBytes = topics.Int(t, "segment.bytes", b.cfg.Defaults.SegmentBytes)
	c.SegmentAge = msDuration(topics.Int(t, "segment.ms", b.cfg.Defaults.SegmentMs))
	if v := topics.Int(t, "index.interval.bytes", 0); v > 0 {
		c.IndexIntervalBytes = int(v)
	}
	return c
}

// applyTopic pushes t's current configs to a led partition: hot-path settings and the hot log's
// segment settings.
func (b *Broker) applyTopic(p *partition, t metadata.Topic) {
	if p.stopped.Load() {
		return // on its way out (a failed log): opening the log here would reopen it
	}
	if last := p.applied.Load(); last != nil && maps.Equal(*last, t.Configs) {
		return // every reconcile passes every topic: with thousands of partitions, only changes count
	}
	p.applied.Store(&t.Configs)
	// The hot log first: leaving object durability, it syncs what it sealed lazily before any
	// produce is acknowledged by its fsync.
	if _, err := b.dir.LogConfig(p.name, b.hotLogConfig(t)); err != nil {
		b.log.Warn("broker: apply segment settings", "partition", p.tp, "err", err)
	}
	st := b.settings(t)
	p.cfg.Store(st)
	p.plog.SetObjectDurability(b.objectDurability(st))
	b.trackIfLive(p, t)
}

// msDuration converts a config in milliseconds, saturating instead of overflowing.
func msDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// settings are the hot-path values of t's configs.
func (b *Broker) settings(t metadata.Topic) *topicSettings {
	return &topicSettings{
		maxMessageBytes: int32(topics.Int(t, "max.message.bytes", int64(b.cfg.Defaults.MaxMessageBytes))),
		durability:      topics.String(t, "strata.durability", "local"),
		logAppendTime:   topics.String(t, "message.timestamp.type", "CreateTime") == "LogAppendTime",
		tsBeforeMax:     topics.Int(t, "message.timestamp.before.max.ms", math.MaxInt64),
		tsAfterMax:      topics.Int(t, "message.timestamp.after.max.ms", math.MaxInt64),
		compacted:       slices.Contains(strings.Split(strings.ReplaceAll(topics.String(t, "cleanup.policy", "delete"), " ", ""), ","), "compact"),
	}
}
