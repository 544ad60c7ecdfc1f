package memmeta

import (
	"context"
	"sort"
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
