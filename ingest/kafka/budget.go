package kafka

import (
	"context"
	"sync"
)

// byteBudget bounds the request bytes held in memory by the whole server: a reader reserves a
// frame's size before allocating it and the reservation is returned when the request has been
// handled. Waiters are served in arrival order. A frame larger than the whole budget (but within
// MaxRequestBytes) is admitted when nothing else is held, so it cannot wait forever.
type byteBudget struct {
	mu      sync.Mutex
	max     int64
	used    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newByteBudget(max int64) *byteBudget { return &byteBudget{max: max} }

func (b *byteBudget) fits(n int64) bool { return b.used+n <= b.max || b.used == 0 }

// acquire reserves n bytes, waiting until they fit or ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.fits(n) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				b.mu.Unlock()
				return ctx.Err()
			}
		}
		b.mu.Unlock()
		b.release(n) // granted while we were giving up
		return ctx.Err()
	}
}

// release returns n bytes and admits waiters in order while they fit.
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	for len(b.waiters) > 0 && b.fits(b.waiters[0].n) {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.used += w.n
		close(w.ready)
	}
}
