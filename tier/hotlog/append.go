package hotlog

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-log/strata/tier/localfs"
	"github.com/strata-log/strata/tier/segment"
)

// AppendResult is where an appended batch landed.
type AppendResult struct {
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
}

// Append validates one RecordBatch v2 (framing, magic, CRC; len(batch) must be exactly one batch),
// assigns offsets by rewriting its baseOffset in place to the current end, and writes it to the
// active segment, rolling first if the segment is full or old. The write is not yet fsynced: use
// WaitDurable. The batch is not retained. Errors about the bytes wrap segment.ErrCorrupt.
func (l *Log) Append(batch []byte) (AppendResult, error) {
	info, err := segment.ValidateBatch(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("hotlog: append: %w", err)
	}
	return l.append(batch, info)
}

// AppendValidated is Append for a batch the caller has already checked with segment.ValidateBatch
// and changed since only through segment's Set* helpers (which keep it valid) — the produce path,
// where the broker validates every batch before deciding anything about it. It does not compute
// the CRC again, the one check that reads every byte, but it still reads the header afresh
// (framing, magic, exactly one batch), so the index is built from the bytes as they are now.
// A batch that was not validated may be written with a bad CRC, and recovery would then cut the
// log at it.
func (l *Log) AppendValidated(batch []byte) (AppendResult, error) {
	info, err := segment.ParseBatch(batch)
	if err != nil {
		return AppendResult{}, fmt.Errorf("hotlog: append: %w", err)
	}
	return l.append(batch, info)
}

// append writes batch, whose header is info, as Append describes.
func (l *Log) append(batch []byte, info segment.BatchInfo) (AppendResult, error) {
	if info.Size() != len(batch) {
		return AppendResult{}, fmt.Errorf("hotlog: append: %w: %d bytes after the batch", segment.ErrCorrupt, len(batch)-info.Size())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return AppendResult{}, err
	}
	act := l.active()
	if size := act.ix.Index().DataSize; size > 0 &&
		(size+int64(len(batch)) > l.cfg.SegmentBytes || time.Since(act.created) >= l.cfg.SegmentAge) {
		if err := l.rollLocked(); err != nil {
			return AppendResult{}, err
		}
		act = l.active()
	}
	pos := act.ix.Index().DataSize
	segment.SetBaseOffset(batch, l.end)
	info.BaseOffset = l.end
	if _, err := act.f.WriteAt(batch, pos); err != nil {
		werr := fmt.Errorf("hotlog: write: %w", err)
		if terr := act.f.Truncate(pos); terr != nil {
			l.failLocked(fmt.Errorf("%w (and truncating the partial write failed: %v)", werr, terr))
		}
		return AppendResult{}, werr
	}
	act.ix.Add(info)
	if act.firstAppend.IsZero() {
		act.firstAppend = time.Now()
		if pos > act.takenSize { // data recovered at open came first
			act.firstAppend = act.created
		}
		l.kickFlush() // the flusher arms the segment's age timer
	}
	if act.oldestTS < 0 || info.FirstTimestamp < act.oldestTS {
		act.oldestTS = info.FirstTimestamp
	}
	l.end = info.NextOffset()
	l.notifyChanged()
	if l.syncedTaken {
		l.kickFlush() // someone waits for durability: a reader bounded by it, or WaitDurable
	}
	l.cfg.Metrics.appended(len(batch))
	return AppendResult{BaseOffset: info.BaseOffset, LastOffset: info.LastOffset(), MaxTimestamp: info.MaxTimestamp}, nil
}

func (l *Log) usableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// failLocked makes err sticky: after a failed fsync the page cache may have dropped the dirty pages,
// so nothing written since the last good fsync can be trusted until the log is reopened (and
// recovered from disk).
func (l *Log) failLocked(err error) {
	if l.err == nil {
		l.err = err
		l.logger.Error("hotlog: log failed; reopen to recover", "err", err, "durable", l.durable, "end", l.end)
		close(l.failed)
		l.notifySynced()
	}
}

// Failed returns a channel closed when the Log fails: a write, fsync, roll or truncation went
// wrong and the Log refuses all further work (Err says why). It is never closed by Close. The
// owner should stop using the Log, Close it and open it again: reopening recovers what reached the
// disk. Bytes past DurableOffset (as of the failure) were never acknowledged as durable and may or
// may not have reached the disk — a kernel that failed an fsync may have dropped the dirty pages
// and will not report it again — so the owner should TruncateTo that offset after reopening.
func (l *Log) Failed() <-chan struct{} { return l.failed }

