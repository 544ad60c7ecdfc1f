package memmeta

import (
	"context"
	"time"
)

// WatchLeadership implements metadata.Store. A node's first registration (or first after a lapse),
// a deregistration, a release and a topic created, changed or deleted signal at once; a lapsed
// registration signals at the expiry loop's first look after it (see Config.ExpiryCheck). The
// channel is closed when ctx ends or the store closes.
func (s *Store) WatchLeadership(ctx context.Context) (<-chan struct{}, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	out := s.watchLocked(ctx, &s.departs)
	if !s.expiring {
		s.expiring = true
		s.wg.Add(1)
		go s.expiryLoop()
	}
	s.mu.Unlock()
	return out, nil
}

// changedLocked signals every leadership watch; a watch with a signal pending keeps that one.
func (s *Store) changedLocked() { s.departs.signal() }

// expiryLoop removes lapsed node registrations every expiryCheck and signals the leadership
// watches. Removing them changes no answer: every method already treats a lapsed registration as
// absent. It starts with the first leadership watch and ends with Close.
func (s *Store) expiryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.expiryCheck)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.expireLocked() {
			s.changedLocked()
		}
		s.mu.Unlock()
	}
}

// expireLocked removes lapsed node registrations and reports whether there were any.
func (s *Store) expireLocked() bool {
	now := s.now()
	gone := false
	for id, n := range s.nodes {
		if !now.Before(n.expires) {
			delete(s.nodes, id)
			gone = true
		}
	}
	return gone
}
