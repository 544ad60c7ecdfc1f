package tier

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
)

// applyLocalRetention deletes hot copies per local.retention.* (retention.* when remote storage is
// off), never past the tiered end.
func (p *partition) applyLocalRetention() {
	_, pol := p.settings()
	if pol.RemoteStorage && p.u.pressure.Load() {
		pol.LocalRetentionMs, pol.LocalRetentionBytes = -1, 0 // keep nothing that is tiered
	}
	cv := p.view()
	segs := p.log.Segments()
	now := p.u.cfg.Now()
	if pol.RemoteStorage && pol.Durability == DurabilityObject && takenDue(segs, cv.end, pol, now) {
		// Flushes take the active segment's batches without sealing it, so local retention
		// would never reach them: seal it once what it handed over is tiered and due to go.
		if err := p.log.Roll(); err != nil {
			if !errors.Is(err, hotlog.ErrClosed) {
				p.u.log.Warn("tier: roll for local retention", "partition", p.tp, "err", err)
			}
			return
		}
		segs = p.log.Segments()
	}
	below := localDeleteBelow(segs, cv.end, pol, now)
	if below < 0 {
		return
	}
	n := 0
	for _, s := range segs {
		if s.Sealed && s.NextOffset <= below {
			n++
		}
	}
	if err := p.log.DeleteSegmentsBelow(below); err != nil {
		if !errors.Is(err, hotlog.ErrClosed) {
			p.u.m.errors.WithLabelValues("local_retention").Inc()
			p.u.log.Warn("tier: local retention", "partition", p.tp, "below", below, "err", err)
		}
		return
	}
	p.u.m.localDeleted.Add(float64(n))
	p.u.log.Debug("tier: local retention", "partition", p.tp, "below", below, "segments", n)
}

// takenDue reports whether local retention would drop the part of the active segment (the last of
// segs) that a flush took (hotlog Log.Take) were that part a sealed segment: it is all tiered (below
// tieredEnd), and localDeleteBelow would delete it. Its newest timestamp is taken to be the whole
// segment's, which can only keep it longer.
func takenDue(segs []hotlog.SegmentInfo, tieredEnd int64, p Policy, now time.Time) bool {
	n := len(segs)
	if n == 0 {
		return false
	}
	act := segs[n-1]
	if act.Sealed || act.TakenNext <= act.BaseOffset || act.TakenNext > tieredEnd {
		return false
	}
	// The taken part as takenView plans it, with an empty active segment after it.
	view := append(takenView(slices.Clone(segs)), hotlog.SegmentInfo{BaseOffset: act.TakenNext, NextOffset: act.TakenNext, Created: now})
	return localDeleteBelow(view, tieredEnd, p, now) >= act.TakenNext
}

// applyRetention applies retention.ms / retention.bytes to the tiered data through the partition
// log's MoveLogStart (the catalog's log start under the leader's epoch, then the hot log's); the
// dropped objects are deleted after the grace period.
func (p *partition) applyRetention(ctx context.Context) error {
	epoch, pol := p.settings()
	c, err := p.u.cfg.Store.GetCatalog(ctx, p.tp)
	if err != nil {
		return opErr("catalog", err)
	}
	p.setView(viewOf(c))
	p.plog.NoteCatalog(c)
	if !c.TopicID.IsZero() && c.TopicID != p.topicID {
		return nil // the catalog is a newer topic's under the same name; not ours to trim
	}
	start := retentionStart(c, localBytesAbove(p.log.Segments(), c.TieredEnd()), pol, p.u.cfg.Now())
	if start < 0 {
		return nil
	}
	dropped, err := p.plog.MoveLogStart(ctx, epoch, start)
	p.u.m.retentionDrops.Add(float64(len(dropped)))
	p.u.del.Schedule(dropped, p.u.cfg.DeleteGrace)
	switch {
	case errors.Is(err, ErrHotStart):
		if !errors.Is(err, hotlog.ErrClosed) {
			p.u.log.Warn("tier: retention", "partition", p.tp, "start", start, "err", err)
		}
	case err != nil:
		return opErr("retention", err)
	}
	p.u.log.Info("tier: retention moved the log start", "partition", p.tp, "start", start, "segments", len(dropped))
	return p.refreshCatalog(ctx)
}

// Deleter deletes objects once their grace period has passed: whatever takes segments out of the
// catalog (retention here, compaction elsewhere) hands them to Schedule, and reads in flight on the
// old objects finish before the objects go. One goroutine owns the queue's schedule; Schedule may be
// called from anywhere. Pending deletes are kept in memory only: an object whose delete was pending
// when the process stopped is left behind (out of the catalog, so nothing reads it) until the
// compaction sweeper finds it.
type Deleter struct {
	bucket    objstore.Bucket
	now       func() time.Time
	base, max time.Duration
	m         *uploadMetrics
	log       *slog.Logger

	mu     sync.Mutex
	q      deleteQueue
	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once
}

