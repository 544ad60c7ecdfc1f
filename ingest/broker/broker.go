// Package broker is Strata's Go-level broker for the partitions a node leads: leadership through
// metadata leases, the produce path (validation, idempotent producers, durability waits), and the
// read path (Fetch, ListOffsets, DeleteRecords over each partition's tier.PartitionLog). The Kafka
// listener (ingest/kafka) and the HTTP ingest translate requests into calls on a *Broker; nothing
// here knows the wire format except the RecordBatch bytes it stores. Topic administration and
// configs are ingest/topics; the broker reads the configs its partitions act on and is told of
// changes (Reconcile, ApplyTopic).
//
// The files, by job:
//
//	leadership   leadership.go (reconcile, placement), liveness.go (the node registration),
//	             takeover.go (taking a partition, judging its local log by epoch), handoff.go
//	             (moving one to another node), epochs.go (epoch checkpoints), logfailure.go
//	produce      partition.go (Append, WaitDurable), producers.go (idempotent producer state),
//	             txn.go (transactional writes, markers, the last stable offset)
//	read         fetch.go (Fetch, ListOffset, Offsets, DeleteRecords), visibility.go (the high
//	             watermark by durability), tiering.go (the Uploader hooks), epochs_lookup.go
//	             (EndOffsetForEpoch: OffsetForLeaderEpoch)
//	cluster      cluster.go (leases, live nodes, group coordinators, producer ids)
//	topics       topicconfig.go (topic configs → partition settings; topics.Node)
//
// # Leadership
//
// Liveness is per node, ownership per partition (metadata.Leases): a partition's lease record names
// its leader and epoch and is live while that node's registration is, so one registration refresh
// keeps every partition a node leads, and idle partitions cost no metadata writes. Three
// goroutines, owned by Start/Close, keep leadership in line:
//
//	heartbeat every RenewInterval: refresh the node registration (liveness.go)
//	reconcile every ReconcileInterval, on demand (Trigger) and on every leadership change:
//	    led partitions of deleted topics  → step down and remove the local log
//	    led, but the store names another holder or epoch → step down (lost)
//	    led, but the placement prefers another node seen live for RebalanceDelay
//	                                      → hand off (handoff.go): tier the hot tail, release
//	    not led, record names this node   → take (a new term: new epoch)
//	    not led, free or holder gone      → take if the placement picks this node
//	    held by another live node         → leave it alone
//	    local logs of partitions another node leads → remove (fenced data)
//	watcher   the store's WatchLeadership (a node joined or left, a lease released, a topic
//	          changed) triggers a reconcile at once instead of at the next poll
//
// The placement is rendezvous hashing of the partition over live nodes: every node computes the
// same answer, partitions spread evenly, and a node joining or leaving moves only its share.
//
// A node stops serving every partition on its own when its alive deadline (start of the last
// refresh that completed in time + LeaseTTL, on the local clock) passes. The store deletes a
// registration LeaseTTL after the last refresh reached it, which is later, so the old leader has
// stopped before any other node can take over. A refresh that completes after the deadline may
// have followed a lapse, so the node then drops every partition and takes each again under a new
// epoch (another node may have taken some meanwhile: taking is a compare-and-swap, one wins).
//
// Failover time after a node dies is at most LeaseTTL (its registration ages out) plus the
// store's expiry timer and one reconcile. Defaults: LeaseTTL 1s (the store's TTL resolution is a
// whole second), RenewInterval 250ms, so a partition is served again about 1–2 s after its
// leader's death. The price: a node stalled for longer than LeaseTTL−RenewInterval (GC pause,
// metadata leader election) steps down from everything, and its partitions move or come back
// under new epochs.
//
// On gaining a partition the broker opens the hot log `<topic-id>-<partition>` and decides
// whether its local data is still the partition's truth, by leader epoch. Every leader writes
// its epoch into the batches it appends and, before serving, into a checkpoint file in
// Config.StateDir. The new lease has epoch E; the store hands out epochs one by one, so if the
// local epoch (checkpoint, else the newest batch's) is E-1 or E, no other node led in between
// and the local tail is kept (it is uploaded under E). Otherwise another node led meanwhile and
// started at the catalog's tiered end: the local log is fenced, unregistered data and is reset
// to the catalog's tiered end. The log is also reset when it is behind the tiered end (an empty
// data dir), so everything older is served from object storage. Idempotent producer state is
// rebuilt from the tail of the hot log and, when that is short, from the tail of the tiered
// data, so a producer retrying a batch that reached the catalog gets the original offsets back.
// A clean shutdown (Close) hands every partition over the same way as a rebalance does, so a
// rolling restart loses nothing that was acknowledged under strata.durability=local either.
//
// A leader whose hot log fails (a write or fsync error; the log then refuses all work) gives the
// partition up at once: waiters are answered KAFKA_STORAGE_ERROR or NOT_LEADER_OR_FOLLOWER, the
// log is closed and the lease released, and the partition is taken again like any free one, with
// the next epoch. Taken again here, the log is reopened from disk and cut back to the offset it
// had fsynced, since nothing past it was acknowledged and a failed fsync leaves the page cache
// untrustworthy (see logfailure.go). strata_broker_log_failures_total counts these.
//
// # Visibility and durability
//
// Durability is what acks=all waits for: the group-commit fsync (strata.durability=local), and
// with a Tiering attached and strata.durability=object also the segment's registration in the
// catalog. The high watermark is the same line, so a consumer never sees a record a crash could
// take back: the hot log's durable offset (local) or the tiered end (object). Long-poll fetches
// wake when it moves (Changed: the fsync, or the registration), never on a timer. Each led
// partition is read through its tier.PartitionLog (the hot log over the catalog's objects): with a
// TieredReader attached, fetches below the hot log's start are read from object storage, and
// DeleteRecords moves the log start through it as tier retention does. Only the leader serves
// fetches (it alone knows the high watermark).
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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
)

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("broker: invalid config")

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("broker: closed")

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
	// TieredReader serves fetches below the hot log's start from object storage (optional).
	TieredReader *tier.Reader
	// Store is the metadata service. Required.
	Store    metadata.Store
	Defaults topics.Defaults
	// LeaseTTL is the node registration's lifetime, and so every lease's (default 1s). It bounds
	// how long partitions of a dead node stay unserved, and how long a stall a leader survives.
	LeaseTTL time.Duration
	// RenewInterval is how often the node registration is refreshed (default 250ms; at most half
	// of LeaseTTL).
	RenewInterval time.Duration
	// ReconcileInterval is how often the full reconcile (topics, free partitions, stale logs) runs
	// without being triggered (default 10s): the store's leadership watch triggers it on every
	// change that matters (and a timer when a newcomer has settled in), so this is a safety net,
	// and with thousands of partitions each pass costs.
	ReconcileInterval time.Duration
	// Sticky turns rebalancing off: a led partition then moves only when its leader dies or shuts
	// down, never to a node that joins. Off by default.
	Sticky bool
	// RebalanceDelay is how long a node must have been seen live before partitions are handed
	// off to it (default 5s).
	RebalanceDelay time.Duration
	// HandoffTimeout bounds the tiering of a partition's hot tail when it is handed off, and the
	// whole handoff of every partition on Close (default 10s).
	HandoffTimeout time.Duration
	// StateDir holds per-partition leader-epoch checkpoints (see the package doc). Optional:
	// without it only the epochs written in the batches are known, and a node that took a lease
	// but wrote nothing under it discards its log the next time it takes the partition.
	StateDir string
	// DataDir is watched for free space (see disk.go): below DiskReserve bytes free, appends are
	// refused with KAFKA_STORAGE_ERROR and /readyz says so. Empty: not watched (a write's ENOSPC
	// still counts).
	DataDir     string
	DiskReserve int64
	// ProducerStateTieredScanBytes bounds how much tiered data is read to rebuild idempotent
	// producer state when the hot log holds little (default 4 MiB).
	ProducerStateTieredScanBytes int64
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
	c.Defaults.Apply()
	if c.LeaseTTL == 0 {
		c.LeaseTTL = time.Second
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = min(250*time.Millisecond, c.LeaseTTL/4)
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = max(10*time.Second, c.RenewInterval)
	}
	if c.RebalanceDelay == 0 {
		c.RebalanceDelay = 5 * time.Second
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = 10 * time.Second
	}
	if c.ProducerStateTieredScanBytes == 0 {
		c.ProducerStateTieredScanBytes = 4 << 20
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
	case c.LeaseTTL <= 0 || c.RenewInterval <= 0 || c.ReconcileInterval <= 0:
		return fmt.Errorf("%w: LeaseTTL, RenewInterval and ReconcileInterval must be positive", ErrConfig)
	case c.RebalanceDelay < 0 || c.HandoffTimeout <= 0:
		return fmt.Errorf("%w: RebalanceDelay must not be negative, HandoffTimeout must be positive", ErrConfig)
	case c.DiskReserve < 0:
		return fmt.Errorf("%w: DiskReserve %d < 0", ErrConfig, c.DiskReserve)
	case c.RenewInterval*2 > c.LeaseTTL:
		return fmt.Errorf("%w: RenewInterval %v must be at most half of LeaseTTL %v", ErrConfig, c.RenewInterval, c.LeaseTTL)
	}
	if err := c.Defaults.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
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

	failedLogs map[string]int64 // recovery points of failed hot logs by log name (see logfailure.go)
	disk       *diskGuard       // the data dir's free space (disk.go); nil when not watched

	// alive is the registration deadline (unix nanos, local clock): the start of the last refresh
	// that completed in time + LeaseTTL. Every led partition is served only until then.
	alive  atomic.Int64
	beatMu sync.Mutex // one heartbeat at a time
	// term counts registration lapses; a take that straddles one does not install its partition.
	term atomic.Uint64
	// seen is when reconcile first saw each live node (rebalancing waits for a newcomer to settle).
	seen map[int32]time.Time
	// wakeTimer, when set, triggers the reconcile that moves partitions to a newcomer once it has
	// settled (wakeAt); see triggerAfter.
	wakeTimer *time.Timer
	wakeAt    time.Time
	// released is when this node last released each partition it handed over (handoff.go).
	released map[metadata.TopicPartition]time.Time

	handoffSlots chan struct{}  // handoffs in flight (handoff.go)
	handoffs     sync.WaitGroup // handoff goroutines; Close waits

	reconcileMu sync.Mutex // one reconcile at a time
	kick        chan struct{}
	stop        context.CancelFunc
	done        chan struct{} // closed when the renewer, reconcile loop and watcher have exited
	quit        chan struct{} // closed by Close: stops the per-partition log watchers
	watchers    sync.WaitGroup
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
	b := &Broker{
		cfg:          cfg,
		log:          cfg.Logger,
		store:        cfg.Store,
		dir:          cfg.HotLog,
		m:            m,
		parts:        map[metadata.TopicPartition]*partition{},
		failedLogs:   map[string]int64{},
		kick:         make(chan struct{}, 1),
		quit:         make(chan struct{}),
		started:      time.Now(),
		seen:         map[int32]time.Time{},
		released:     map[metadata.TopicPartition]time.Time{},
		handoffSlots: make(chan struct{}, handoffParallelism),
	}
	if cfg.DataDir != "" {
		b.disk = &diskGuard{path: cfg.DataDir, reserve: cfg.DiskReserve, free: freeBytes}
	}
	return b, nil
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
		if err = b.heartbeat(ctx); err != nil {
			return
		}
		if err = b.reconcile(ctx); err != nil {
			b.log.Warn("broker: first reconcile failed; retrying in the background", "err", err)
			err = nil
		}
		loopCtx, cancel := context.WithCancel(context.Background())
		b.stop = cancel
		b.done = make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(3)
		go func() { defer wg.Done(); b.loop(loopCtx) }()
		go func() { defer wg.Done(); b.heartbeatLoop(loopCtx) }()
		go func() { defer wg.Done(); b.watchLoop(loopCtx) }()
		go func() { wg.Wait(); close(b.done) }()
		if b.disk != nil {
			b.watchers.Add(1)
			go b.watchDisk()
		}
	})
	return err
}

