package tier

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
)

// flushCollectWindow bounds how long a flush waits, after rolling the partitions, for their
// goroutines to hand in what they rolled; a partition later than that goes into the next flush.
const flushCollectWindow = 200 * time.Millisecond

// flushPutsInFlight bounds the flush PUTs under way at once: a flush need not wait for the
// previous one's PUT (a partition registers its ranges in offset order whatever order their PUTs
// end in), but a slow bucket cannot gather unbounded memory either.
const flushPutsInFlight = 4

// shippedMax bounds a partition's images handed in and not yet registered; one more waits in its
// hot log until the oldest registers. More than flushPutsInFlight could not be under way anyway.
const shippedMax = flushPutsInFlight

// flusher writes the object-durability data of every partition an Uploader tracks as one object per
// flush (SharedObjectKey), instead of one object per partition per flush. It owns one goroutine;
// the partitions' goroutines talk to it:
//
//	partition loop                      flusher
//	note(deadline, unrolled bytes) ──▶  earliest deadline reached, or SharedObjectBytes pending:
//	                                        ask every noted partition to roll (one instant)
//	take the hot log's new batches
//	(in parallel with the other
//	partitions); build their image
//	handIn(image) ───────────────────▶  every rolled partition handed in or declined (or
//	                                    flushCollectWindow passed): PUT the images back to back
//	                                    as one object
//	◀── key and byte position ─────────
//	RegisterSegment(range) under the partition's own epoch, oldest range first; WaitTiered wakes
//
// A partition does not wait for its range to register before it hands in the next one: up to
// shippedMax of its images are in flight, and it registers them strictly in offset order. A range
// that fails to register voids those after it (they were cut to follow it), which go again from
// the catalog's end.
//
// The catalog stays each partition's own business: the flusher does no metadata I/O, so a
// registration refused (fenced, conflict) affects that partition alone, and a range never
// registered leaves only an object that no catalog names, which the orphan sweeper deletes.
type flusher struct {
	u    *Uploader
	kick chan struct{} // capacity 1

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	puts   chan struct{}  // one per PUT in flight
	wg     sync.WaitGroup // the PUT goroutines

	mu        sync.Mutex
	due       map[*partition]flushWant // partitions with data to roll, and when
	dueBytes  int64                    // the sum of due's bytes
	expect    map[*partition]bool      // rolled by the flush under way, not handed in yet
	subs      []*submission            // images waiting for the next PUT
	collect   time.Time                // end of the flush under way's wait for expect; zero: none
	lastFlush time.Time
	recent    [8]flushRecord // the latest flushes (a ring; see last)
	nRecent   int            // flushes recorded in recent so far
}

// flushRecord is when a flush rolled and the bytes pending then.
type flushRecord struct {
	at    time.Time
	bytes int64
}

type flushWant struct {
	at    time.Time
	bytes int64
}

// submission is one partition's segment image waiting for a flush's PUT.
type submission struct {
	p     *partition
	image []byte
	due   time.Time
	ready chan struct{} // closed once key, pos, put and err are set
	key   string
	pos   int64
	put   time.Time
	err   error
}

func newFlusher(u *Uploader) *flusher {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flusher{u: u, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		puts: make(chan struct{}, flushPutsInFlight), due: make(map[*partition]flushWant), expect: make(map[*partition]bool)}
	go f.run()
	return f
}

func (f *flusher) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// record notes a flush that rolled bytes at now. Called with mu held.
func (f *flusher) record(now time.Time, bytes int64) {
	f.lastFlush = now
	f.recent[f.nRecent%len(f.recent)] = flushRecord{at: now, bytes: bytes}
	f.nRecent++
}

// last is when the latest flush rolled its partitions (zero before the first) and the bytes the
// flushes rolled within interval up to it (that one's included; the latest 8 flushes at most).
func (f *flusher) last(interval time.Duration) (time.Time, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var bytes int64
	for i := range min(f.nRecent, len(f.recent)) {
		if r := f.recent[i]; r.at.After(f.lastFlush.Add(-interval)) {
			bytes += r.bytes
		}
	}
	return f.lastFlush, bytes
}