// DeleterConfig configures a Deleter.
type DeleterConfig struct {
	// Bucket holds the objects. Required.
	Bucket objstore.Bucket
	// RetryBaseDelay and RetryMaxDelay bound the backoff after a failed delete (defaults as Config's).
	RetryBaseDelay, RetryMaxDelay time.Duration
	// Now is the clock for due times (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives strata_tier_objects_deleted_total, strata_tier_delete_pending_objects and
	// strata_tier_errors_total{op="delete"}, shared with any Uploader on the same registry.
	Registerer prometheus.Registerer
}

// NewDeleter validates cfg and starts the Deleter's goroutine; Close stops it.
func NewDeleter(cfg DeleterConfig) (*Deleter, error) {
	switch {
	case cfg.Bucket == nil:
		return nil, fmt.Errorf("%w: Bucket is required", ErrConfig)
	case cfg.RetryBaseDelay < 0 || cfg.RetryMaxDelay < 0:
		return nil, fmt.Errorf("%w: negative duration", ErrConfig)
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if cfg.RetryMaxDelay == 0 {
		cfg.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if cfg.RetryBaseDelay > cfg.RetryMaxDelay {
		return nil, fmt.Errorf("%w: RetryBaseDelay %v above RetryMaxDelay %v", ErrConfig, cfg.RetryBaseDelay, cfg.RetryMaxDelay)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return newDeleter(cfg.Bucket, cfg.Now, cfg.RetryBaseDelay, cfg.RetryMaxDelay, newUploadMetrics(cfg.Registerer), cfg.Logger), nil
}

func newDeleter(b objstore.Bucket, now func() time.Time, base, max time.Duration, m *uploadMetrics, log *slog.Logger) *Deleter {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Deleter{bucket: b, now: now, base: base, max: max, m: m, log: log,
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go d.run()
	return d
}

// Schedule queues the segments' objects for deletion grace from now. A range of a shared object
// (SharedObjectKey) is skipped: other partitions' catalogs may name the object's other ranges, so
// only the orphan sweeper deletes it, once no catalog names any of them.
func (d *Deleter) Schedule(segs []metadata.SegmentRef, grace time.Duration) {
	due := d.now().Add(grace)
	n := 0
	d.mu.Lock()
	for _, s := range segs {
		if IsSharedKey(s.Key) {
			continue
		}
		heap.Push(&d.q, pendingDelete{key: s.Key, due: due})
		n++
	}
	d.mu.Unlock()
	if n == 0 {
		return
	}
	d.m.deletesPending.Add(float64(n))
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Pending returns the number of objects waiting to be deleted.
func (d *Deleter) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.q)
}

// Close stops the goroutine and waits for it; deletes still pending are dropped (see the type doc).
// Close is idempotent.
func (d *Deleter) Close() error {
	d.closed.Do(d.cancel)
	<-d.done
	return nil
}

func (d *Deleter) run() {
	defer close(d.done)
	bo := backoff{base: d.base, max: d.max}
	for {
		d.mu.Lock()
		var next pendingDelete
		ready, wait := false, time.Hour
		if len(d.q) > 0 {
			next = d.q[0]
			if w := next.due.Sub(d.now()); w <= 0 {
				ready = true
				heap.Pop(&d.q)
			} else {
				wait = w
			}
		}
		d.mu.Unlock()
		if ready {
			if err := d.bucket.Delete(d.ctx, next.key); err != nil {
				if d.ctx.Err() != nil {
					return
				}
				d.m.errors.WithLabelValues("delete").Inc()
				d.log.Warn("tier: delete object; will retry", "key", next.key, "err", err)
				d.mu.Lock()
				heap.Push(&d.q, next)
				d.mu.Unlock()
				if !bo.wait(d.ctx) {
					return
				}
				continue
			}
			bo.reset()
			d.m.deletesPending.Dec()
			d.m.objectsDeleted.Inc()
			d.log.Debug("tier: object deleted", "key", next.key)
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-d.ctx.Done():
			t.Stop()
			d.mu.Lock()
			d.m.deletesPending.Sub(float64(len(d.q)))
			d.mu.Unlock()
			return
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

type pendingDelete struct {
	key string
	due time.Time
}

// deleteQueue is a min-heap by due time.
type deleteQueue []pendingDelete

func (q deleteQueue) Len() int           { return len(q) }
func (q deleteQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q deleteQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deleteQueue) Push(x any)        { *q = append(*q, x.(pendingDelete)) }
func (q *deleteQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
