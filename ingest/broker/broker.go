// Package broker is Strata's Go-level broker: partition leadership through metadata leases, the
// produce path (validation, idempotent producers, durability waits), the fetch path, offset
// lookups, DeleteRecords, topic administration and topic configs. The Kafka listener
// (ingest/kafka) translates wire requests into calls on a *Broker; nothing here knows the wire
// format except the RecordBatch bytes it stores.
//
// # Leadership
//
// A node serves a partition only while it holds the partition's lease in the metadata store. A
// reconcile loop (one goroutine, owned by Start/Close) runs every RenewInterval and on demand:
//
//	refresh own node registration
//	for each partition of each topic:
//	    held by me        → renew; ErrFenced → step down (close the log, answer NOT_LEADER)
//	    no live lease     → acquire if the rendezvous hash over live nodes picks me
//	    held by another   → leave it alone
//	partitions of deleted topics → step down and remove the local log
//
// A leader also stops serving on its own when its lease deadline (start of the last successful
// acquire/renew + LeaseTTL, on the local clock) passes without a renewal.
//
// On gaining a partition the broker opens the hot log `<topic-id>-<partition>`, resets it to the
// catalog's tiered end when the local log is behind the tiered data, and rebuilds the idempotent
// producer state from the tail of the log. Leadership is sticky: a node that rejoins does not take
// back partitions another node holds; only free or lapsed leases move.
//
// # Visibility and durability
//
// The high watermark is the hot log's end: a batch is visible to consumers as soon as it is
// appended (one copy, nothing to replicate), as with a single-replica Kafka topic. Durability is
// what acks=all waits for: the group-commit fsync (strata.durability=local), and with a Tiering
// attached and strata.durability=object also the segment's registration in the catalog. With a
// TieredReader attached, fetches below the hot log's start are read from object storage. Only the
// leader serves fetches (it alone knows the high watermark).
//
// # Errors
//
// Methods return Kafka errors as *kerr.Error values (possibly wrapped) for conditions the client
// must see (NOT_LEADER_OR_FOLLOWER, CORRUPT_MESSAGE, ...); anything else is an internal failure
// the listener reports as UNKNOWN_SERVER_ERROR. Use Code to map an error to a Kafka error code.
//
// # Concurrency
//
// A Broker is safe for concurrent use. Appends to one partition are serialized by the partition's
// lock; durability waits happen outside it, so many appends share one fsync.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("broker: invalid config")

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("broker: closed")

// Defaults are the broker-level defaults that topics inherit unless they set their own config.
type Defaults struct {
	// NumPartitions for auto-created topics and CreateTopics with -1 partitions (default 1).
	NumPartitions int32
	// AutoCreateTopicsDisabled turns off auto.create.topics.enable (on by default, as in Kafka).
	AutoCreateTopicsDisabled bool
	// SegmentBytes is the default segment.bytes (default 128 MiB).
	SegmentBytes int64
	// SegmentMs is the default segment.ms (default 7 days).
	SegmentMs int64
	// RetentionMs is the default retention.ms (default 7 days; -1 keeps forever).
	RetentionMs int64
	// RetentionBytes is the default retention.bytes (default -1: no size limit).
	RetentionBytes int64
	// MaxMessageBytes is the default max.message.bytes (default 1048588, Kafka's).
	MaxMessageBytes int32
}

func (d *Defaults) apply() {
	if d.NumPartitions == 0 {
		d.NumPartitions = 1
	}
	if d.SegmentBytes == 0 {
		d.SegmentBytes = 128 << 20
	}
	if d.SegmentMs == 0 {
		d.SegmentMs = 7 * 24 * 3600 * 1000
	}
	if d.RetentionMs == 0 {
		d.RetentionMs = 7 * 24 * 3600 * 1000
	}
	if d.RetentionBytes == 0 {
		d.RetentionBytes = -1
	}
	if d.MaxMessageBytes == 0 {
		d.MaxMessageBytes = 1048588
	}
}

// Config configures a Broker.
type Config struct {
	NodeID int32
	// KafkaAddr and HTTPAddr are advertised in the node registry.
	KafkaAddr string
	HTTPAddr  string
	Rack      string
	// HotLog is the node's hot-log directory. Required.
	HotLog *hotlog.Dir
	// HotLogConfig is the base per-partition log config; segment settings come from topic configs.
	HotLogConfig hotlog.Config
	// Tiering uploads the led partitions' sealed segments (a *tier.Uploader; optional: nil tiers
	// nothing). Wire its OnFenced to Broker.Fenced.
	Tiering Tiering
	// TieredReader serves fetches below the hot log's start from object storage (a *tier.Reader;
	// optional).
	TieredReader TieredReader
	// Store is the metadata service. Required.
	Store    metadata.Store
	Defaults Defaults
	// LeaseTTL is the partition lease and node registration lifetime (default 6s).
	LeaseTTL time.Duration
	// RenewInterval is how often leases are renewed and free partitions acquired (default 2s).
	RenewInterval time.Duration
	// ProducerStateScanBytes bounds how much of a log's tail is scanned to rebuild idempotent
	// producer state on open (default 64 MiB).
	ProducerStateScanBytes int64
	// ProducerIDExpiration forgets idempotent producers silent this long (default 24h, Kafka's
	// producer.id.expiration.ms).
	ProducerIDExpiration time.Duration
	Logger               *slog.Logger
	Registerer           prometheus.Registerer
}