// note records that p has unrolled data to flush by at (bytes of it so far); a zero at says it has
// none. A deadline only moves earlier until the flush that rolls p (an expedited one is not undone
// by the partition's next, ordinary note).
func (f *flusher) note(p *partition, at time.Time, bytes int64) {
	f.mu.Lock()
	old, had := f.due[p]
	f.dueBytes -= old.bytes
	if at.IsZero() {
		delete(f.due, p)
	} else {
		if had && old.at.Before(at) {
			at = old.at
		}
		f.due[p] = flushWant{at: at, bytes: bytes}
		f.dueBytes += bytes
	}
	full := f.dueBytes >= f.u.cfg.SharedObjectBytes
	f.mu.Unlock()
	if !at.IsZero() && (!had || at.Before(old.at) || full) {
		f.poke()
	}
}

// forget drops p (it stopped): it is not rolled any more, and its images not yet sent are dropped.
func (f *flusher) forget(p *partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dueBytes -= f.due[p].bytes
	delete(f.due, p)
	delete(f.expect, p)
	f.dropLocked(p)
}

// drop takes p's images that no PUT has begun out of the flush (a range of p failed to
// register, so the ones after it cannot). Their submissions are never answered.
func (f *flusher) drop(p *partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(p)
}

func (f *flusher) dropLocked(p *partition) {
	kept := f.subs[:0]
	for _, s := range f.subs {
		if s.p != p {
			kept = append(kept, s)
		}
	}
	clear(f.subs[len(kept):])
	f.subs = kept
}

// decline tells the flush under way that p, asked to roll, hands in nothing (nothing new was
// taken, too many of its images are in flight, or it failed): the flush need not wait for it.
func (f *flusher) decline(p *partition) {
	f.mu.Lock()
	_, was := f.expect[p]
	delete(f.expect, p)
	f.mu.Unlock()
	if was {
		f.poke()
	}
}

// handIn adds one segment image of p to the next PUT, due by due, and returns at once: its ready
// channel closes once the PUT is done (key, pos and put set) or failed (err set).
func (f *flusher) handIn(p *partition, image []byte, due time.Time) (*submission, error) {
	s := &submission{p: p, image: image, due: due, ready: make(chan struct{})}
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	f.subs = append(f.subs, s)
	delete(f.expect, p)
	f.mu.Unlock()
	f.poke()
	return s, nil
}

// close stops the goroutine and waits; images not sent fail with ErrClosed.
func (f *flusher) close() {
	f.cancel()
	<-f.done
}

// step is what the flusher does next.
type flushStep int

const (
	flushWait flushStep = iota // until the deadline or a kick
	flushRoll                  // roll the noted partitions and collect their images
	flushPut                   // PUT the images collected
)

// next decides the flusher's next step at now, and how long to wait when it is flushWait (< 0:
// until kicked). Called with mu held.
func (f *flusher) next(now time.Time) (flushStep, time.Duration) {
	if !f.collect.IsZero() {
		if len(f.expect) == 0 || !now.Before(f.collect) {
			return flushPut, 0
		}
		return flushWait, f.collect.Sub(now)
	}
	var at time.Time
	pending := f.dueBytes
	for _, w := range f.due {
		if at.IsZero() || w.at.Before(at) {
			at = w.at
		}
	}
	for _, s := range f.subs {
		if at.IsZero() || s.due.Before(at) {
			at = s.due
		}
		pending += int64(len(s.image))
	}
	switch {
	case at.IsZero():
		return flushWait, -1
	case pending >= f.u.cfg.SharedObjectBytes || !now.Before(at):
		return flushRoll, 0
	default:
		return flushWait, at.Sub(now)
	}
}

func (f *flusher) run() {
	defer close(f.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		f.mu.Lock()
		step, wait := f.next(now)
		var roll []*partition
		var subs []*submission
		switch step {
		case flushRoll:
			pending := f.dueBytes
			for _, s := range f.subs {
				pending += int64(len(s.image))
			}
			for p := range f.due {
				// A partition whose earlier ranges still register hands in its new batches
				// all the same (see partition.shipped); one that cannot declines.
				roll = append(roll, p)
				f.expect[p] = true
			}
			clear(f.due)
			f.dueBytes = 0
			f.record(now, pending)
			f.collect = now.Add(flushCollectWindow)
		case flushPut:
			subs, f.subs = f.subs, nil
			clear(f.expect)
			f.collect = time.Time{}
		}
		f.mu.Unlock()

		switch step {
		case flushRoll:
			for _, p := range roll {
				p.rollNow.Store(true)
				p.poke()
			}
			continue
		case flushPut:
			if len(subs) > 0 {
				select {
				case f.puts <- struct{}{}:
				case <-f.ctx.Done():
					f.fail(subs)
					continue
				}
				f.wg.Add(1)
				go func() {
					defer f.wg.Done()
					defer func() { <-f.puts }()
					f.put(subs)
				}()
			}
			continue
		}
		var timerC <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			timerC = timer.C
		}
		select {
		case <-f.ctx.Done():
			f.wg.Wait()
			f.mu.Lock()
			subs := f.subs
			f.subs = nil
			f.mu.Unlock()
			f.fail(subs)
			return
		case <-f.kick:
		case <-timerC:
		}
		timer.Stop() // since Go 1.23 a stopped timer's channel holds nothing stale
	}
}

