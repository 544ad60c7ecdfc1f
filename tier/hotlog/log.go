package hotlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-log/strata/tier/localfs"
	"github.com/strata-log/strata/tier/segment"
)

const (
	activeExt  = ".log"
	sealedExt  = ".seg"
	corruptExt = ".corrupt"
)

// SegmentInfo describes one local segment.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64
	Size         int64 // bytes on disk (index and footer included once sealed)
	Path         string
	Sealed       bool
	MaxTimestamp int64     // -1 when empty
	Created      time.Time // creation time; for a file found on disk at open, its modification time
	// The active segment only: the part of it that Take handed over, its batches below TakenNext,
	// the first TakenSize bytes (TakenNext == BaseOffset and TakenSize 0 when none).
	TakenNext, TakenSize int64
}

// seg is one segment file. Fields change only under Log.mu; f is closed only under Log.filesMu
// held exclusively.
type seg struct {
	base    int64
	path    string
	f       file
	sealed  bool
	lazy    bool // sealed without an fsync (Config.LazySeal); synced when that is turned off, on Close
	created time.Time
	size    int64            // file size
	idx     segment.Index    // sealed segments
	ix      *segment.Indexer // the active segment

	// The active segment's data since this process opened it, or since the last Take: when its
	// first batch was appended and the smallest first-record timestamp of its batches (zero time,
	// -1: none yet).
	firstAppend time.Time
	oldestTS    int64
	// The active segment's part that Take handed over: batches below takenNext, the first
	// takenSize bytes (base and 0: none).
	takenNext, takenSize int64
}

func (s *seg) index() segment.Index {
	if s.ix != nil {
		return s.ix.Index()
	}
	return s.idx
}

func (s *seg) reader() *segment.Reader { return segment.NewIndexedReader(s.f, s.index()) }

func segName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// Log is one partition's hot log. All methods are safe for concurrent use.
//
// Locking: filesMu is held shared while file contents are read or fsynced and exclusively while
// files are closed, removed or truncated; mu guards the in-memory state and the active file's
// tail. Order: filesMu before mu. Appends take only mu, so reads and fsyncs do not block them.
type Log struct {
	name    string
	path    string
	logger  *slog.Logger
	onClose func()

	filesMu      sync.RWMutex
	mu           sync.Mutex
	cfg          Config
	segs         []*seg // by base offset, contiguous; the last one is active
	start        int64  // persisted logical start (SetStartOffset / Reset)
	end          int64
	durable      int64
	changed      chan struct{} // closed at the next append, roll or truncation
	synced       chan struct{} // closed when durable advances, on truncation, failure and close
	changedTaken bool          // someone holds changed: replace it on notify
	syncedTaken  bool          // someone holds synced: replace it on notify
	truncs       uint64        // truncations so far
	lastTruncEnd int64         // end offset after the latest truncation
	waiters      int           // goroutines inside WaitDurable
	err          error         // sticky: a failed write or fsync leaves the log unusable
	failed       chan struct{} // closed when err is set
	closed       bool

	// Group commits in the kernel: at most two, flushLoop's and one started by a waiter while
	// flushLoop's was running (overlapLocked). They are credited in the order they began
	// (tickets), so a later fsync never vouches for bytes an earlier one failed to write.
	inflight    int
	syncingTo   int64 // the newest in-flight commit's target; meaningful while inflight > 0
	overlapping bool  // an overlapping commit's goroutine is running
	ticketNext  uint64
	ticketDone  uint64
	flushTurn   *sync.Cond // on mu: signalled as each commit is credited
	bg          sync.WaitGroup

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func openLog(path, name string, cfg Config) (*Log, error) {
	l := &Log{
		name:    name,
		path:    path,
		cfg:     cfg,
		logger:  cfg.Logger.With("log", name),
		changed: make(chan struct{}),
		synced:  make(chan struct{}),
		failed:  make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	l.flushTurn = sync.NewCond(&l.mu)
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			_ = s.f.Close()
		}
		return nil, err
	}
	go l.flushLoop()
	cfg.Metrics.opened(l)
	return l, nil
}

// diskBytes is the size of the Log's segment files.
func (l *Log) diskBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, s := range l.segs {
		if s.sealed {
			n += s.size
		} else {
			n += s.ix.Index().DataSize
		}
	}
	return n
}

