package memmeta

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// GetCatalog implements metadata.Store.
func (s *Store) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.PartitionCatalog{}, err
	}
	defer s.mu.Unlock()
	return s.catalogLocked(tp)
}

// updateCatalog runs fn on a private copy of tp's catalog and stores it if fn reports a change.
func (s *Store) updateCatalog(ctx context.Context, tp metadata.TopicPartition, fn func(c *metadata.PartitionCatalog) (bool, error)) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c, err := s.catalogLocked(tp)
	if err != nil {
		return err
	}
	changed, err := fn(&c)
	if changed {
		// A fenced or conflicting write may still have raised the epoch; keep that.
		s.putCatalogLocked(tp, c)
	}
	return err
}

// RegisterSegment implements metadata.Store.
func (s *Store) RegisterSegment(ctx context.Context, tp metadata.TopicPartition, epoch int32, seg metadata.SegmentRef) error {
	return s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		return c.RegisterSegment(epoch, seg)
	})
}

// ListSegments implements metadata.Store.
func (s *Store) ListSegments(ctx context.Context, tp metadata.TopicPartition, from, to int64) ([]metadata.SegmentRef, error) {
	c, err := s.GetCatalog(ctx, tp)
	if err != nil {
		return nil, err
	}
	return c.SegmentsInRange(from, to), nil
}

// ReplaceSegments implements metadata.Store.
func (s *Store) ReplaceSegments(ctx context.Context, tp metadata.TopicPartition, epoch int32, oldKeys []string, repl []metadata.SegmentRef) error {
	return s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		return c.ReplaceSegments(epoch, oldKeys, repl)
	})
}

// SetLogStartOffset implements metadata.Store.
func (s *Store) SetLogStartOffset(ctx context.Context, tp metadata.TopicPartition, epoch int32, offset int64) ([]metadata.SegmentRef, error) {
	var dropped []metadata.SegmentRef
	err := s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		var changed bool
		var err error
		dropped, changed, err = c.SetLogStartOffset(epoch, offset)
		return changed, err
	})
	return dropped, err
}

// watcher delivers coalesced catalog changes to one WatchCatalogs caller.
type watcher struct {
	mu      sync.Mutex
	pending map[metadata.TopicPartition]struct{}
	wake    chan struct{}
}

func (w *watcher) add(tp metadata.TopicPartition) {
	w.mu.Lock()
	w.pending[tp] = struct{}{}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) take() []metadata.TopicPartition {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]metadata.TopicPartition, 0, len(w.pending))
	for tp := range w.pending {
		out = append(out, tp)
	}
	clear(w.pending)
	slices.SortFunc(out, metadata.TopicPartition.Compare)
	return out
}

func (s *Store) notifyLocked(tp metadata.TopicPartition) {
	for w := range s.watchers {
		w.add(tp)
	}
}

// WatchCatalogs implements metadata.Store. The channel is closed when ctx ends or the store closes.
func (s *Store) WatchCatalogs(ctx context.Context) (<-chan metadata.TopicPartition, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	w := &watcher{pending: map[metadata.TopicPartition]struct{}{}, wake: make(chan struct{}, 1)}
	s.watchers[w] = struct{}{}
	s.wg.Add(1) // under mu, so never after Close's Wait began
	s.mu.Unlock()

	out := make(chan metadata.TopicPartition)
	go func() { // ends with ctx or Close
		defer s.wg.Done()
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.watchers, w)
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
			for _, tp := range w.take() {
				select {
				case out <- tp:
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

func (s *Store) alive(expires time.Time) bool { return s.now().Before(expires) }

// sortedKeys returns the map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
