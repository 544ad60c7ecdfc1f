package memmeta

import "context"

// signals is a set of watch channels, each with room for one pending signal: a change signals
// every channel, and a channel with a signal pending keeps that one. Guarded by Store.mu.
type signals map[chan struct{}]struct{}

// watchLocked adds a channel to *set and returns it; the channel is removed and closed when ctx
// ends or the store closes. Called with s.mu held, so never after Close's Wait began.
func (s *Store) watchLocked(ctx context.Context, set *signals) <-chan struct{} {
	out := make(chan struct{}, 1)
	if *set == nil {
		*set = signals{}
	}
	(*set)[out] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.mu.Lock()
		delete(*set, out)
		close(out) // under mu: signal never sends on it after this
		s.mu.Unlock()
	}()
	return out
}

// signal signals every channel of set without blocking. Called with s.mu held.
func (set signals) signal() {
	for ch := range set {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
