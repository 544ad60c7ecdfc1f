package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Handoff: moving a led partition to another node without losing an acknowledged record. The
// placement (rendezvous hashing over live nodes) gives every partition one preferred node; when a
// node joins, the partitions it is preferred for move to it from their current leaders, and on a
// clean shutdown every partition is handed over before the lease is released:
//
//	refuse new appends (NOT_LEADER_OR_FOLLOWER; producers refresh metadata and retry elsewhere)
//	wait for appends in progress, note the log end
//	wait for the fsync of everything below it, roll the active segment, and wait until the
//	    Uploader has registered it all in the catalog (tiered end = log end)
//	step down, release the lease
//
// The new leader takes the lease under the next epoch and starts its hot log at the tiered end,
// which is now the old log end: nothing acknowledged stays behind on the old node's disk. If the
// tail cannot be tiered within HandoffTimeout (object storage down), the partition resumes taking
// appends here and the move is tried again later. Without a Tiering there is nowhere to put the
// tail, so partitions never move while their leader lives.

// handoffParallelism bounds the handoffs in flight.
const handoffParallelism = 16

// movable reports whether led partitions may move to node want: rebalancing is on, there is a
// Tiering to carry the hot tails, and want has been seen live (a node flapping in and out does not
// drag partitions back and forth). wait is how long until want has been seen for RebalanceDelay
// (0: now); partitions move only at wait 0 and while this node's registration is live.
func (b *Broker) movable(want int32, seen map[int32]time.Time, now time.Time) (wait time.Duration, ok bool) {
	first, known := seen[want]
	if b.cfg.Sticky || b.cfg.Tiering == nil || !known {
		return 0, false
	}
	return max(0, first.Add(b.cfg.RebalanceDelay).Sub(now)), true
}

// triggerAfter asks for a reconcile d from now, unless one is already due sooner.
func (b *Broker) triggerAfter(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	at := time.Now().Add(d)
	if b.wakeTimer != nil && !b.wakeAt.After(at) && b.wakeAt.After(time.Now()) {
		return
	}
	if b.wakeTimer != nil {
		b.wakeTimer.Stop()
	}
	b.wakeAt = at
	b.wakeTimer = time.AfterFunc(d, b.Trigger)
}

// releasedSince reports whether this node is releasing tp, or finished releasing it at or after
// t: a reconcile that listed the leases before the release took effect still sees the record
// naming this node, and must not take it back. Entries older than a minute are forgotten.
func (b *Broker) releasedSince(tp metadata.TopicPartition, t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, at := range b.released {
		if !at.IsZero() && time.Since(at) > time.Minute {
			delete(b.released, k)
		}
	}
	at, ok := b.released[tp]
	return ok && (at.IsZero() || !at.Before(t))
}

// handOffSome starts handoffs of parts, as many as free slots allow; the rest wait for a later
// reconcile, which each finished handoff triggers.
func (b *Broker) handOffSome(parts []*partition, nodes []metadata.Node) {
	for _, p := range parts {
		if p.handingOff.Load() {
			continue
		}
		select {
		case b.handoffSlots <- struct{}{}:
		default:
			return
		}
		p.handingOff.Store(true)
		to := rendezvous(p.tp, nodes)
		b.handoffs.Add(1)
		go func() {
			defer b.handoffs.Done()
			defer func() { <-b.handoffSlots }()
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.HandoffTimeout)
			defer cancel()
			if err := b.handOff(ctx, p, "handed_off"); err != nil {
				b.m.handoffFailures.Inc()
				b.log.Warn("broker: handoff failed; keeping the partition for now", "partition", p.tp, "to", to, "err", err)
				return
			}
			b.log.Info("broker: handed partition off", "partition", p.tp, "to", to, "epoch", p.currentLease().Epoch)
			b.Trigger()
		}()
	}
}

// handOff tiers p's hot tail and gives the partition up (see the comment at the top). On failure
// the partition takes appends again. p.handingOff must be set by the caller.
func (b *Broker) handOff(ctx context.Context, p *partition, reason string) error {
	if err := b.tierTail(ctx, p); err != nil {
		p.handingOff.Store(false)
		return err
	}
	b.release(ctx, p, reason)
	return nil
}

// tierTail makes every record appended to p durable in the catalog. Appends must be refused
// already (handingOff).
func (b *Broker) tierTail(ctx context.Context, p *partition) error {
	p.mu.Lock() // appends in progress hold it
	end := p.log.EndOffset()
	p.mu.Unlock()
	if b.cfg.Tiering == nil {
		return errors.New("no tiering to carry the hot tail")
	}
	if b.cfg.Tiering.LatestTiered(p.tp) >= end {
		return nil
	}
	if err := p.log.WaitDurable(ctx, end); err != nil {
		return fmt.Errorf("fsync to %d: %w", end, err)
	}
	if err := p.log.Roll(); err != nil {
		return fmt.Errorf("roll at %d: %w", end, err)
	}
	if err := b.cfg.Tiering.WaitTiered(ctx, p.tp, end); err != nil {
		return fmt.Errorf("tier to %d: %w", end, err)
	}
	return nil
}

// release stops serving p and gives its lease up, so that the node the placement prefers takes it
// at once.
func (b *Broker) release(ctx context.Context, p *partition, reason string) {
	lease := p.currentLease()
	b.mu.Lock()
	b.released[p.tp] = time.Time{} // in progress: no reconcile takes it back meanwhile
	b.mu.Unlock()
	b.dropPartition(ctx, p, false)
	b.m.leadershipChanges.WithLabelValues(reason).Inc()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.LeaseTTL)
	defer cancel()
	if err := b.store.ReleaseLease(ctx, lease); err != nil && !errors.Is(err, metadata.ErrFenced) &&
		!errors.Is(err, metadata.ErrNotFound) {
		b.log.Warn("broker: release lease", "partition", p.tp, "err", err)
	}
	b.mu.Lock()
	b.released[p.tp] = time.Now()
	b.mu.Unlock()
}