// load opens the files on disk: sealed segments are verified by footer, the active one is scanned
// and cut at the first torn batch, and the state file gives the start offset.
func (l *Log) load() error {
	if err := os.MkdirAll(l.path, 0o755); err != nil {
		return fmt.Errorf("hotlog: create %s: %w", l.path, err)
	}
	st, haveStart, err := l.readState()
	if err != nil {
		return err
	}
	start := st.Start
	ents, err := os.ReadDir(l.path)
	if err != nil {
		return fmt.Errorf("hotlog: list %s: %w", l.path, err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, localfs.TempSuffix) {
			_ = os.Remove(filepath.Join(l.path, name))
			continue
		}
		ext := filepath.Ext(name)
		if ext != activeExt && ext != sealedExt {
			continue
		}
		base, perr := strconv.ParseInt(strings.TrimSuffix(name, ext), 10, 64)
		if perr != nil || base < 0 || segName(base, ext) != name {
			continue
		}
		s, err := l.openSeg(filepath.Join(l.path, name), base, ext == sealedExt)
		if err != nil {
			return err
		}
		if s != nil {
			l.segs = append(l.segs, s)
		}
	}
	sort.Slice(l.segs, func(i, j int) bool { return l.segs[i].base < l.segs[j].base })

	// Keep the newest contiguous run; anything older is set aside, not deleted.
	for i := len(l.segs) - 1; i > 0; i-- {
		if prev := l.segs[i-1]; prev.index().NextOffset != l.segs[i].base {
			for _, s := range l.segs[:i] {
				l.setAside(s, fmt.Errorf("%w: ends at %d but the next segment starts at %d", segment.ErrCorrupt, prev.index().NextOffset, l.segs[i].base))
			}
			l.segs = append([]*seg(nil), l.segs[i:]...)
			break
		}
	}
	// Every footer-less file but the newest is sealed now (a crash during a roll leaves two).
	for i := 0; i < len(l.segs)-1; i++ {
		s := l.segs[i]
		if s.sealed {
			continue
		}
		if s.index().Batches == 0 {
			_ = s.f.Close()
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("hotlog: remove empty segment: %w", err)
			}
			l.segs = append(l.segs[:i], l.segs[i+1:]...)
			i--
			continue
		}
		if err := l.seal(s, false); err != nil {
			return err
		}
	}

	next := int64(0)
	if n := len(l.segs); n > 0 {
		next = l.segs[n-1].index().NextOffset
	} else if haveStart {
		next = start
	}
	if haveStart && start > next {
		// A Reset or SetStartOffset beyond what survived: the log restarts empty at start.
		l.logger.Warn("hotlog: start offset beyond recovered data; starting empty", "start", start, "end", next)
		for _, s := range l.segs {
			_ = s.f.Close()
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("hotlog: remove segment: %w", err)
			}
		}
		l.segs = nil
		next = start
	}
	if n := len(l.segs); n == 0 || l.segs[n-1].sealed {
		if err := l.newActive(next); err != nil {
			return err
		}
	}
	if err := localfs.SyncDir(l.path); err != nil {
		return err
	}
	if l.cfg.LazySeal {
		// Sealed lazily before a crash, perhaps: not known to be on disk until synced.
		for _, s := range l.segs {
			s.lazy = s.sealed
		}
	}
	l.start = start
	l.end = next
	l.durable = next
	if haveStart && st.PendingTruncate >= 0 {
		l.logger.Warn("hotlog: finishing an interrupted truncation", "offset", st.PendingTruncate)
		return l.truncateLocked(st.PendingTruncate)
	}
	return nil
}

func (l *Log) readState() (logState, bool, error) {
	p := filepath.Join(l.path, stateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return logState{}, false, nil
	}
	if err != nil {
		return logState{}, false, fmt.Errorf("hotlog: read state: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		l.logger.Error("hotlog: bad state file set aside", "err", err)
		_ = os.Rename(p, p+corruptExt)
		return logState{}, false, nil
	}
	return st, true, nil
}

// writeState persists the start offset and any truncation in progress.
func (l *Log) writeState(start, pendingTruncate int64) error {
	return localfs.WriteFileAtomic(l.path, stateFile, encodeState(logState{Start: start, PendingTruncate: pendingTruncate}))
}

// openSeg opens one segment file. A sealed file that fails its checks is set aside (nil, nil); an
// active file is cut at its first torn batch and fsynced.
func (l *Log) openSeg(path string, base int64, sealed bool) (*seg, error) {
	f, err := l.cfg.openSegFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("hotlog: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("hotlog: stat segment: %w", err)
	}
	s := &seg{base: base, path: path, f: f, sealed: sealed, created: st.ModTime(), size: st.Size(), oldestTS: -1, takenNext: base}
	if sealed {
		r, err := segment.OpenReader(f, st.Size())
		if err == nil && r.Index().BaseOffset != base {
			err = fmt.Errorf("%w: index base offset %d, file name says %d", segment.ErrCorrupt, r.Index().BaseOffset, base)
		}
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				_ = f.Close()
				return nil, err
			}
			l.setAside(s, err)
			return nil, nil
		}
		s.idx = r.Index()
		return s, nil
	}
	rec, err := segment.Recover(f, st.Size(), base, l.cfg.IndexIntervalBytes)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if rec.Torn != nil || rec.Index.DataSize != st.Size() {
		l.logger.Warn("hotlog: truncating torn tail of active segment", "path", path,
			"valid_bytes", rec.Index.DataSize, "file_bytes", st.Size(), "next_offset", rec.Index.NextOffset, "reason", rec.Torn)
		if err := f.Truncate(rec.Index.DataSize); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("hotlog: truncate torn segment: %w", err)
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("hotlog: sync truncated segment: %w", err)
		}
	}
	s.size = rec.Index.DataSize
	s.ix = segment.ResumeIndexer(rec.Index, l.cfg.IndexIntervalBytes)
	return s, nil
}

