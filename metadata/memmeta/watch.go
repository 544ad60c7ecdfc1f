package memmeta

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/strata-log/strata/metadata"
)

// watcher delivers coalesced changes (catalogs by partition, offsets by group) to one watch.
type watcher[K comparable] struct {
	mu      sync.Mutex
	pending map[K]struct{}
	wake    chan struct{}
}

func (w *watcher[K]) add(k K) {
	w.mu.Lock()
	w.pending[k] = struct{}{}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the pending keys, in cmp's order.
func (w *watcher[K]) take(cmp func(a, b K) int) []K {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]K, 0, len(w.pending))
	for k := range w.pending {
		out = append(out, k)
	}
	clear(w.pending)
	slices.SortFunc(out, cmp)
	return out
}

// watchers is the set of one kind of watch. Guarded by Store.mu.
type watchers[K comparable] map[*watcher[K]]struct{}

// notify reports k to every watch of the set. Called with s.mu held.
func (set watchers[K]) notify(k K) {
	for w := range set {
		w.add(k)
	}
}

// watch adds a watch to *set and returns its channel, closed when ctx ends or the store closes.
// cmp orders the keys of one delivery.
func watch[K comparable](ctx context.Context, s *Store, set *watchers[K], cmp func(a, b K) int) (<-chan K, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	w := &watcher[K]{pending: map[K]struct{}{}, wake: make(chan struct{}, 1)}
	if *set == nil {
		*set = watchers[K]{}
	}
	(*set)[w] = struct{}{}
	s.wg.Add(1) // under mu, so never after Close's Wait began
	s.mu.Unlock()

	out := make(chan K)
	go func() { // ends with ctx or Close
		defer s.wg.Done()
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(*set, w)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			case <-s.done:
				return
			}
			for _, k := range w.take(cmp) {
				select {
				case out <- k:
				case <-ctx.Done():
					return
				case <-s.done:
					return
				}
			}
		}
	}()
	return out, nil
}

// WatchCatalogs implements metadata.Store. The channel is closed when ctx ends or the store closes.
func (s *Store) WatchCatalogs(ctx context.Context) (<-chan metadata.TopicPartition, error) {
	return watch(ctx, s, &s.catalogWatchers, metadata.TopicPartition.Compare)
}

// WatchOffsets implements metadata.Store. The channel is closed when ctx ends or the store closes.
func (s *Store) WatchOffsets(ctx context.Context) (<-chan string, error) {
	return watch(ctx, s, &s.offsetWatchers, strings.Compare)
}
