package tier

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// partition is one tracked partition. Its goroutine (run) is the only one doing I/O for it; the
// fields under mu are read by TieredEnd/WaitTiered and updated by Track.
type partition struct {
	u       *Uploader
	tp      metadata.TopicPartition
	topicID metadata.TopicID
	plog    *PartitionLog
	log     *hotlog.Log // plog's hot log

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // policy changed or expedite set; capacity 1

	expedite atomic.Bool // roll at the floor, not the deadline (Uploader.Expedite)
	rollNow  atomic.Bool // the flusher asks for this partition's new batches (object durability; see flusher)

	pressureRoll time.Time  // last roll to free local space (the partition goroutine's own)
	shipped      []*shipped // images handed to the flusher, not registered yet, in offset order (the goroutine's own)

	mu      sync.Mutex
	epoch   int32
	policy  Policy
	cv      catalogView
	known   bool          // cv has been read from the catalog
	wake    chan struct{} // closed when cv.end moves or the partition stops
	stopErr error
	backlog [2]int64 // segments, bytes: what this partition last added to the backlog gauges
	catalog int64    // bytes: what this partition last added to the catalog gauge
}

func newPartition(u *Uploader, plog *PartitionLog, epoch int32, policy Policy) *partition {
	ctx, cancel := context.WithCancel(context.Background())
	return &partition{
		u: u, tp: plog.Partition(), topicID: plog.TopicID(), plog: plog, log: plog.Hot(),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), kick: make(chan struct{}, 1),
		epoch: epoch, policy: policy, wake: make(chan struct{}),
	}
}

func (p *partition) update(epoch int32, policy Policy) {
	p.mu.Lock()
	p.epoch, p.policy = epoch, policy
	p.mu.Unlock()
	p.poke()
}

// poke wakes the partition loop.
func (p *partition) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *partition) epochNow() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

func (p *partition) settings() (int32, Policy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.policy
}

// tiered returns the tiered end (-1 before the catalog was read), whether any segment is tiered,
// and the catalog's log start.
func (p *partition) tiered() (end int64, hasSegs bool, logStart int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.known {
		return -1, false, -1
	}
	return p.cv.end, p.cv.hasSegs, p.cv.logStart
}

func (p *partition) view() catalogView {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cv
}

func (p *partition) waitState() (end int64, wake <-chan struct{}, stopErr error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	end = -1
	if p.known {
		end = p.cv.end
	}
	return end, p.wake, p.stopErr
}

// setView records what the catalog says and wakes WaitTiered callers when the end moved.
func (p *partition) setView(cv catalogView) {
	p.mu.Lock()
	defer p.mu.Unlock()
	moved := !p.known || cv != p.cv
	p.cv, p.known = cv, true
	if p.stopErr == nil {
		p.u.m.catalogBytes.Add(float64(cv.bytes - p.catalog))
		p.catalog = cv.bytes
	}
	if moved && p.stopErr == nil {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// finish marks the partition stopped with err and wakes every waiter for good.
func (p *partition) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopErr == nil {
		p.stopErr = err
		close(p.wake)
	}
}

// stop ends the loop (if still running) and waits for it.
func (p *partition) stop(reason error) {
	p.finish(reason)
	p.cancel()
	<-p.done
}

// forgetCatalog takes the partition's share out of the catalog gauge once it stopped.
func (p *partition) forgetCatalog() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.u.m.catalogBytes.Sub(float64(p.catalog))
	p.catalog = 0
}

func (p *partition) setBacklog(segs, bytes int64) {
	p.mu.Lock()
	dSegs, dBytes := segs-p.backlog[0], bytes-p.backlog[1]
	p.backlog = [2]int64{segs, bytes}
	p.mu.Unlock()
	p.u.m.backlogSegments.Add(float64(dSegs))
	p.u.m.backlogBytes.Add(float64(dBytes))
}