// setAside closes a segment and renames it to .corrupt for inspection.
func (l *Log) setAside(s *seg, why error) {
	l.logger.Error("hotlog: segment set aside", "path", s.path, "err", why)
	_ = s.f.Close()
	if err := os.Rename(s.path, s.path+corruptExt); err != nil {
		l.logger.Error("hotlog: rename corrupt segment", "path", s.path, "err", err)
	}
}

// newActive creates an empty active segment at base and appends it. The caller syncs the directory.
func (l *Log) newActive(base int64) error {
	p := filepath.Join(l.path, segName(base, activeExt))
	f, err := l.cfg.openSegFile(p, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("hotlog: create segment: %w", err)
	}
	l.segs = append(l.segs, &seg{
		base: base, path: p, f: f, created: time.Now(),
		ix:        segment.NewIndexer(base, l.cfg.IndexIntervalBytes),
		oldestTS:  -1,
		takenNext: base,
	})
	return nil
}

// seal writes the index and footer after s's batches, fsyncs (unless lazy), and renames s to
// .seg. The caller syncs the directory.
func (l *Log) seal(s *seg, lazy bool) error {
	ix := s.ix.Index()
	trailer := ix.AppendTrailer(nil)
	if _, err := s.f.WriteAt(trailer, ix.DataSize); err != nil {
		return fmt.Errorf("hotlog: write segment index: %w", err)
	}
	if !lazy {
		t0 := time.Now()
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("hotlog: sync sealed segment: %w", err)
		}
		l.cfg.Metrics.observeFsync(time.Since(t0))
	}
	s.lazy = lazy
	p := filepath.Join(l.path, segName(s.base, sealedExt))
	if err := os.Rename(s.path, p); err != nil {
		return fmt.Errorf("hotlog: rename sealed segment: %w", err)
	}
	s.path, s.sealed, s.idx, s.ix = p, true, ix, nil
	s.size = ix.DataSize + int64(len(trailer))
	l.cfg.Metrics.rolled()
	return nil
}

func (l *Log) setConfig(cfg Config) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	l.mu.Lock()
	changed := l.cfg.SegmentAge != cfg.SegmentAge
	l.cfg.SegmentBytes, l.cfg.SegmentAge, l.cfg.IndexIntervalBytes = cfg.SegmentBytes, cfg.SegmentAge, cfg.IndexIntervalBytes
	unlazy := l.cfg.LazySeal && !cfg.LazySeal
	l.cfg.LazySeal = cfg.LazySeal
	var lazy []*seg
	if unlazy {
		lazy = l.lazySegsLocked()
	}
	l.mu.Unlock()
	if len(lazy) > 0 {
		// Before this log's fsync acknowledges anything again, what it sealed lazily is synced.
		if err := l.syncSealed(lazy); err != nil {
			l.mu.Lock()
			l.failLocked(err)
			l.mu.Unlock()
		}
	}
	if changed {
		l.kickFlush() // the flusher re-arms its age timer by the new age
	}
}

// lazySegsLocked returns the segments sealed without an fsync and marks them synced. Called with
// mu held.
func (l *Log) lazySegsLocked() []*seg {
	var out []*seg
	for _, s := range l.segs {
		if s.lazy {
			out = append(out, s)
			s.lazy = false
		}
	}
	return out
}

// syncSealed fsyncs segs and the directory. The caller holds filesMu (shared or not), so none of
// their files closes meanwhile.
func (l *Log) syncSealed(segs []*seg) error {
	for _, s := range segs {
		t0 := time.Now()
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("hotlog: sync lazily sealed segment: %w", err)
		}
		l.cfg.Metrics.observeFsync(time.Since(t0))
	}
	return localfs.SyncDir(l.path)
}

func (l *Log) active() *seg { return l.segs[len(l.segs)-1] }

// startLocked is the first offset readable here: the logical start, or the first local segment's
// base if local retention removed more.
func (l *Log) startLocked() int64 {
	if len(l.segs) == 0 { // only after a failed Reset
		return l.start
	}
	return max(l.start, l.segs[0].base)
}

// StartOffset is the first offset readable from this log.
func (l *Log) StartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.startLocked()
}

