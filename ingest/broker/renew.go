package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// renewParallelism bounds the lease renewals in flight in one pass.
const renewParallelism = 16

// renewLoop refreshes the node registration and renews held leases every RenewInterval.
func (b *Broker) renewLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.register(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("broker: refresh node registration", "err", err)
		}
		b.renewAll(ctx, b.ledSnapshot())
	}
}

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

// renewAll renews the leases of parts in parallel. A lease found lost (fenced, lapsed) makes the
// partition step down at once and triggers a reconcile; other errors leave the partition to its
// local deadline.
func (b *Broker) renewAll(ctx context.Context, parts []*partition) {
	b.renewMu.Lock()
	defer b.renewMu.Unlock()
	sem := make(chan struct{}, renewParallelism)
	var wg sync.WaitGroup
	for _, p := range parts {
		if p.stopped.Load() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			b.renew(ctx, p)
		}()
	}
	wg.Wait()
}

func (b *Broker) renew(ctx context.Context, p *partition) {
	// A renewal slower than the TTL is worthless: the lease has lapsed by then.
	ctx, cancel := context.WithTimeout(ctx, b.cfg.LeaseTTL)
	defer cancel()
	start := time.Now()
	l, err := b.store.RenewLease(ctx, p.currentLease(), b.cfg.LeaseTTL)
	switch {
	case errors.Is(err, metadata.ErrFenced) || errors.Is(err, metadata.ErrNotFound):
		b.log.Warn("broker: lost partition lease; stepping down", "partition", p.tp, "err", err)
		b.dropPartition(context.WithoutCancel(ctx), p, false)
		b.Trigger()
	case err != nil:
		b.log.Warn("broker: renew lease", "partition", p.tp, "err", err)
	default:
		p.setLease(l, start.Add(b.cfg.LeaseTTL))
	}
}

// watchLoop triggers a reconcile on every lease or node departure the store reports
// (metadata.DepartureWatcher), so a dead node's partitions are taken the moment its leases lapse.
// If the watch ends early it is restarted.
func (b *Broker) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := b.store.WatchDepartures(ctx)
		if err != nil {
			b.log.Warn("broker: watch departures; polling only until it works", "err", err)
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
