package memmeta

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/strata-log/strata/metadata"
)

// CommitOffsets implements metadata.Store.
func (s *Store) CommitOffsets(ctx context.Context, group string, offsets map[metadata.TopicPartition]metadata.OffsetCommit) error {
	if group == "" {
		return fmt.Errorf("metadata: empty group name")
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	g := s.offsets[group]
	if g == nil {
		g = map[metadata.TopicPartition]metadata.OffsetCommit{}
		s.offsets[group] = g
	}
	maps.Copy(g, offsets)
	s.offsetWatchers.notify(group)
	return nil
}

// FetchOffsets implements metadata.Store.
func (s *Store) FetchOffsets(ctx context.Context, group string) (map[metadata.TopicPartition]metadata.OffsetCommit, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := maps.Clone(s.offsets[group])
	if out == nil {
		out = map[metadata.TopicPartition]metadata.OffsetCommit{}
	}
	return out, nil
}

// DeleteOffsets implements metadata.Store.
func (s *Store) DeleteOffsets(ctx context.Context, group string, tps []metadata.TopicPartition) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.offsets[group]; ok {
		s.offsetWatchers.notify(group)
	}
	if len(tps) == 0 {
		delete(s.offsets, group)
		return nil
	}
	g := s.offsets[group]
	for _, tp := range tps {
		delete(g, tp)
	}
	if len(g) == 0 {
		delete(s.offsets, group)
	}
	return nil
}

// ListGroups implements metadata.Store. Names come sorted.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return sortedKeys(s.offsets), nil
}

// AllocateProducerIDs implements metadata.Store.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("metadata: cannot allocate %d producer ids", n)
	}
	if err := s.lock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	first := s.nextPID
	s.nextPID += n
	return first, nil
}

// RegisterNode implements metadata.Store.
func (s *Store) RegisterNode(ctx context.Context, n metadata.Node, ttl time.Duration) error {
	if err := ttlCheck(ttl); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	joined := !s.registeredLocked(n.ID)
	s.nodes[n.ID] = liveNode{node: n, expires: s.now().Add(ttl)}
	if joined {
		s.changedLocked()
	}
	return nil
}

// RefreshNode implements metadata.Store.
func (s *Store) RefreshNode(ctx context.Context, n metadata.Node, ttl time.Duration) error {
	if err := ttlCheck(ttl); err != nil {
		return err
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if !s.registeredLocked(n.ID) {
		return fmt.Errorf("%w: node %d is not registered", metadata.ErrNotFound, n.ID)
	}
	s.nodes[n.ID] = liveNode{node: n, expires: s.now().Add(ttl)}
	return nil
}

// DeregisterNode implements metadata.Store.
func (s *Store) DeregisterNode(ctx context.Context, id int32) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.nodes[id]; ok {
		delete(s.nodes, id)
		s.changedLocked()
	}
	return nil
}

// ListNodes implements metadata.Store.
func (s *Store) ListNodes(ctx context.Context) ([]metadata.Node, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]metadata.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		if s.alive(n.expires) {
			out = append(out, n.node)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Close implements metadata.Store. It is idempotent; later calls other than Close fail. It ends
// every watch and waits for the goroutines behind them.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
