package compaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
)

// Errors callers branch on.
var (
	// ErrConfig marks an invalid Config or Policy.
	ErrConfig = errors.New("compaction: invalid config")
	// ErrClosed is returned by RunOnce after Close.
	ErrClosed = errors.New("compaction: closed")
)

// Defaults for zero Config fields.
const (
	DefaultInterval    = 30 * time.Second
	DefaultDeleteGrace = 5 * time.Minute
	// DefaultSweepInterval and DefaultSweepGrace pace the orphan sweeper (see Sweep).
	DefaultSweepInterval = 10 * time.Minute
	DefaultSweepGrace    = time.Hour
	DefaultKeyMapBytes   = 64 << 20
)

// Store is what a Worker asks of the metadata store. It reads topics, leases, live nodes and
// catalogs, and changes a catalog only by ReplaceSegments under the epoch of the lease it found:
// it never takes a lease, registers a segment or moves a log start. Every metadata.Store is one;
// the methods' contracts are those of metadata.Topics, Leases, Nodes and Catalog.
type Store interface {
	GetTopic(ctx context.Context, name string) (metadata.Topic, error)
	ListTopics(ctx context.Context) ([]metadata.Topic, error)
	GetLease(ctx context.Context, tp metadata.TopicPartition) (metadata.Lease, error)
	ListLeases(ctx context.Context) ([]metadata.Lease, error)
	ListNodes(ctx context.Context) ([]metadata.Node, error)
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	ReplaceSegments(ctx context.Context, tp metadata.TopicPartition, epoch int32, oldKeys []string, repl []metadata.SegmentRef) error
}

var _ Store = metadata.Store(nil)

