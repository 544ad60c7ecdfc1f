package hotlog

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-log/strata/tier/localfs"
	"github.com/strata-log/strata/tier/segment"
)

// DeleteSegmentsBelow removes the sealed segments that lie wholly below offset (local retention,
// e.g. once they are in object storage). The active segment is never removed. StartOffset moves up to
// the first remaining segment if it was lower.
func (l *Log) DeleteSegmentsBelow(offset int64) error {
	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].sealed && l.segs[n].idx.NextOffset <= offset {
		n++
	}
	if n == 0 {
		return nil
	}
	victims := l.segs[:n]
	l.segs = append([]*seg(nil), l.segs[n:]...)
	for _, s := range victims {
		_ = s.f.Close()
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("hotlog: remove segment: %w", err)
		}
	}
	return localfs.SyncDir(l.path)
}

// SetStartOffset moves the logical start forward to offset (DeleteRecords) and persists it. Lower
// offsets are a no-op; ErrOffsetOutOfRange above EndOffset. Segments are not removed here.
func (l *Log) SetStartOffset(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if offset > l.end {
		return fmt.Errorf("%w: start %d beyond end %d", ErrOffsetOutOfRange, offset, l.end)
	}
	if offset <= l.start {
		return nil
	}
	if err := l.writeState(offset, -1); err != nil {
		return err
	}
	l.start = offset
	return nil
}

// TruncateTo drops every batch at or above offset (data written by a fenced leader). A batch that
// straddles offset is dropped whole, so EndOffset may end below offset. The cut is fsynced, and it is
// crash-safe: the intent is persisted first and recovery finishes an interrupted truncation. If
// offset is at or below the first local segment's base, the log is Reset to offset.
func (l *Log) TruncateTo(offset int64) error {
	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	if offset >= l.end {
		return nil
	}
	if offset <= l.segs[0].base {
		return l.resetLocked(offset)
	}
	if err := l.writeState(l.start, offset); err != nil {
		return err
	}
	return l.truncateLocked(offset)
}

// truncateLocked carries out a truncation whose intent is persisted, then clears the intent.
func (l *Log) truncateLocked(offset int64) error {
	if offset >= l.end {
		return l.clearPendingTruncate()
	}
	if offset <= l.segs[0].base {
		return l.resetLocked(offset)
	}
	// Drop whole segments from the newest down, so a crash leaves a prefix.
	for l.segs[len(l.segs)-1].base >= offset {
		s := l.segs[len(l.segs)-1]
		_ = s.f.Close()
		if err := os.Remove(s.path); err != nil {
			l.failLocked(fmt.Errorf("hotlog: truncate: remove segment: %w", err))
			return l.err
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	s := l.active()
	if err := l.cut(s, offset); err != nil {
		l.failLocked(err)
		return err
	}
	if err := localfs.SyncDir(l.path); err != nil {
		l.failLocked(err)
		return err
	}
	l.end = s.ix.Index().NextOffset
	l.durable = l.end
	l.truncated()
	return l.clearPendingTruncate()
}

// clearPendingTruncate forgets a finished truncation. If that cannot be persisted the log fails:
// replaying the truncation after new appends would drop them.
func (l *Log) clearPendingTruncate() error {
	if err := l.writeState(l.start, -1); err != nil {
		l.failLocked(err)
		return err
	}
	return nil
}

// cut makes s the active segment holding only the batches below offset: a sealed file is renamed
// back to .log first (its index and footer then read as a torn tail), then replaced by a copy of
// the batches kept (replaceFile), fsynced.
func (l *Log) cut(s *seg, offset int64) error {
	pos := s.index().DataSize // offset at or past the segment's end: keep all its batches
	if offset < s.index().NextOffset {
		p, _, err := s.reader().FindOffset(offset)
		if err != nil {
			return fmt.Errorf("hotlog: truncate: %w", err)
		}
		pos = p
	}
	wasSealed := s.sealed
	if s.sealed {
		p := filepath.Join(l.path, segName(s.base, activeExt))
		if err := os.Rename(s.path, p); err != nil {
			return fmt.Errorf("hotlog: truncate: rename: %w", err)
		}
		s.path, s.sealed = p, false
	}
	if err := l.replaceFile(s, pos); err != nil {
		return fmt.Errorf("hotlog: truncate: %w", err)
	}
	rec, err := segment.Recover(s.f, pos, s.base, l.cfg.IndexIntervalBytes)
	if err != nil {
		return fmt.Errorf("hotlog: truncate: rescan: %w", err)
	}
	if rec.Torn != nil {
		return fmt.Errorf("hotlog: truncate: rescan: %w", rec.Torn)
	}
	s.ix, s.idx, s.size = segment.ResumeIndexer(rec.Index, l.cfg.IndexIntervalBytes), segment.Index{}, pos
	if s.takenSize > pos || wasSealed { // a sealed segment was taken whole
		s.takenNext, s.takenSize = rec.Index.NextOffset, pos
	}
	return nil
}

// replaceFile replaces s's file by a new one holding its first n bytes: copied to a temporary
// file, fsynced, renamed over s's path, the directory fsynced. Bytes of a segment file are never
// changed in place once written, so a send straight from the old file (Spans, sendfile) still
// under way goes on sending what it found there. A failure leaves s's file as it was (a crash
// may leave the temporary file, removed on open).
func (l *Log) replaceFile(s *seg, n int64) error {
	tmp := s.path + localfs.TempSuffix
	f, err := l.cfg.openSegFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	buf := make([]byte, min(n, 1<<20))
	for at := int64(0); at < n; {
		k := min(int64(len(buf)), n-at)
		if _, err := s.f.ReadAt(buf[:k], at); err != nil {
			return fail(fmt.Errorf("copy: %w", err))
		}
		if _, err := f.WriteAt(buf[:k], at); err != nil {
			return fail(fmt.Errorf("copy: %w", err))
		}
		at += k
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync: %w", err))
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fail(fmt.Errorf("rename: %w", err))
	}
	_ = s.f.Close()
	s.f = f
	if err := localfs.SyncDir(l.path); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// Reset deletes all local data; the next append gets offset next, which is also the new start.
func (l *Log) Reset(next int64) error {
	if next < 0 {
		return fmt.Errorf("%w: reset to %d", ErrOffsetOutOfRange, next)
	}
	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usableLocked(); err != nil {
		return err
	}
	return l.resetLocked(next)
}

// resetLocked persists the new start first: if a crash interrupts the deletes, recovery sees a start
// beyond the surviving data and finishes the reset.
func (l *Log) resetLocked(next int64) error {
	if err := l.writeState(next, -1); err != nil {
		return err
	}
	for len(l.segs) > 0 {
		s := l.segs[len(l.segs)-1]
		_ = s.f.Close()
		if err := os.Remove(s.path); err != nil {
			l.failLocked(fmt.Errorf("hotlog: reset: remove segment: %w", err))
			return l.err
		}
		l.segs = l.segs[:len(l.segs)-1]
	}
	if err := l.newActive(next); err != nil {
		l.failLocked(err)
		return err
	}
	if err := localfs.SyncDir(l.path); err != nil {
		l.failLocked(err)
		return err
	}
	l.start, l.end, l.durable = next, next, next
	l.truncated()
	return nil
}

// truncated wakes pollers and durability waiters after the end moved down (or anywhere, on Reset).
func (l *Log) truncated() {
	l.truncs++
	l.lastTruncEnd = l.end
	l.notifyChanged()
	l.notifySynced()
}