func (c *Config) applyDefaults() {
	c.Defaults.apply()
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 6 * time.Second
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = 2 * time.Second
	}
	if c.ProducerIDExpiration == 0 {
		c.ProducerIDExpiration = 24 * time.Hour
	}
	if c.ProducerStateScanBytes == 0 {
		c.ProducerStateScanBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.HotLog == nil:
		return fmt.Errorf("%w: HotLog is required", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.NodeID < 0:
		return fmt.Errorf("%w: NodeID %d < 0", ErrConfig, c.NodeID)
	case c.LeaseTTL <= 0 || c.RenewInterval <= 0:
		return fmt.Errorf("%w: LeaseTTL and RenewInterval must be positive", ErrConfig)
	case c.RenewInterval*2 > c.LeaseTTL:
		return fmt.Errorf("%w: RenewInterval %v must be at most half of LeaseTTL %v", ErrConfig, c.RenewInterval, c.LeaseTTL)
	case c.Defaults.NumPartitions < 1:
		return fmt.Errorf("%w: Defaults.NumPartitions %d < 1", ErrConfig, c.Defaults.NumPartitions)
	case c.Defaults.MaxMessageBytes < 0:
		return fmt.Errorf("%w: Defaults.MaxMessageBytes %d < 0", ErrConfig, c.Defaults.MaxMessageBytes)
	}
	return nil
}

// Broker serves partitions this node leads. See the package doc.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	store metadata.Store
	dir   *hotlog.Dir
	m     *metrics

	mu      sync.RWMutex
	parts   map[metadata.TopicPartition]*partition // partitions this node leads
	nodes   []metadata.Node                        // live nodes as last seen by reconcile
	closed  bool
	started time.Time

	reconcileMu sync.Mutex // one reconcile at a time
	kick        chan struct{}
	stop        context.CancelFunc
	done        chan struct{}
	startOnce   sync.Once
	closeOnce   sync.Once
}

// New validates cfg and returns a Broker that leads nothing until Start.
func New(cfg Config) (*Broker, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Broker{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   cfg.Store,
		dir:     cfg.HotLog,
		m:       m,
		parts:   map[metadata.TopicPartition]*partition{},
		kick:    make(chan struct{}, 1),
		started: time.Now(),
	}, nil
}

// NodeID is this broker's node id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// Start registers the node, takes the partitions it should lead and starts the reconcile loop.
// The first reconcile runs before Start returns so a single node serves at once.
func (b *Broker) Start(ctx context.Context) error {
	err := ErrClosed
	b.startOnce.Do(func() {
		b.mu.RLock()
		closed := b.closed
		b.mu.RUnlock()
		if closed {
			return
		}
		if err = b.register(ctx); err != nil {
			return
		}
		if err = b.reconcile(ctx); err != nil {
			b.log.Warn("broker: first reconcile failed; retrying in the background", "err", err)
			err = nil
		}
		loopCtx, cancel := context.WithCancel(context.Background())
		b.stop = cancel
		b.done = make(chan struct{})
		go b.loop(loopCtx)
	})
	return err
}

// Close stops the reconcile loop, releases leases, closes partition logs and deregisters the node.
// It does not close the hot-log Dir or the Store, which the caller owns. Idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		if b.stop != nil {
			b.stop()
			<-b.done
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.mu.Lock()
		parts := b.parts
		b.parts = map[metadata.TopicPartition]*partition{}
		b.mu.Unlock()
		for _, p := range parts {
			b.untrack(p.tp)
			p.stepDown()
			if err := b.store.ReleaseLease(ctx, p.currentLease()); err != nil && !errors.Is(err, metadata.ErrFenced) &&
				!errors.Is(err, metadata.ErrNotFound) {
				b.log.Warn("broker: release lease", "partition", p.tp, "err", err)
			}
			b.m.leaders.Dec()
		}
		if err := b.store.DeregisterNode(ctx, b.cfg.NodeID); err != nil && !errors.Is(err, metadata.ErrNotFound) {
			b.log.Warn("broker: deregister node", "err", err)
		}
	})
	return nil
}

// Code maps an error from a Broker method to a Kafka error code: the kerr code it wraps, 0 for
// nil, UNKNOWN_SERVER_ERROR otherwise.
func Code(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// kafkaErr wraps a kerr value with detail while keeping it matchable with errors.Is and Code.
func kafkaErr(ke *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("broker: %s: %w", fmt.Sprintf(format, args...), ke)
}

// Trigger asks the reconcile loop to run soon (after a topic was created elsewhere, say).
func (b *Broker) Trigger() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *Broker) loop(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(b.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.register(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("broker: refresh node registration", "err", err)
			}
		case <-b.kick:
		}
		if err := b.reconcile(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("broker: reconcile", "err", err)
		}
	}
}

// register adds or refreshes this node in the live-node registry.
func (b *Broker) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RenewInterval)
	defer cancel()
	b.mu.RLock()
	n := metadata.Node{ID: b.cfg.NodeID, KafkaAddr: b.cfg.KafkaAddr, HTTPAddr: b.cfg.HTTPAddr,
		Rack: b.cfg.Rack, StartedAt: b.started}
	b.mu.RUnlock()
	if err := b.store.RegisterNode(ctx, n, b.cfg.LeaseTTL); err != nil {
		return fmt.Errorf("broker: register node %d: %w", b.cfg.NodeID, err)
	}
	return nil
}

// SetKafkaAddr sets the advertised Kafka address (known only once the listener is bound) and
// refreshes the registration.
func (b *Broker) SetKafkaAddr(ctx context.Context, addr string) error {
	b.mu.Lock()
	b.cfg.KafkaAddr = addr
	b.mu.Unlock()
	return b.register(ctx)
}
