package memmeta

import (
	"context"
	"fmt"
	"sort"

	"github.com/strata-log/strata/metadata"
)

// GetTransaction implements metadata.Store.
func (s *Store) GetTransaction(ctx context.Context, id string) (metadata.Transaction, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Transaction{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.txns[id]
	if !ok {
		return metadata.Transaction{}, fmt.Errorf("%w: transaction %q", metadata.ErrNotFound, id)
	}
	return t.Clone(), nil
}

// UpdateTransaction implements metadata.Store. fn runs under the store's mutex, so exactly once.
func (s *Store) UpdateTransaction(ctx context.Context, id string, fn func(t *metadata.Transaction, found bool) error) (metadata.Transaction, error) {
	if id == "" {
		return metadata.Transaction{}, fmt.Errorf("metadata: empty transactional id")
	}
	if err := s.lock(ctx); err != nil {
		return metadata.Transaction{}, err
	}
	defer s.mu.Unlock()
	cur, found := s.txns[id]
	next := cur.Clone()
	if !found {
		next = metadata.Transaction{ID: id}
	}
	if err := fn(&next, found); err != nil {
		return metadata.Transaction{}, err
	}
	if next.ID != id {
		return metadata.Transaction{}, fmt.Errorf("metadata: UpdateTransaction may not change the id of %q", id)
	}
	if s.txns == nil {
		s.txns = map[string]metadata.Transaction{}
	}
	s.txns[id] = next.Clone()
	return next, nil
}

// ListTransactions implements metadata.Store.
func (s *Store) ListTransactions(ctx context.Context) ([]metadata.Transaction, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]metadata.Transaction, 0, len(s.txns))
	for _, t := range s.txns {
		out = append(out, t.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