// EndOffset is the next offset to assign.
func (l *Log) EndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// DurableOffset is the offset below which everything is fsynced.
func (l *Log) DurableOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable
}

// Changed returns a channel closed at the next append (or roll, truncation, or Close). Take a new one after
// it fires.
func (l *Log) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changedTaken = true
	return l.changed
}

// notifyChanged wakes pollers. A channel nobody took is reused, saving an allocation per append.
func (l *Log) notifyChanged() {
	if l.changedTaken {
		close(l.changed)
		l.changed = make(chan struct{})
		l.changedTaken = false
	}
}

// DurableChanged returns a channel closed when DurableOffset next moves (an fsync completes, a
// truncation or reset moves it down) or the Log fails or closes. Take a new one after it fires.
// Taking it asks for an fsync of whatever is appended but not yet durable, and while it is held
// every append asks again, so a reader bounded by DurableOffset (a high watermark) is woken soon
// after data arrives even when no producer waits for durability.
func (l *Log) DurableChanged() <-chan struct{} {
	l.mu.Lock()
	ch := l.syncedChan()
	pending := l.durable < l.end
	l.mu.Unlock()
	if pending {
		l.kickFlush()
	}
	return ch
}

// kickFlush asks the flusher for an fsync without waiting.
func (l *Log) kickFlush() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// syncedChan returns the channel the next notifySynced closes.
func (l *Log) syncedChan() <-chan struct{} {
	l.syncedTaken = true
	return l.synced
}

func (l *Log) notifySynced() {
	if l.syncedTaken {
		close(l.synced)
		l.synced = make(chan struct{})
		l.syncedTaken = false
	}
}

// Unrolled describes what waits in the active segment for the next roll or Take: when its first
// batch was appended (by this process; for data recovered at open, the open), the smallest
// first-record timestamp among its batches, as the producers stamped them, and its bytes. ok is
// false when the active segment holds no such batch.
func (l *Log) Unrolled() (firstAppend time.Time, oldestTimestamp, bytes int64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) == 0 {
		return time.Time{}, -1, 0, false
	}
	act := l.active()
	size := act.index().DataSize
	if act.sealed || size <= act.takenSize {
		return time.Time{}, -1, 0, false
	}
	if act.firstAppend.IsZero() {
		return act.created, act.oldestTS, size - act.takenSize, true
	}
	return act.firstAppend, act.oldestTS, size - act.takenSize, true
}

// Take hands what the active segment holds so far over to its reader without sealing it, as a roll
// would: Unrolled then describes only the batches appended after it, and Segments reports the part
// taken (TakenNext, TakenSize). Object durability flushes a partition's new batches this way, read
// with ReadAppend, so that a flush costs no segment file per partition. It returns the log's end.
func (l *Log) Take() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) == 0 || l.closed {
		return l.end
	}
	if act := l.active(); !act.sealed {
		ix := act.index()
		act.takenNext, act.takenSize = ix.NextOffset, ix.DataSize
		act.firstAppend, act.oldestTS = time.Time{}, -1
	}
	return l.end
}

// Segments describes the local segments, oldest first; the last one is the active one.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, 0, len(l.segs))
	for _, s := range l.segs {
		ix := s.index()
		size := s.size
		if !s.sealed {
			size = ix.DataSize
		}
		info := SegmentInfo{
			BaseOffset: s.base, NextOffset: ix.NextOffset, Size: size, Path: s.path,
			Sealed: s.sealed, MaxTimestamp: ix.MaxTimestamp, Created: s.created, TakenNext: s.base,
		}
		if !s.sealed {
			info.TakenNext, info.TakenSize = s.takenNext, s.takenSize
		}
		out = append(out, info)
	}
	return out
}

// Close fsyncs the active segment, stops the flusher and closes the files. Idempotent.
func (l *Log) Close() error {
	err := l.close()
	l.cfg.Metrics.closed(l)
	if l.onClose != nil {
		l.onClose()
	}
	return err
}

func (l *Log) close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stop)
	l.mu.Unlock()
	<-l.done
	l.bg.Wait()

	l.filesMu.Lock()
	defer l.filesMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if lazy := l.lazySegsLocked(); l.err == nil && len(lazy) > 0 {
		if err := l.syncSealed(lazy); err != nil {
			errs = append(errs, fmt.Errorf("hotlog: sync on close: %w", err))
		}
	}
	if l.err == nil && l.durable < l.end {
		if err := l.active().f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("hotlog: sync on close: %w", err))
		} else {
			l.durable = l.end
		}
	}
	for _, s := range l.segs {
		errs = append(errs, s.f.Close())
	}
	// Left closed: pollers and waiters see the Log is gone, now and later.
	close(l.changed)
	close(l.synced)
	return errors.Join(errs...)
}
