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
	out := s.watchLocked(ctx, &s.aclWatch)
	s.mu.Unlock()
	return out, nil
}

func (s *Store) aclsChangedLocked() { s.aclWatch.signal() }
