package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-log/strata/metadata"
)

// The node's liveness: one registration in the metadata store, refreshed every RenewInterval,
// keeps every partition this node leads (a lease is live while its holder is registered). See the
// package doc, Leadership.

// heartbeatLoop refreshes the node registration every RenewInterval.
func (b *Broker) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.heartbeat(ctx); err != nil && ctx.Err() == nil {
			b.m.heartbeatFailures.Inc()
			b.log.Warn("broker: refresh node registration", "err", err, "alive_for", time.Until(time.Unix(0, b.alive.Load())))
		}
	}
}

// heartbeat refreshes the registration and moves the alive deadline to the refresh's start +
// LeaseTTL: the store's TTL counts from when the write reached it, which is later. The refresh
// succeeds only if the registration never lapsed (metadata.Nodes.RefreshNode), so a refresh that
// comes after the deadline (a stalled process, a slow store) only resumes service: no other node
// can have taken a partition meanwhile. If the registration did lapse, every led partition is
// dropped (it had stopped serving at the deadline anyway) and the node registers again; the next
// reconcile takes the partitions whose records still name it, under new epochs.
func (b *Broker) heartbeat(ctx context.Context) error {
	b.beatMu.Lock()
	defer b.beatMu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.LeaseTTL)
	defer cancel()
	b.mu.RLock()
	n := metadata.Node{ID: b.cfg.NodeID, KafkaAddr: b.cfg.KafkaAddr, HTTPAddr: b.cfg.HTTPAddr,
		Rack: b.cfg.Rack, StartedAt: b.started}
	b.mu.RUnlock()
	err := b.store.RefreshNode(ctx, n, b.cfg.LeaseTTL)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		if b.alive.Load() != 0 {
			b.lapsed(ctx)
		}
		if err := b.store.RegisterNode(ctx, n, b.cfg.LeaseTTL); err != nil {
			return fmt.Errorf("broker: register node %d: %w", b.cfg.NodeID, err)
		}
	case err != nil:
		return fmt.Errorf("broker: refresh node %d: %w", b.cfg.NodeID, err)
	}
	if next := start.Add(b.cfg.LeaseTTL).UnixNano(); next > b.alive.Load() {
		b.alive.Store(next)
	}
	return nil
}

// lapsed drops every led partition after the registration lapsed, and begins a new term: a take
// that began before the lapse does not install its partition (takePartition checks the term).
func (b *Broker) lapsed(ctx context.Context) {
	b.term.Add(1)
	parts := b.ledSnapshot()
	b.log.Warn("broker: node registration lapsed; stepping down from every partition", "partitions", len(parts))
	b.m.leadershipChanges.WithLabelValues("lapsed").Add(float64(len(parts)))
	for _, p := range parts {
		b.dropPartition(context.WithoutCancel(ctx), p, false)
	}
	b.Trigger()
}

// aliveNow reports whether the registration is surely live: partitions may be served and taken.
func (b *Broker) aliveNow() bool { return time.Now().UnixNano() < b.alive.Load() }

// ledSnapshot returns the partitions this node leads now.
func (b *Broker) ledSnapshot() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	parts := make([]*partition, 0, len(b.parts))
	for _, p := range b.parts {
		parts = append(parts, p)
	}
	return parts
}

// watchLoop triggers a reconcile on every change the store reports (metadata.LeadershipWatcher: a
// node joined or left, a lease was released, a topic changed), so a dead node's partitions are taken
// the moment its registration lapses instead of at the next poll. If the watch ends early it is
// restarted.
func (b *Broker) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := b.store.WatchLeadership(ctx)
		if err != nil {
			b.log.Warn("broker: watch leadership changes; polling only until it works", "err", err)
		} else {
			for range ch {
				b.Trigger()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