// fail answers subs with ErrClosed.
func (f *flusher) fail(subs []*submission) {
	for _, s := range subs {
		s.err = ErrClosed
		close(s.ready)
	}
}

// put writes subs' images back to back as one object and tells each where its image landed.
func (f *flusher) put(subs []*submission) {
	var size int
	for _, s := range subs {
		size += len(s.image)
	}
	buf := make([]byte, 0, size)
	for _, s := range subs {
		s.pos = int64(len(buf))
		buf = append(buf, s.image...)
	}
	now := f.u.cfg.Now()
	key := SharedObjectKey(f.u.cfg.Prefix, f.u.cfg.NodeID, now)
	err := f.u.cfg.Bucket.Put(f.ctx, key, bytes.NewReader(buf), int64(len(buf)), objstore.IfAbsent())
	if err != nil {
		err = fmt.Errorf("tier: put shared object %s: %w", key, err)
	} else {
		f.u.m.sharedObjects.Inc()
		f.u.m.sharedRanges.Observe(float64(len(subs)))
		f.u.m.sharedBytes.Observe(float64(len(buf)))
		f.u.log.Debug("tier: shared object written", "key", key, "ranges", len(subs), "bytes", len(buf))
	}
	for _, s := range subs {
		s.key, s.put, s.err = key, now, err
		close(s.ready)
	}
}

// sharedFloor is the soonest a deadline (not SharedObjectBytes pending) makes an object-durability
// flush follow the previous one, at lastFlush: two thirds of the interval, so a node's flush PUTs
// stay at most 1.5 per interval however its producers' clocks behave (ahead or behind: see
// flushDeadline); half of it for an expedited partition, whose producer's pipeline is full (see
// expediteAt), so at most 2 per interval. A full pipeline is what holds records in their client
// for a whole flush cycle (they go out once acks free a slot, and then wait for the next flush):
// their ack comes about two cycles after they were made, so the cycle, not the interval, sets
// what they wait (at a 100 ms interval, two cycles of two thirds are ~130 ms with the PUT, of a
// half ~100 ms). When the flushes of the interval up to lastFlush rolled recentBytes of at least
// half of objectBytes, the whole interval, expedited or not: data arrives fast enough that the
// next object fills to objectBytes (and goes at once) or the interval passes, and records that
// waited in their client (whose deadlines by timestamp are past) do not cut every object short.
// At 100 MB/s and a 100 ms interval that is the difference between 8 MiB objects and 6.7 MB ones
// (128 against 160 PUTs per GiB). The interval's flushes, not the latest alone: a producer held
// back by its in-flight limit sends in bursts, several objects' worth at once and then a tail
// that a deadline flushes small; the partition still behind (its batches came late) went two
// thirds of an interval after that tail, alone, in an object of its own of some 100 KB.
func sharedFloor(lastFlush time.Time, recentBytes, objectBytes int64, interval time.Duration, expedited bool) time.Time {
	switch {
	case recentBytes >= objectBytes/2:
		return lastFlush.Add(interval)
	case expedited:
		return lastFlush.Add(interval / 2)
	}
	return lastFlush.Add(interval * 2 / 3)
}

// sharedRef completes ref (a segment image's offsets and timestamps) with where a flush put it.
func sharedRef(ref metadata.SegmentRef, s *submission, epoch int32) metadata.SegmentRef {
	ref.Key, ref.Position, ref.Size, ref.Epoch, ref.CreatedAt = s.key, s.pos, int64(len(s.image)), epoch, s.put
	return ref
}
