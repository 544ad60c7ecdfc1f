package tier

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/strata-log/strata/metadata"
)

// Uploader tiers the partitions a node leads: one goroutine per tracked partition uploads its sealed
// segments in order, registers them under the partition's epoch and applies local and tiered
// retention. Object-durability partitions are flushed together: one goroutine (the flusher) rolls
// all of them every flush interval and writes what they rolled as one shared object, whose ranges
// the partitions register. A shared semaphore bounds the other uploads in flight; one more
// goroutine deletes objects whose grace period ended. Safe for concurrent use.
type Uploader struct {
	cfg   Config
	m     *uploadMetrics
	log   *slog.Logger
	slots chan struct{} // upload concurrency
	del   *Deleter
	fl    *flusher // object durability's one object per flush

	mu     sync.Mutex
	parts  map[metadata.TopicPartition]*partition
	closed bool

	pressure atomic.Bool // the data dir is full (SetDiskPressure)
}

// NewUploader validates cfg and starts the Uploader's object deleter. Close stops everything.
func NewUploader(cfg Config) (*Uploader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	u := &Uploader{
		cfg:   cfg,
		m:     newUploadMetrics(cfg.Registerer),
		log:   cfg.Logger,
		slots: make(chan struct{}, cfg.UploadConcurrency),
		parts: make(map[metadata.TopicPartition]*partition),
	}
	u.del = newDeleter(cfg.Bucket, cfg.Now, cfg.RetryBaseDelay, cfg.RetryMaxDelay, u.m, u.log)
	u.fl = newFlusher(u)
	return u, nil
}

// Track starts tiering the partition of plog, whose hot log it uploads, as leader under epoch;
// retention moves the start of plog. Calling it again with the same plog updates the epoch and
// policy in place (a changed topic config, a renewed lease); with another one it restarts the
// partition's loop.
func (u *Uploader) Track(plog *PartitionLog, epoch int32, policy Policy) error {
	if err := policy.Validate(); err != nil {
		return err
	}
	if plog == nil || plog.Hot() == nil {
		return fmt.Errorf("%w: tracking needs a partition log with its hot log", ErrConfig)
	}
	tp := plog.Partition()
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return ErrClosed
	}
	if p := u.parts[tp]; p != nil {
		if p.plog == plog {
			p.update(epoch, policy)
			u.mu.Unlock()
			return nil
		}
		delete(u.parts, tp)
		u.mu.Unlock()
		p.stop(ErrNotTracked)
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return ErrClosed
		}
	}
	p := newPartition(u, plog, epoch, policy)
	u.parts[tp] = p
	u.mu.Unlock()
	go p.run()
	return nil
}

// SetDiskPressure says whether the node's data dir is full. Under pressure every tiered partition
// rolls what its active segment holds (at most once a second), tiers it, and keeps no local copy of
// anything already in object storage, whatever local.retention.* says; partitions that are not
// tiered are left alone (their hot log is the only copy). Off, local retention applies again.
func (u *Uploader) SetDiskPressure(on bool) {
	if u.pressure.Swap(on) == on {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.parts {
		p.poke()
	}
}

// Untrack stops tiering tp and waits for its loop to exit. An upload in flight is abandoned; its
// object, if it landed, is left unregistered for the next leader to replace with its own. Untracking
// a partition that is not tracked does nothing.
func (u *Uploader) Untrack(tp metadata.TopicPartition) {
	u.mu.Lock()
	p := u.parts[tp]
	delete(u.parts, tp)
	u.mu.Unlock()
	if p != nil {
		p.stop(ErrNotTracked)
	}
}

// Tracked reports whether tp is being tiered here.
func (u *Uploader) Tracked(tp metadata.TopicPartition) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.parts[tp] != nil
}

func (u *Uploader) get(tp metadata.TopicPartition) *partition {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.parts[tp]
}