// Close stops the reconcile loop, hands every led partition over (its hot tail tiered, its lease
// released; see handoff.go), and deregisters the node.
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
		b.mu.Lock()
		if b.wakeTimer != nil {
			b.wakeTimer.Stop()
		}
		b.mu.Unlock()
		close(b.quit)
		b.watchers.Wait()
		b.handoffs.Wait()
		// Hand every partition over (see handoff.go): with a Tiering, nothing acknowledged stays
		// behind on this node's disk when it goes, as long as object storage takes the tails
		// within HandoffTimeout.
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.HandoffTimeout)
		defer cancel()
		sem := make(chan struct{}, handoffParallelism)
		var wg sync.WaitGroup
		for _, p := range b.ledSnapshot() {
			p.handingOff.Store(true)
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if b.cfg.Tiering != nil {
					if err := b.tierTail(ctx, p); err != nil {
						b.log.Warn("broker: shutting down before the partition's hot tail was tiered; the next leader starts at the tiered end",
							"partition", p.tp, "tiered_end", b.cfg.Tiering.LatestTiered(p.tp), "end", p.log.EndOffset(), "err", err)
					}
				}
				b.release(ctx, p, "released")
			}()
		}
		wg.Wait()
		ctx, cancel = context.WithTimeout(context.Background(), b.cfg.LeaseTTL)
		defer cancel()
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

// loop runs reconcile every ReconcileInterval and whenever triggered.
func (b *Broker) loop(ctx context.Context) {
	t := time.NewTicker(b.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		if err := b.reconcile(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("broker: reconcile", "err", err)
		}
	}
}

// SetKafkaAddr sets the advertised Kafka address (known only once the listener is bound) and
// refreshes the registration.
func (b *Broker) SetKafkaAddr(ctx context.Context, addr string) error {
	b.mu.Lock()
	b.cfg.KafkaAddr = addr
	b.mu.Unlock()
	return b.heartbeat(ctx)
}
