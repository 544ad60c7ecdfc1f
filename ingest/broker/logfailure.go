package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// A failed hot log (a write, fsync, roll or truncation failed) refuses all further work, and after
// a failed fsync the kernel may have dropped the dirty pages without saying so again, so retrying
// the fsync proves nothing. The broker therefore gives the partition up and starts a new term on a
// log recovered from disk:
//
//	watchLog     sees hotlog.Log.Failed fire
//	logFailed    notes the log's durable offset as its recovery point, stops serving (waiters get
//	             KAFKA_STORAGE_ERROR or NOT_LEADER_OR_FOLLOWER, both retried by clients), stops
//	             tiering, closes the log, releases the lease and triggers a reconcile
//	reconcile    takes the partition again like any free one (this node or another, epoch+1)
//	openTermLog  on this node: reopens the log from disk and cuts it back to the recovery point,
//	             before the leader epoch is judged and producer state rebuilt
//
// Everything below the recovery point was fsynced, so nothing acknowledged is lost; what lies
// beyond it was never acknowledged and may or may not be on disk, so it goes. The recovery point
// is kept in memory until the cut succeeds: a node restarted before that recovers the log as a
// crash would (whatever reached the disk).

// watchLog waits for p's hot log to fail, then hands the partition back. It returns when p is
// dropped or the broker closes. One per led partition, started by takePartition; Close waits.
func (b *Broker) watchLog(p *partition) {
	defer b.watchers.Done()
	select {
	case <-p.log.Failed():
		b.logFailed(p)
	case <-p.gone:
	case <-b.quit:
	}
}

// logFailed stops serving p, whose log failed, and releases its lease so that the partition is
// taken again (with a new epoch) on a log recovered from disk.
func (b *Broker) logFailed(p *partition) {
	cause := p.log.Err()
	durable, end := p.log.DurableOffset(), p.log.EndOffset()
	lease := p.currentLease()
	b.noteFailedLog(p.name, durable)
	b.noteWriteError(cause)
	b.m.logFailures.Inc()
	b.m.leadershipChanges.WithLabelValues("failed_log").Inc()
	b.log.Error("broker: hot log failed; giving the partition up to recover the log from disk", "partition", p.tp,
		"epoch", lease.Epoch, "durable", durable, "end", end, "err", cause)

	p.lifeMu.Lock()
	if !p.dropped {
		p.dropped = true
		b.untrack(p.tp) // before the log goes away
		p.stepDown()
	}
	p.lifeMu.Unlock()
	if err := p.log.Close(); err != nil {
		b.log.Warn("broker: close failed log", "partition", p.tp, "err", err)
	}
	// Release before p leaves b.parts: a reconcile that saw the lease still ours would take it
	// back under the same epoch.
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.LeaseTTL)
	err := b.store.ReleaseLease(ctx, lease)
	cancel()
	if err != nil && !errors.Is(err, metadata.ErrFenced) && !errors.Is(err, metadata.ErrNotFound) {
		// The record still names this node, so the next reconcile takes it here again, under a
		// new epoch like any take; the log is cut back all the same.
		b.log.Warn("broker: release lease of failed log", "partition", p.tp, "err", err)
	}
	b.mu.Lock()
	if b.parts[p.tp] == p {
		delete(b.parts, p.tp)
		b.m.leaders.Dec()
	}
	b.mu.Unlock()
	b.Trigger()
}

// noteFailedLog records the recovery point of a failed log: the lowest durable offset seen if it
// failed more than once before being recovered.
func (b *Broker) noteFailedLog(name string, durable int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.failedLogs[name]; !ok || durable < cur {
		b.failedLogs[name] = durable
	}
}

// forgetFailedLog drops the recovery point of a log that was removed.
func (b *Broker) forgetFailedLog(name string) {
	b.mu.Lock()
	delete(b.failedLogs, name)
	b.mu.Unlock()
}

// openTermLog opens a partition's hot log for a new term. A log that failed — seen by watchLog, or
// found failed here because it failed while no term was watching it — is reopened from disk and
// cut back to its recovery point.
func (b *Broker) openTermLog(tp metadata.TopicPartition, name string, cfg hotlog.Config) (*hotlog.Log, error) {
	log, err := b.dir.LogConfig(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("broker: open log %s: %w", name, err)
	}
	if log.Err() != nil {
		b.noteFailedLog(name, log.DurableOffset())
		_ = log.Close() // the Dir opens it afresh, recovering from disk
		if log, err = b.dir.LogConfig(name, cfg); err != nil {
			return nil, fmt.Errorf("broker: reopen failed log %s: %w", name, err)
		}
	}
	b.mu.RLock()
	point, failed := b.failedLogs[name]
	b.mu.RUnlock()
	if !failed {
		return log, nil
	}
	recovered := log.EndOffset()
	if err := log.TruncateTo(point); err != nil {
		_ = log.Close() // the next attempt starts again from disk
		return nil, fmt.Errorf("broker: cut failed log %s back to %d: %w", name, point, err)
	}
	b.forgetFailedLog(name)
	b.log.Info("broker: failed hot log recovered from disk", "partition", tp, "durable", point,
		"recovered_end", recovered, "end", log.EndOffset())
	return log, nil
}