// Config configures a Worker.
type Config struct {
	// Bucket holds the segment objects. Required. Wrap it with objstore.WithRetry for transient
	// errors; a failed merge is simply tried again on the next pass.
	Bucket objstore.Bucket
	// Store holds the catalogs and leases (a metadata.Store serves). Required.
	Store Store
	// PassCatalogs, when set, serves the catalog reads of merge and key-compaction passes instead of
	// Store: a tier.CatalogCache, so that a pass over thousands of unchanged partitions reads none.
	// A pass planned on a catalog that changed meanwhile only loses its compare-and-swap and tries
	// again next pass; the orphan sweep always reads Store.
	PassCatalogs interface {
		GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	}
	// NodeID is this node's broker id: the worker compacts the partitions whose lease it holds.
	NodeID int32
	// Prefix is put before every merged object's key, as tier.Config.Prefix ("" for none).
	Prefix string
	// Interval is the time between merge passes (default 30 s). The first pass runs one Interval
	// after NewWorker.
	Interval time.Duration
	// NoMerges turns the loop's merge passes off, for a Worker that only sweeps (RunOnce still
	// merges when called).
	NoMerges bool
	// Policy picks the segments to merge (defaults: see Policy).
	Policy Policy
	// DeleteGrace is how long replaced objects stay in the bucket so that reads in flight finish
	// (default 5 min).
	DeleteGrace time.Duration
	// SweepInterval is the time between sweeps for orphaned objects (default 10 min; negative: no
	// sweeps). The first sweep runs one SweepInterval after NewWorker.
	SweepInterval time.Duration
	// SweepGrace is how old an object must be, and how long it must have been judged an orphan,
	// before a sweep deletes it (default 1 h). Keep it well above DeleteGrace and above the longest
	// time an upload may wait between its PUT and its registration.
	SweepGrace time.Duration
	// ConvertAfter is how old a segment smaller than Policy.SmallBytes must be before a
	// strata.cold.format=parquet topic's conversion takes it (default 10 min; see convert.go).
	ConvertAfter time.Duration
	// SharedWindowBytes bounds the bytes of shared objects (object-durability flushes) one merge
	// pass reads and holds in memory to rewrite every led partition's ranges of them (default
	// 128 MiB; see sharedWindow). Ranges beyond it are merged by the next pass, which follows at
	// once.
	SharedWindowBytes int64
	// KeyMapBytes bounds the memory of key compaction's key → latest offset map (default 64 MiB:
	// about 2.5 million distinct keys per pass; see keyMap), which is sized for the records of the
	// range it maps. A partition whose dirty part holds more keys is cleaned in several passes.
	KeyMapBytes int64
	// Now is the clock for the merged segments' CreatedAt and for sweeps (default time.Now).
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) applyDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.DeleteGrace == 0 {
		c.DeleteGrace = DefaultDeleteGrace
	}
	if c.ConvertAfter == 0 {
		c.ConvertAfter = DefaultConvertAfter
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.SweepGrace == 0 {
		c.SweepGrace = DefaultSweepGrace
	}
	c.Policy.applyDefaults()
	if c.KeyMapBytes == 0 {
		c.KeyMapBytes = DefaultKeyMapBytes
	}
	if c.SharedWindowBytes == 0 {
		c.SharedWindowBytes = DefaultSharedWindowBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports missing dependencies and unusable values. Zero values are fine (defaults).
func (c Config) Validate() error {
	switch {
	case c.Bucket == nil:
		return fmt.Errorf("%w: Bucket is required", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.NodeID < 0:
		return fmt.Errorf("%w: negative NodeID %d", ErrConfig, c.NodeID)
	case c.Interval < 0 || c.DeleteGrace < 0 || c.SweepGrace < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.KeyMapBytes < 0 || c.SharedWindowBytes < 0:
		return fmt.Errorf("%w: negative KeyMapBytes or SharedWindowBytes", ErrConfig)
	}
	if c.Prefix != "" {
		if err := objstore.ValidateKey(strings.TrimSuffix(c.Prefix, "/")); err != nil {
			return fmt.Errorf("%w: Prefix: %w", ErrConfig, err)
		}
	}
	return c.Policy.Validate()
}

// Worker merges small segments of the partitions this node leads. See the package doc.
type Worker struct {
	cfg Config
	m   *metrics
	log *slog.Logger
	del *tier.Deleter

	passMu    sync.Mutex           // one pass (merge or sweep) at a time
	sweep     sweepState           // guarded by passMu
	keys      keyState             // guarded by passMu
	win       *sharedWindow        // the merge pass's under way; guarded by passMu
	badShared map[string]time.Time // shared objects a merge could not read or found corrupt, and when; guarded by passMu
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Result counts what one pass did. Its JSON form is the answer of a node's POST /v1/compaction.
type Result struct {
	Partitions int `json:"partitions"` // partitions led by this node and looked at
	Merges     int `json:"merges"`     // merged objects swapped into the catalog
	Inputs     int `json:"inputs"`     // segments they replaced
	Skipped    int `json:"skipped"`    // planned merges not done (corrupt or missing input, write failure, refused swap)

	Cleaned int   `json:"cleaned"`         // partitions of compacted topics cleaned by key (see keycompact.go)
	Removed int64 `json:"removed_records"` // records key compaction removed

	Converted int `json:"converted"` // segments converted to Parquet objects (see convert.go)

	// Deferred counts planned merge inputs left for the next pass: ranges of shared objects
	// beyond the pass's window (see sharedWindow). The loop runs that pass at once.
	Deferred int `json:"deferred"`

	Passes int `json:"passes"` // merge passes run: 1 from RunOnce, the sum from CatchUp
}

// more reports whether the pass that returned r should be followed by another at once: it left
// shared ranges beyond its window, and merged something (a window whose merges all failed waits
// for the next interval).
func (r Result) more() bool { return r.Deferred > 0 && r.Merges > 0 }

// NewWorker validates cfg and starts the pass loop and the object deleter. Close stops both.
func NewWorker(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	del, err := tier.NewDeleter(tier.DeleterConfig{Bucket: cfg.Bucket, Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, fmt.Errorf("compaction: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{cfg: cfg, m: newMetrics(cfg.Registerer), log: cfg.Logger, del: del,
		ctx: ctx, cancel: cancel, done: make(chan struct{}),
		sweep: sweepState{orphans: make(map[string]orphanMark), goneSince: make(map[metadata.TopicID]time.Time),
			foreign: make(map[string]bool)}, badShared: make(map[string]time.Time)}
	go w.loop()
	return w, nil
}

// Close stops the pass loop (a pass in progress is cancelled) and the deleter, and waits for both.
// Replaced objects whose grace period had not ended are left in the bucket (they are out of the
// catalog, so nothing reads them). Close is idempotent.
func (w *Worker) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		<-w.done
		w.passMu.Lock() // a RunOnce from another goroutine has returned
		w.del.Close()
		w.passMu.Unlock()
	})
	return nil
}

// PendingDeletes is the number of replaced objects waiting for their grace period to end.
func (w *Worker) PendingDeletes() int { return w.del.Pending() }

func (w *Worker) loop() {
	defer close(w.done)
	var mergeC, sweepC <-chan time.Time
	if !w.cfg.NoMerges {
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		mergeC = t.C
	}
	if w.cfg.SweepInterval > 0 {
		t := time.NewTicker(w.cfg.SweepInterval)
		defer t.Stop()
		sweepC = t.C
	}
	var again <-chan time.Time // a pass left shared ranges beyond its window: the next one now
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-sweepC:
			res, err := w.Sweep(w.ctx)
			if err != nil && w.ctx.Err() == nil {
				w.log.Warn("compaction: sweep failed", "err", err)
			} else if res.Orphans > 0 || res.Foreign > 0 {
				w.log.Info("compaction: sweep done", "partitions", res.Partitions, "objects", res.Objects,
					"orphans", res.Orphans, "deleted", res.Deleted, "bytes", res.Bytes, "foreign", res.Foreign,
					"gone_topics", res.GoneTopics)
			}
			continue
		case <-mergeC:
		case <-again:
		}
		res, err := w.RunOnce(w.ctx)
		again = nil
		if err == nil && res.more() {
			again = time.After(0)
		}
		if err != nil && w.ctx.Err() == nil {
			w.log.Warn("compaction: pass failed", "err", err)
		} else if res.Merges > 0 || res.Skipped > 0 || res.Cleaned > 0 {
			w.log.Info("compaction: pass done", "partitions", res.Partitions, "merges", res.Merges,
				"inputs", res.Inputs, "skipped", res.Skipped, "cleaned", res.Cleaned, "removed_records", res.Removed,
				"deferred", res.Deferred)
		}
	}
}

// ledLeases returns the leases this node holds: the partitions it merges and sweeps. A failure is
// counted under op.
func (w *Worker) ledLeases(ctx context.Context, op string) ([]metadata.Lease, error) {
	all, err := w.cfg.Store.ListLeases(ctx)
	if err != nil {
		w.m.errors.WithLabelValues(op).Inc()
		return nil, fmt.Errorf("compaction: %s: list leases: %w", op, err)
	}
	var mine []metadata.Lease
	for _, l := range all {
		if l.Node == w.cfg.NodeID {
			mine = append(mine, l)
		}
	}
	return mine, nil
}

// RunOnce runs one pass now over the partitions this node leads and returns what it did. The error
// is about the pass as a whole (leases could not be listed, ctx ended, the Worker is closed);
// failures of single partitions and merges are logged, counted and left for the next pass.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	ctx, cancel, err := w.beginPass(ctx)
	if err != nil {
		return res, err
	}
	defer w.passMu.Unlock()
	defer cancel()
	res.Passes = 1

	leases, err := w.ledLeases(ctx, "leases")
	if err != nil {
		return res, err
	}
	if len(leases) > 0 {
		w.keys.listTopics(ctx, w)
	}
	res.Partitions = len(leases)
	plans := w.plan(ctx, leases)
	merges := make([][]Merge, len(plans))
	for i, pp := range plans {
		merges[i] = pp.merges
	}
	w.win = planWindow(ctx, merges, w.cfg.SharedWindowBytes, w.badShared, w.cfg.Now())
	defer func() { w.win = nil }()
	if w.win != nil {
		res.Deferred = w.win.deferred
	}
	for _, pp := range plans {
		w.partition(ctx, pp, &res)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	w.keys.dropGauges(w.m)
	return res, nil
}

// maxCatchUpPasses bounds the passes of one CatchUp.
const maxCatchUpPasses = 100

// CatchUp runs merge passes now, one after another while a pass leaves shared ranges beyond its
// window and merged something (at most maxCatchUpPasses), and returns what they did together:
// for an operator (POST /v1/compaction) who wants the merges done before a replay, and for a
// benchmark that starts each measurement with no compaction left over from the one before.
func (w *Worker) CatchUp(ctx context.Context) (Result, error) {
	var sum Result
	for range maxCatchUpPasses {
		res, err := w.RunOnce(ctx)
		sum.Partitions = res.Partitions
		sum.Merges += res.Merges
		sum.Inputs += res.Inputs
		sum.Skipped += res.Skipped
		sum.Cleaned += res.Cleaned
		sum.Removed += res.Removed
		sum.Converted += res.Converted
		sum.Deferred = res.Deferred
		sum.Passes += res.Passes
		if err != nil || !res.more() {
			return sum, err
		}
	}
	return sum, nil
}

// beginPass takes the pass lock and returns a ctx that also ends when the Worker closes. On success
// the caller must call cancel and then unlock passMu.
func (w *Worker) beginPass(parent context.Context) (ctx context.Context, cancel func(), err error) {
	if w.ctx.Err() != nil {
		return nil, nil, ErrClosed
	}
	w.passMu.Lock()
	if w.ctx.Err() != nil {
		w.passMu.Unlock()
		return nil, nil, ErrClosed
	}
	ctx, cancelCtx := context.WithCancel(parent)
	stop := context.AfterFunc(w.ctx, cancelCtx)
	cancel = func() {
		stop()
		cancelCtx()
	}
	if err := ctx.Err(); err != nil {
		cancel()
		w.passMu.Unlock()
		return nil, nil, err
	}
	return ctx, cancel, nil
}

// passCatalogs serves a pass's catalog reads: Config.PassCatalogs, or the Store.
func (w *Worker) passCatalogs() interface {
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
} {
	if w.cfg.PassCatalogs != nil {
		return w.cfg.PassCatalogs
	}
	return w.cfg.Store
}

// partitionPlan is one led partition as a pass found it: its lease, catalog and planned merges.
type partitionPlan struct {
	lease   metadata.Lease
	catalog metadata.PartitionCatalog
	merges  []Merge
}

// plan reads every led partition's catalog (once a pass: the window of shared objects is picked
// from all of their merges before any runs) and plans its merges. A catalog it cannot read is
// logged and the partition left for the next pass; so is one a newer leader has written.
func (w *Worker) plan(ctx context.Context, leases []metadata.Lease) []partitionPlan {
	cats := w.passCatalogs()
	out := make([]partitionPlan, 0, len(leases))
	for _, l := range leases {
		c, err := cats.GetCatalog(ctx, l.TopicPartition)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, metadata.ErrNotFound) {
				w.m.errors.WithLabelValues("catalog").Inc()
				w.log.Warn("compaction: read catalog", "partition", l.TopicPartition, "err", err)
			}
			continue
		}
		if c.Epoch > l.Epoch {
			continue // a newer leader has written already; our lease is stale
		}
		out = append(out, partitionPlan{lease: l, catalog: c, merges: PlanMerges(c.Segments, w.cfg.Policy)})
	}
	return out
}

// partition runs the merges of one led partition as planned (key compaction instead, for a
// compacted topic), then its conversions.
func (w *Worker) partition(ctx context.Context, pp partitionPlan, res *Result) {
	l, c := pp.lease, pp.catalog
	if w.compactKeys(ctx, l, c, res) {
		return // key compaction rewrote the partition; merges wait for the next pass
	}
	// Conversion leaves alone every segment a merge plans to take, this pass or (beyond the
	// window) the next.
	defer w.convertPartition(ctx, l, c, pp.merges, res) // after the merges, unless the lease or ctx ended
	for _, m := range w.win.cut(pp.merges) {
		done, stop := w.merge(ctx, l, c.TopicID, m)
		if done {
			res.Merges++
			res.Inputs += len(m.Inputs)
		} else {
			res.Skipped++
		}
		if stop || ctx.Err() != nil {
			return
		}
	}
}