// run is the partition's loop: read the catalog, then upload whatever is sealed, apply local
// retention, and sleep until the log changes, the flush timer fires (object durability), the
// retention ticker fires or the policy changes. Failures are retried with backoff, forever; only a
// fence or a stop ends the loop.
func (p *partition) run() {
	defer close(p.done)
	defer p.setBacklog(0, 0)
	defer p.forgetCatalog()
	ctx := p.ctx
	bo := backoff{base: p.u.cfg.RetryBaseDelay, max: p.u.cfg.RetryMaxDelay}

	for {
		if err := p.refreshCatalog(ctx); err == nil {
			break
		} else if p.failed(ctx, "catalog", err) || !bo.wait(ctx) {
			return
		}
	}
	bo.reset()

	ticker := time.NewTicker(p.u.cfg.CheckInterval)
	defer ticker.Stop()
	poll := time.NewTicker(p.u.cfg.PollInterval)
	defer poll.Stop()
	defer p.u.fl.forget(p)
	retentionDue := true
	for {
		if p.log.Closed() {
			// The hot log was closed under a tracked partition (its directory removed): there is
			// nothing more to tier, and its Changed channel stays closed. Wait to be untracked
			// rather than spin.
			<-ctx.Done()
			return
		}
		rolled := p.rollNow.Swap(false)
		if rolled {
			// The flusher's roll: the batches appended so far are handed over (hotlog Take)
			// without sealing a segment, and uploadAll reads them from the log. A flush of
			// hundreds of partitions used to seal and create a segment file for each one.
			p.log.Take()
		}
		p.rollUnderPressure()
		changed := p.log.Changed()
		err := p.uploadAll(ctx)
		if rolled {
			p.u.fl.decline(p) // a no-op when uploadAll handed an image in
		}
		if err == nil && retentionDue {
			err = p.applyRetention(ctx)
			retentionDue = err != nil
		}
		if err == nil {
			p.applyLocalRetention()
		}
		if err != nil {
			if p.failed(ctx, "upload", err) || !bo.wait(ctx) {
				return
			}
			continue
		}
		bo.reset()

		var registered <-chan struct{}
		if len(p.shipped) > 0 {
			registered = p.shipped[0].sub.ready
		}
		_, pol := p.settings()
		expedite := p.expedite.Swap(false)
		if pol.RemoteStorage && pol.Durability == DurabilityObject {
			// Object durability: acks wait for the flush, so it is timed by the records waiting.
			p.noteFlush(pol, expedite)
		} else {
			p.u.fl.note(p, time.Time{}, 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-registered:
		case <-p.kick:
		case <-poll.C:
		case <-ticker.C:
			retentionDue = true
		}
	}
}

// rollUnderPressure rolls a tiered partition's active segment when the data dir is full, so that
// what it holds can be tiered and its local copy dropped; at most once a second. Object durability
// too: its flushes take batches from the active segment without sealing it (hotlog Take), so the
// segment leaves only once a roll seals it.
func (p *partition) rollUnderPressure() {
	if !p.u.pressure.Load() {
		return
	}
	if _, pol := p.settings(); !pol.RemoteStorage {
		return // not tiered: the hot log is the only copy
	}
	segs := p.log.Segments()
	if len(segs) == 0 || segs[len(segs)-1].Size == 0 {
		return
	}
	now := p.u.cfg.Now()
	if now.Sub(p.pressureRoll) < time.Second {
		return
	}
	p.pressureRoll = now
	if err := p.log.Roll(); err != nil && !errors.Is(err, hotlog.ErrClosed) {
		p.u.log.Warn("tier: roll to free local space", "partition", p.tp, "err", err)
	}
}

// noteFlush tells the flusher when this partition's unrolled records want flushing: its flush
// deadline, computed from the node's last flush (the flusher rolls every object-durability
// partition at once), brought forward by expedite, never sooner than sharedFloor.
func (p *partition) noteFlush(pol Policy, expedite bool) {
	first, oldest, unrolled, ok := p.log.Unrolled()
	if !ok {
		p.u.fl.note(p, time.Time{}, 0)
		return
	}
	interval := pol.flushInterval()
	last, recentBytes := p.u.fl.last(interval)
	at := flushDeadline(first, oldest, last, interval)
	if e := expediteAt(last, interval); expedite && e.Before(at) {
		at = e
	}
	if floor := sharedFloor(last, recentBytes, p.u.cfg.SharedObjectBytes, interval, expedite); at.Before(floor) {
		at = floor
	}
	p.u.fl.note(p, at, unrolled)
}

// failed handles an error from one pass of the loop: it reports whether the loop must end (fenced,
// or stopped), and otherwise logs and counts it.
func (p *partition) failed(ctx context.Context, op string, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	if errors.Is(err, metadata.ErrFenced) {
		p.u.fenced(p, err)
		return true
	}
	var se *stepError
	if errors.As(err, &se) {
		op = se.op
	}
	p.u.m.errors.WithLabelValues(op).Inc()
	p.u.log.Warn("tier: partition step failed; retrying", "partition", p.tp, "op", op, "err", err)
	return false
}

// stepError names the operation that failed.
type stepError struct {
	op  string
	err error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{op: op, err: err}
}

// refreshCatalog reads the catalog and records its view.
func (p *partition) refreshCatalog(ctx context.Context) error {
	c, err := p.u.cfg.Store.GetCatalog(ctx, p.tp)
	if err != nil {
		return opErr("catalog", err)
	}
	p.setView(viewOf(c))
	p.plog.NoteCatalog(c)
	return nil
}

// flushDeadline is when an object-durability partition rolls its active segment (and so answers the
// acks waiting on it): interval after the oldest record in it was created, by the producer's
// timestamp, so that time a record spent queued in the client counts against the bound; never
// later than interval after the first of those batches arrived (a producer clock running ahead),
// and never sooner than interval/4 after the previous roll (one running behind cannot make every
// batch an object of its own).
func flushDeadline(firstAppend time.Time, oldestTS int64, lastRoll time.Time, interval time.Duration) time.Time {
	at := firstAppend.Add(interval)
	if oldestTS >= 0 {
		if byAge := time.UnixMilli(oldestTS).Add(interval); byAge.Before(at) {
			at = byAge
		}
	}
	if floor := rollFloor(lastRoll, interval); at.Before(floor) {
		at = floor
	}
	return at
}

// expediteAt is when an expedited partition rolls: half an interval after its previous roll. A
// producer whose pipeline is full is then answered twice per interval at most; the half (not the
// quarter of rollFloor) keeps a stream of such producers from quadrupling the PUTs.
func expediteAt(lastRoll time.Time, interval time.Duration) time.Time {
	return lastRoll.Add(interval / 2)
}

// rollFloor is the soonest an object-durability partition rolls again: interval/4 after its previous
// roll, which bounds its PUTs at four per interval however its producers behave.
func rollFloor(lastRoll time.Time, interval time.Duration) time.Time {
	return lastRoll.Add(interval / 4)
}

// backoff is exponential backoff with equal jitter (a delay in [d/2, d]).
type backoff struct {
	base, max time.Duration
	n         int
}

func (b *backoff) reset() { b.n = 0 }

// wait sleeps for the next delay; false if ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.base << min(b.n, 30)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.n++
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
