package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A full data dir must not cost data, leadership or the metadata store, and must say so. The
// broker watches the free space of Config.DataDir:
//
//	free < DiskReserve     (read every second, and after every max(DiskReserve/8, 1 MiB) appended)
//	                       full: appends are refused with KAFKA_STORAGE_ERROR before they touch a
//	                       log (clients retry; no log fails, so no partition changes leader),
//	                       /readyz is not ready (DiskErr), strata_broker_disk_full is 1, one log
//	                       line; the Tiering is told (tier.Uploader.SetDiskPressure) to roll what is
//	                       pending, tier it and drop every local copy already in object storage
//	a write's ENOSPC       the same, at once (the hot log itself failed and is recovered as any
//	                       failed log; the reserve keeps this rare)
//	free >= resume level   not full any more, logged; the Tiering goes back to local retention
//
// The reserve leaves room for what must still be written while appends wait: catalog and lease
// records of the embedded metadata store, epoch files, rolls. The resume level lies above it
// (hysteresis) so that a disk hovering at the line does not flap.

// diskCheckInterval is how often the data dir's free space is read.
const diskCheckInterval = time.Second

// diskGuard tracks whether the data dir is full. Safe for concurrent use.
type diskGuard struct {
	path    string
	reserve int64
	free    func(path string) (int64, error) // statfs; replaced in tests

	mu     sync.Mutex
	full   bool
	reason string

	// written counts bytes appended since the last check: appends check again once it passes
	// checkEvery, so that a fast producer cannot run past the reserve between two ticks.
	written  atomic.Int64
	checking sync.Mutex
}

// checkEvery is how many appended bytes trigger a check between ticks.
func (g *diskGuard) checkEvery() int64 {
	return max(g.reserve/8, 1<<20)
}

// freeBytes is the space an unprivileged writer may still use on the file system holding path.
func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// resumeAt is the free space at which a full data dir counts as usable again.
func (g *diskGuard) resumeAt() int64 {
	return g.reserve + max(g.reserve/4, 4<<20)
}

// err is nil unless the data dir is full; then an error saying why.
func (g *diskGuard) err() error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.full {
		return nil
	}
	return errors.New(g.reason)
}

// set records the state; it reports whether it changed.
func (g *diskGuard) set(full bool, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := g.full != full
	g.full, g.reason = full, reason
	return changed
}

// DiskErr is nil unless the data dir is full (see disk.go): then it says so, for /readyz.
func (b *Broker) DiskErr() error {
	return b.disk.err()
}

// checkDisk reads the free space once and moves between full and not full.
func (b *Broker) checkDisk() {
	g := b.disk
	g.checking.Lock()
	defer g.checking.Unlock()
	g.written.Store(0)
	free, err := g.free(g.path)
	if err != nil {
		b.log.Warn("broker: cannot read the data dir's free space", "path", g.path, "err", err)
		return
	}
	b.m.diskFree.Set(float64(free))
	switch full := g.err() != nil; {
	case !full && free < g.reserve:
		b.diskFull(fmt.Sprintf("data dir full: %d bytes free, below the reserve of %d (--disk-reserve)", free, g.reserve), free)
	case full && free >= g.resumeAt():
		if g.set(false, "") {
			b.m.diskFullGauge.Set(0)
			b.setDiskPressure(false)
			b.log.Info("broker: data dir has room again; accepting produce requests", "path", g.path, "free", free)
		}
	}
}

// diskFull enters the full state (logged once per episode).
func (b *Broker) diskFull(reason string, free int64) {
	if !b.disk.set(true, reason) {
		return
	}
	b.m.diskFullGauge.Set(1)
	b.m.diskFullEpisodes.Inc()
	b.setDiskPressure(true)
	b.log.Error("broker: "+reason+"; refusing produce requests (KAFKA_STORAGE_ERROR) and freeing local copies of tiered data until it has room",
		"path", b.disk.path, "free", free, "resume_at", b.disk.resumeAt())
}

// noteWriteError enters the full state when err says the device is out of space.
func (b *Broker) noteWriteError(err error) {
	if b.disk == nil || !errors.Is(err, syscall.ENOSPC) {
		return
	}
	free, _ := b.disk.free(b.disk.path)
	b.diskFull(fmt.Sprintf("data dir full: a write failed with %v", err), free)
}

// checkDiskForAppend refuses an append of n bytes while the data dir is full.
func (b *Broker) checkDiskForAppend(n int) error {
	if g := b.disk; g != nil && g.written.Add(int64(n)) >= g.checkEvery() && g.checking.TryLock() {
		g.checking.Unlock()
		b.checkDisk()
	}
	if err := b.disk.err(); err != nil {
		b.m.produceErrors.WithLabelValues("disk_full").Inc()
		return kafkaErr(kerr.KafkaStorageError, "%v", err)
	}
	return nil
}

// setDiskPressure tells the Tiering, if it listens, to free local space.
func (b *Broker) setDiskPressure(on bool) {
	if t, ok := b.cfg.Tiering.(interface{ SetDiskPressure(bool) }); ok {
		t.SetDiskPressure(on)
	}
}

// watchDisk checks the data dir every diskCheckInterval until Close.
func (b *Broker) watchDisk() {
	defer b.watchers.Done()
	t := time.NewTicker(diskCheckInterval)
	defer t.Stop()
	for {
		b.checkDisk()
		select {
		case <-b.quit:
			return
		case <-t.C:
		}
	}
}
