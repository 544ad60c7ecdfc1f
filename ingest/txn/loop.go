package txn

import (
	"context"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Start runs the timeout loop until Close: every CheckInterval it aborts, at a bumped epoch, the
// ongoing transactions this node coordinates that outlived their timeout, and completes the ones
// left preparing (a failed marker write, or a coordinator that died between deciding and
// completing). Start after Close, or twice, does nothing.
func (c *Coordinator) Start() {
	c.startOnce.Do(func() {
		go func() { // owned by c: Close stops and waits for it
			defer close(c.done)
			t := time.NewTicker(c.cfg.CheckInterval)
			defer t.Stop()
			for {
				select {
				case <-c.stop:
					return
				case <-t.C:
					ctx, cancel := context.WithCancel(context.Background())
					go func() {
						select {
						case <-c.stop:
							cancel()
						case <-ctx.Done():
						}
					}()
					c.sweep(ctx)
					cancel()
				}
			}
		}()
	})
}

// Close stops the loop and waits for it. It is idempotent.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		started := true
		c.startOnce.Do(func() { started = false })
		if started {
			<-c.done
		}
	})
	return nil
}

// sweep is one pass of the loop.
func (c *Coordinator) sweep(ctx context.Context) {
	ts, err := c.cfg.Store.ListTransactions(ctx)
	if err != nil {
		c.log.Warn("txn: list transactions", "err", err)
		return
	}
	now := c.cfg.Now()
	for _, t := range ts {
		if ctx.Err() != nil {
			return
		}
		if !c.due(t, now) || !c.cfg.IsCoordinator(t.ID) {
			continue
		}
		c.expire(ctx, t.ID, now)
	}
}

// due reports whether the loop should act on t at now.
func (c *Coordinator) due(t metadata.Transaction, now time.Time) bool {
	switch {
	case t.State == metadata.TxnOngoing:
		return now.Sub(t.StartedAt) > time.Duration(t.TimeoutMs)*time.Millisecond
	case t.State.Preparing():
		// Give the EndTxn that decided it time to finish on its own.
		return now.Sub(t.UpdatedAt) > c.cfg.CheckInterval
	}
	return false
}

// expire aborts or completes id if it is still due once its lock is held.
func (c *Coordinator) expire(ctx context.Context, id string, now time.Time) {
	defer c.lock(id)()
	t, found, err := c.get(ctx, id)
	if err != nil || !found || !c.due(t, now) {
		return
	}
	if t.State == metadata.TxnOngoing {
		c.log.Info("txn: aborting a timed-out transaction", "transactional_id", id, "producer_id", t.ProducerID,
			"epoch", t.ProducerEpoch, "timeout_ms", t.TimeoutMs)
	}
	if _, err := c.finish(ctx, t); err != nil {
		c.log.Warn("txn: finishing a transaction", "transactional_id", id, "state", t.State, "err", err)
	}
}
