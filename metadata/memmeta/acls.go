package memmeta

import (
	"context"
	"slices"

	"github.com/strata-log/strata/metadata"
)

// CreateACLs implements metadata.ACLs.
func (s *Store) CreateACLs(ctx context.Context, acls []metadata.ACL) error {
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.acls == nil {
		s.acls = map[metadata.ACL]struct{}{}
	}
	changed := false
	for _, a := range acls {
		if _, ok := s.acls[a]; !ok {
			s.acls[a], changed = struct{}{}, true
		}
	}
	if changed {
		s.aclsChangedLocked()
	}
	return nil
}

// DeleteACLs implements metadata.ACLs.
func (s *Store) DeleteACLs(ctx context.Context, f metadata.ACLFilter) ([]metadata.ACL, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []metadata.ACL
	for a := range s.acls {
		if f.Matches(a) {
			delete(s.acls, a)
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		s.aclsChangedLocked()
	}
	slices.SortFunc(out, metadata.CompareACLs)
	return out, nil
}

// ListACLs implements metadata.ACLs.
func (s *Store) ListACLs(ctx context.Context) ([]metadata.ACL, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]metadata.ACL, 0, len(s.acls))
	for a := range s.acls {
		out = append(out, a)
	}
	slices.SortFunc(out, metadata.CompareACLs)
	return out, nil
}

// WatchACLs implements metadata.ACLs. Every create or delete that changed something signals at
// once.
func (s *Store) WatchACLs(ctx context.Context) (<-chan struct{}, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	out := make(chan struct{}, 1)
	if s.aclWatch == nil {
		s.aclWatch = map[chan struct{}]struct{}{}
	}
	s.aclWatch[out] = struct{}{}
	s.wg.Add(1) // under mu, so never after Close's Wait began
	s.mu.Unlock()
	go func() { // ends with ctx or Close
		defer s.wg.Done()
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.mu.Lock()
		delete(s.aclWatch, out)
		close(out) // under mu: aclsChangedLocked never sends on it after this
		s.mu.Unlock()
	}()
	return out, nil
}

func (s *Store) aclsChangedLocked() {
	for ch := range s.aclWatch {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
