package natsmeta

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
)

// A write that meets a full disk leaves JetStream unusable until it is restarted: the stream's
// file store keeps the write error and fails every later write with it, after the disk has room
// again (and on some errors JetStream switches itself off). Every metadata write of a node with
// embedded metadata would then time out until the process restarts. Recovery restarts JetStream in
// place, which reopens the streams from their files:
//
//	WatchStorage        the server's log goes to the node's logger, and a storage failure
//	                    ("failed to store a msg", out of space, permission denied) is noted
//	RecoverJetStream    if JetStream is off, or a storage failure was noted since the last
//	                    recovery, JetStream is shut down and started again with the config
//	                    (limits, sync policy, store dir) it had; the broker calls it when its
//	                    data dir has room again and every 10 s
//
// A clustered embedded server is left alone: its peers keep the metadata and it catches up on
// restart.

// storageWatch is the recovery state of one embedded server.
type storageWatch struct {
	failed atomic.Bool
	mu     sync.Mutex
	cfg    *server.JetStreamConfig // as last seen enabled
}

// WatchStorage sends the server's warnings and errors to log and notes storage failures for
// RecoverJetStream. It remembers JetStream's config for a restart.
func (e *Embedded) WatchStorage(log *slog.Logger) {
	w := &e.storage
	w.remember(e.srv)
	e.srv.SetLogger(&natsLog{log: log, w: w}, false, false)
}

func (w *storageWatch) remember(srv *server.Server) {
	if c := srv.JetStreamConfig(); c != nil {
		w.mu.Lock()
		w.cfg = c
		w.mu.Unlock()
	}
}

// StorageFailed reports whether a storage failure was noted since the last recovery.
func (e *Embedded) StorageFailed() bool { return e.storage.failed.Load() }

// JetStreamEnabled reports whether the embedded server's JetStream is on.
func (e *Embedded) JetStreamEnabled() bool { return e.srv.JetStreamEnabled() }

// RecoverJetStream restarts JetStream if it is off or met a storage failure since the last
// recovery; restarted says whether it did.
func (e *Embedded) RecoverJetStream() (restarted bool, err error) {
	w := &e.storage
	if e.srv.JetStreamEnabled() {
		w.remember(e.srv)
		if !w.failed.Load() {
			return false, nil
		}
	}
	if !e.srv.Running() {
		return false, errors.New("natsmeta: embedded server is shut down")
	}
	if e.srv.ClusterName() != "" {
		return false, nil
	}
	w.mu.Lock()
	c := w.cfg
	w.mu.Unlock()
	if c == nil {
		return false, errors.New("natsmeta: JetStream's config was never seen; restart the node")
	}
	w.failed.Store(false) // failures from here on call for another restart
	if e.srv.JetStreamEnabled() {
		if err := e.srv.ShutdownJetStream(); err != nil {
			return false, fmt.Errorf("natsmeta: stop JetStream: %w", err)
		}
	}
	// EnableJetStream appends its own "jetstream" directory to StoreDir.
	cfg := &server.JetStreamConfig{MaxMemory: c.MaxMemory, MaxStore: c.MaxStore, StoreDir: filepath.Dir(c.StoreDir),
		SyncInterval: c.SyncInterval, SyncAlways: c.SyncAlways, Domain: c.Domain, UniqueTag: c.UniqueTag}
	if err := e.srv.EnableJetStream(cfg); err != nil {
		w.failed.Store(true)
		return false, fmt.Errorf("natsmeta: restart JetStream: %w", err)
	}
	return true, nil
}

// natsLog is the embedded server's logger: warnings and errors to the node's log, storage
// failures noted.
type natsLog struct {
	log *slog.Logger
	w   *storageWatch
}

func (l *natsLog) Noticef(string, ...any) {}
func (l *natsLog) Debugf(string, ...any)  {}
func (l *natsLog) Tracef(string, ...any)  {}
func (l *natsLog) Warnf(f string, a ...any) {
	l.log.Warn("natsmeta: embedded server: " + fmt.Sprintf(f, a...))
}
func (l *natsLog) Fatalf(f string, a ...any) { l.Errorf(f, a...) }
func (l *natsLog) Errorf(f string, a ...any) {
	msg := fmt.Sprintf(f, a...)
	if storageFailure(msg) {
		if !l.w.failed.Swap(true) {
			l.log.Error("natsmeta: embedded server cannot write its files; JetStream restarts once there is room", "err", msg)
		}
		return
	}
	l.log.Error("natsmeta: embedded server: " + msg)
}

func storageFailure(msg string) bool {
	for _, s := range []string{"failed to store", "no space left", "out of", "permission denied", "resources"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