// TieredEnd is one past the last offset registered in the catalog for tp (its log start when
// nothing is tiered), as this Uploader last saw it; -1 when tp is not tracked or its catalog has not
// been read yet.
func (u *Uploader) TieredEnd(tp metadata.TopicPartition) int64 {
	p := u.get(tp)
	if p == nil {
		return -1
	}
	end, _, _ := p.tiered()
	return end
}

// TieredChanged returns a channel closed when tp's tiered end next moves (a registration, a catalog
// refresh that changed it) or tp stops being tracked; nil (never fires) when tp is not tracked. It
// is the wake-up for readers bounded by TieredEnd. Take a new one after it fires.
func (u *Uploader) TieredChanged(tp metadata.TopicPartition) <-chan struct{} {
	p := u.get(tp)
	if p == nil {
		return nil
	}
	_, wake, _ := p.waitState()
	return wake
}

// LatestTiered is the ListOffsets answer for timestamp -5 (KIP-1005): the last offset held in object
// storage, or -1 when nothing is (or tp is not tracked).
func (u *Uploader) LatestTiered(tp metadata.TopicPartition) int64 {
	p := u.get(tp)
	if p == nil {
		return -1
	}
	end, hasSegs, _ := p.tiered()
	if !hasSegs {
		return -1
	}
	return end - 1
}

// WaitTiered blocks until tp's tiered end is at least upTo: every offset below upTo is in object
// storage and registered. It wakes on registration, not by polling. It returns ctx's error when ctx
// ends (the broker answers REQUEST_TIMED_OUT), and an error wrapping ErrNotTracked when tp is not
// tracked or stops being tracked while waiting (wrapping metadata.ErrFenced too if it was fenced).
func (u *Uploader) WaitTiered(ctx context.Context, tp metadata.TopicPartition, upTo int64) error {
	p := u.get(tp)
	if p == nil {
		return fmt.Errorf("%w: %s", ErrNotTracked, tp)
	}
	for {
		end, wake, stopErr := p.waitState()
		if end >= upTo {
			return nil
		}
		if stopErr != nil {
			return fmt.Errorf("tier: %s: %w", tp, stopErr)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tier: wait for %s to tier offset %d (at %d): %w", tp, upTo, end, ctx.Err())
		case <-wake:
		}
	}
}

// Expedite asks an object-durability partition to roll the data its acks wait on half an interval
// after its previous roll (or now, if that has passed) rather than at its flush deadline. The
// broker calls it when a producer can send nothing more until those acks come back (its pipeline of
// in-flight requests is full): waiting longer would gather no more data, only add latency. A no-op
// for untracked partitions, local durability, or nothing unrolled.
func (u *Uploader) Expedite(tp metadata.TopicPartition) {
	if p := u.get(tp); p != nil {
		p.expedite.Store(true)
		p.poke()
	}
}

// ScheduleDelete deletes the objects of segments that left the catalog (DeleteRecords, compaction)
// once the grace period has passed.
func (u *Uploader) ScheduleDelete(segs []metadata.SegmentRef) {
	u.del.Schedule(segs, u.cfg.DeleteGrace)
}

// Close stops every partition loop and the deleter and waits for them. Objects still in their grace
// period are not deleted. Idempotent.
func (u *Uploader) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	parts := u.parts
	u.parts = map[metadata.TopicPartition]*partition{}
	u.mu.Unlock()
	for _, p := range parts {
		p.stop(ErrClosed)
	}
	u.fl.close()
	_ = u.del.Close()
	return nil
}

// fenced removes p after the catalog fenced it and tells the owner.
func (u *Uploader) fenced(p *partition, err error) {
	u.m.fenced.Inc()
	u.log.Warn("tier: fenced; no longer tiering partition", "partition", p.tp, "epoch", p.epochNow(), "err", err)
	u.mu.Lock()
	mine := u.parts[p.tp] == p
	if mine {
		delete(u.parts, p.tp)
	}
	u.mu.Unlock()
	p.finish(fmt.Errorf("%w: %w", ErrNotTracked, err))
	if mine {
		u.cfg.OnFenced(p.tp)
	}
}