// Closed reports whether the Log was closed (Close, or its Dir removed it).
func (l *Log) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Err is the error that failed the Log, nil while it is healthy (also after a clean Close).
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// WaitDurable blocks until every offset below upTo is fsynced, or ctx ends. One flusher goroutine per
// Log fsyncs once for all pending appends and wakes every waiter (group commit). It returns
// ErrTruncated if a truncation below upTo happened while waiting (more than one truncation during
// one wait also counts, conservatively), ErrClosed after Close.
func (l *Log) WaitDurable(ctx context.Context, upTo int64) error {
	l.mu.Lock()
	truncs := l.truncs
	l.waiters++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.waiters--
		l.mu.Unlock()
	}()
	for {
		l.mu.Lock()
		if n := l.truncs - truncs; n > 1 || (n == 1 && l.lastTruncEnd < upTo) {
			l.mu.Unlock()
			return fmt.Errorf("%w: below %d while waiting", ErrTruncated, upTo)
		}
		truncs = l.truncs
		switch {
		case l.durable >= upTo:
			l.mu.Unlock()
			return nil
		case l.err != nil:
			err := l.err
			l.mu.Unlock()
			return err
		case l.closed:
			l.mu.Unlock()
			return ErrClosed
		}
		ch := l.syncedChan()
		l.overlapLocked()
		l.mu.Unlock()
		l.kickFlush()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flushLoop is the Log's one goroutine: it group-commits fsyncs when kicked and rolls the active
// segment when it grows old. The age timer is armed only while the active segment holds data, so
// an idle log costs no wakeups (a node may hold thousands). It exits when stop is closed.
func (l *Log) flushLoop() {
	defer close(l.done)
	roll := time.NewTimer(time.Hour)
	roll.Stop()
	armed := false
	arm := func() {
		at, ok := l.rollDue()
		switch {
		case ok:
			roll.Reset(time.Until(at))
			armed = true
		case armed:
			roll.Stop()
			armed = false
		}
	}
	defer roll.Stop()
	arm()
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			l.flush()
			arm()
		case <-roll.C:
			armed = false
			l.rollIfOld()
			arm()
		}
	}
}

// rollDue reports when the active segment becomes old enough to roll, if it holds any batch.
func (l *Log) rollDue() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usableLocked() != nil {
		return time.Time{}, false
	}
	act := l.active()
	if act.ix.Index().DataSize == 0 {
		return time.Time{}, false
	}
	return act.created.Add(l.cfg.SegmentAge), true
}

// flush fsyncs the active segment once for everything appended so far, unless a commit already in
// the kernel covers it.
func (l *Log) flush() {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	l.mu.Lock()
	if l.usableLocked() != nil || l.durable >= l.end || (l.inflight > 0 && l.syncingTo >= l.end) ||
		(l.cfg.LazySeal && l.waiters == 0 && !l.syncedTaken) {
		// (A LazySeal log's data is made durable elsewhere: it fsyncs only for a waiter.)
		l.mu.Unlock()
		return
	}
	target, f := l.end, l.active().f
	ticket := l.ticketNext
	l.ticketNext++
	l.inflight++
	l.syncingTo = target
	l.mu.Unlock()

	t0 := time.Now()
	err := f.Sync() // a roll meanwhile fsyncs the same bytes itself; files are not closed while we hold filesMu
	l.cfg.Metrics.observeFsync(time.Since(t0))

	l.mu.Lock()
	defer l.mu.Unlock()
	// Credit in order: two fsyncs of one file may share a writeback error that only one of them
	// reports, so a commit counts only once every earlier one has succeeded. (Truncations take
	// filesMu exclusively, so none happens while a commit is in flight.)
	for l.ticketDone != ticket {
		l.flushTurn.Wait()
	}
	l.ticketDone++
	l.inflight--
	l.flushTurn.Broadcast()
	if err != nil {
		l.failLocked(fmt.Errorf("hotlog: fsync: %w", err))
		return
	}
	if l.err == nil && target > l.durable {
		l.durable = target
		l.notifySynced()
	}
}

// overlapLocked starts a second group commit at once if flushLoop's is in the kernel and more has
// been appended since it began. Without it those appends wait for the running fsync to end and
// then for a whole one of their own; with it their fsync overlaps the running one (the device
// gets the next writes while the first commit's journal flush completes). Called with mu held by
// a goroutine about to wait for durability; the commit runs on a goroutine of the Log's own,
// which Close waits for.
func (l *Log) overlapLocked() {
	if l.inflight != 1 || l.syncingTo >= l.end || l.overlapping || l.closed || l.err != nil {
		return
	}
	l.overlapping = true
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		l.flush()
		l.mu.Lock()
		l.overlapping = false
		l.mu.Unlock()
	}()
}

func (l *Log) rollIfOld() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usableLocked() != nil {
		return
	}
	if act := l.active(); act.ix.Index().DataSize > 0 && time.Since(act.created) >= l.cfg.SegmentAge {
		if err := l.rollLocked(); err != nil {
			l.logger.Error("hotlog: time-based roll", "err", err)
		}
	}
}

// Roll seals the active segment now, if it holds any batch.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if l.active().ix.Index().DataSize == 0 {
		return nil
	}
	return l.rollLocked()
}

// rollLocked seals the active segment (index, footer, fsync unless Config.LazySeal, rename) and
// starts a new one. A failure part way is sticky: reopening recovers from whatever reached the disk.
func (l *Log) rollLocked() error {
	act := l.active()
	next := act.ix.Index().NextOffset
	lazy := l.cfg.LazySeal
	if err := l.seal(act, lazy); err != nil {
		l.failLocked(err)
		return err
	}
	if err := l.newActive(next); err != nil {
		l.failLocked(err)
		return err
	}
	if !lazy {
		if err := localfs.SyncDir(l.path); err != nil {
			l.failLocked(err)
			return err
		}
	}
	if next > l.durable {
		l.durable = next
		l.notifySynced()
	}
	l.notifyChanged() // a sealed segment is news to the uploader
	return nil
}
