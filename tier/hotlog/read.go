package hotlog

import (
	"fmt"
	"sort"

	"github.com/strata-log/strata/tier/segment"
)

// readersFrom snapshots readers for the segments from the one holding offset onward, stopping once
// they hold maxBytes of data (maxBytes < 0: all). Called with mu held; the readers stay valid while
// the caller holds filesMu shared.
func (l *Log) readersFrom(offset int64, maxBytes int) []*segment.Reader {
	segs := l.segsFrom(offset, maxBytes)
	rs := make([]*segment.Reader, len(segs))
	for i, s := range segs {
		rs[i] = s.reader()
	}
	return rs
}

// segsFrom is readersFrom's segments.
func (l *Log) segsFrom(offset int64, maxBytes int) []*seg {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	i = max(i, 0)
	var out []*seg
	var total int64
	for _, s := range l.segs[i:] {
		if maxBytes >= 0 && len(out) > 0 && total >= int64(maxBytes) {
			break
		}
		total += s.index().DataSize
		out = append(out, s)
	}
	return out
}

// Read returns whole batches starting with the batch containing offset. It stops before the first
// batch at or above limit (an offset bound such as the high watermark; limit < 0 or above the end
// means the end) and before a batch that would take the result past maxBytes — but returns at least
// one whole batch if any starts below limit (KIP-74). The result is empty when offset == limit.
// ErrOffsetOutOfRange if offset is outside [StartOffset, EndOffset]. The returned slice is the
// caller's. Batches may begin below offset (a batch is never split).
func (l *Log) Read(offset int64, maxBytes int, limit int64) ([]byte, error) {
	return l.ReadAppend(nil, offset, maxBytes, limit)
}

// ReadAppend is Read into the spare capacity of dst[:0] (growing it when too small), so that a
// caller can reuse buffers; the result may share dst's array.
func (l *Log) ReadAppend(dst []byte, offset int64, maxBytes int, limit int64) ([]byte, error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	out := dst[:0]
	err := l.walkRead(offset, maxBytes, limit, func(s *seg, r *segment.Reader, pos int64, limit int64) (int64, error) {
		var err error
		out, pos, err = r.ReadBatches(out, pos, maxBytes, limit)
		return pos, err
	}, func() int { return len(out) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkRead is a read's walk over the segments, from the batch holding offset up to limit (< 0 or
// above the end: the end) and maxBytes: read takes whole batches from pos in a segment and
// returns the position after them, and done is how many bytes the read holds so far. The walk
// stops where a segment was not read to its end, or at maxBytes. ErrOffsetOutOfRange if offset is
// outside [StartOffset, EndOffset]; errors from read are wrapped with the log's name. The caller
// holds filesMu shared.
func (l *Log) walkRead(offset int64, maxBytes int, limit int64, read func(s *seg, r *segment.Reader, pos, limit int64) (int64, error), done func() int) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	start, end := l.startLocked(), l.end
	if offset < start || offset > end {
		l.mu.Unlock()
		return fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, start, end)
	}
	if limit < 0 || limit > end {
		limit = end
	}
	if offset >= limit {
		l.mu.Unlock()
		return nil
	}
	segs := l.segsFrom(offset, maxBytes)
	rs := make([]*segment.Reader, len(segs))
	for i, s := range segs {
		rs[i] = s.reader()
	}
	l.mu.Unlock()

	for i, r := range rs {
		ix := r.Index()
		if ix.BaseOffset >= limit {
			break
		}
		pos := int64(0)
		if i == 0 {
			p, _, err := r.FindOffset(offset)
			if err != nil {
				return fmt.Errorf("hotlog: read %s at %d: %w", l.name, offset, err)
			}
			pos = p
		}
		pos, err := read(segs[i], r, pos, limit)
		if err != nil {
			return fmt.Errorf("hotlog: read %s at %d: %w", l.name, offset, err)
		}
		if pos < ix.DataSize || done() >= maxBytes {
			break
		}
	}
	return nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record at or above StartOffset
// whose timestamp is ≥ ts (see segment.RecordForTimestamp), and false if no record here has one.
// It reads the batches that may hold the answer: a failed read, or bytes that break the batch
// format (wrapping segment.ErrCorrupt), are an error; ErrClosed after Close.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return -1, -1, false, ErrClosed
	}
	start := l.startLocked()
	rs := l.readersFrom(start, -1)
	l.mu.Unlock()
	for _, r := range rs {
		ix := r.Index()
		if ix.NextOffset <= start || ix.MaxTimestamp < ts {
			continue
		}
		off, at, ok, err := r.FindRecord(ts, start)
		if err != nil {
			return -1, -1, false, fmt.Errorf("hotlog: %s: timestamp %d: %w", l.name, ts, err)
		}
		if ok {
			return off, at, true, nil
		}
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the largest batch max timestamp and the base offset of the first batch
// holding it, or (-1, -1) when the log is empty.
func (l *Log) MaxTimestamp() (ts, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts, offset = -1, -1
	for _, s := range l.segs {
		ix := s.index()
		if ix.Batches > 0 && (offset < 0 || ix.MaxTimestamp > ts) {
			ts, offset = ix.MaxTimestamp, ix.MaxTimestampOffset
		}
	}
	return ts, offset
}

// ScanBatches calls fn with the header of every batch from the one holding from (or StartOffset, if
// from is lower) to the end at the time of the call, e.g. to rebuild producer state. An error from fn
// stops the scan and is returned. fn may Append, but must not call any other method of this Log
// that reads or changes files (Read, TruncateTo, Reset, DeleteSegmentsBelow, Close, ...): the scan
// holds the file lock shared, and a waiting writer would deadlock a nested reader.
func (l *Log) ScanBatches(from int64, fn func(info segment.BatchInfo) error) error {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	from = max(from, l.startLocked())
	end := l.end
	if from >= end {
		l.mu.Unlock()
		return nil
	}
	rs := l.readersFrom(from, -1)
	l.mu.Unlock()
	for i, r := range rs {
		pos := int64(0)
		if i == 0 {
			p, _, err := r.FindOffset(from)
			if err != nil {
				return fmt.Errorf("hotlog: scan %s from %d: %w", l.name, from, err)
			}
			pos = p
		}
		if err := r.Scan(pos, func(_ int64, info segment.BatchInfo) error { return fn(info) }); err != nil {
			return err
		}
	}
	return nil
}
