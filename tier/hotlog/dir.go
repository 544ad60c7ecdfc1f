package hotlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/strata-log/strata/tier/localfs"
)

// Errors callers branch on.
var (
	ErrLocked           = errors.New("hotlog: directory locked by another process")
	ErrOffsetOutOfRange = errors.New("hotlog: offset out of range")
	ErrClosed           = errors.New("hotlog: closed")
	// ErrTruncated is returned by WaitDurable when the offsets waited for were truncated away.
	ErrTruncated = errors.New("hotlog: offsets truncated")
)

const lockName = "LOCK"

// Dir is a node's hot-log root. It holds an exclusive flock on root/LOCK while open, and one
// subdirectory per partition log. Safe for concurrent use.
type Dir struct {
	path string
	cfg  Config
	lock *os.File

	mu      sync.Mutex
	logs    map[string]*Log
	opening map[string]chan struct{} // closed when that log's open finishes
	closed  bool
}

// OpenDir creates path if needed and locks it. ErrLocked if another process (or another open Dir
// in this process) holds it.
func OpenDir(path string, cfg Config) (*Dir, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("hotlog: create %s: %w", path, err)
	}
	f, err := os.OpenFile(filepath.Join(path, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hotlog: open LOCK: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s", err, path)
	}
	return &Dir{path: path, cfg: cfg.withDefaults(), lock: f, logs: make(map[string]*Log), opening: make(map[string]chan struct{})}, nil
}

// Log opens or creates the partition log in subdirectory name, recovering it on first open. Later
// calls return the same *Log until it is closed, leaving its settings as they are. Different logs
// open (and recover) in parallel.
func (d *Dir) Log(name string) (*Log, error) { return d.open(name, Config{}, false) }

// LogConfig is Log with per-log settings; its zero fields take the Dir's. Calling it for a log that
// is already open applies the new SegmentBytes, SegmentAge and IndexIntervalBytes to it.
func (d *Dir) LogConfig(name string, cfg Config) (*Log, error) { return d.open(name, cfg, true) }

func (d *Dir) open(name string, cfg Config, apply bool) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	if err := d.waitOpening(name); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	cfg = cfg.inherit(d.cfg)
	if l, ok := d.logs[name]; ok {
		d.mu.Unlock()
		if apply {
			l.setConfig(cfg)
		}
		return l, nil
	}
	// Recover outside d.mu so that many logs can open in parallel; later callers for this name wait.
	opened := make(chan struct{})
	d.opening[name] = opened
	d.mu.Unlock()
	l, err := openLog(filepath.Join(d.path, name), name, cfg)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.opening, name)
	close(opened)
	if err != nil {
		return nil, err
	}
	if d.closed {
		_ = l.close()
		return nil, ErrClosed
	}
	l.onClose = func() {
		d.mu.Lock()
		if d.logs[name] == l {
			delete(d.logs, name)
		}
		d.mu.Unlock()
	}
	d.logs[name] = l
	return l, nil
}

// waitOpening waits, with d.mu held (and released while waiting), until no goroutine is opening
// name. ErrClosed if the Dir is closed.
func (d *Dir) waitOpening(name string) error {
	for {
		if d.closed {
			return ErrClosed
		}
		ch, busy := d.opening[name]
		if !busy {
			return nil
		}
		d.mu.Unlock()
		<-ch
		d.mu.Lock()
	}
}

// Names lists the partition logs present on disk, sorted.
func (d *Dir) Names() []string {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		d.cfg.Logger.Warn("hotlog: list dir", "path", d.path, "err", err)
		return nil
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && validName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Remove closes the partition log (if open) and deletes its files.
func (d *Dir) Remove(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.waitOpening(name); err != nil {
		return err
	}
	if l, ok := d.logs[name]; ok {
		delete(d.logs, name)
		_ = l.close() // the files go anyway
	}
	if err := os.RemoveAll(filepath.Join(d.path, name)); err != nil {
		return fmt.Errorf("hotlog: remove %s: %w", name, err)
	}
	return localfs.SyncDir(d.path)
}

// Close closes every open log and releases the LOCK. Idempotent.
func (d *Dir) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for len(d.opening) > 0 { // an open in progress sees closed and closes its log
		var ch chan struct{}
		for _, c := range d.opening {
			ch = c
			break
		}
		d.mu.Unlock()
		<-ch
		d.mu.Lock()
	}
	logs := d.logs
	d.logs = nil
	d.mu.Unlock()
	var errs []error
	for _, l := range logs {
		errs = append(errs, l.close())
	}
	errs = append(errs, d.lock.Close()) // closing the descriptor releases the flock
	return errors.Join(errs...)
}

func validName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 || name == lockName ||
		strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, ".") {
		return fmt.Errorf("hotlog: invalid log name %q", name)
	}
	return nil
}
