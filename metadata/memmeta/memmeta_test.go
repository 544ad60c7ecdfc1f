package memmeta_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/metadata/metatest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) metadata.Store {
		s, err := memmeta.New(memmeta.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// A lapse is judged by the injected clock: nothing signals while the clock stands still, however
// long the expiry loop runs, and the first look after the clock passes the TTL signals.
func TestDeparturesFollowTheInjectedClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := memmeta.New(memmeta.Config{Now: clock, ExpiryCheck: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "t"}
	if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, tp, 1); err != nil {
		t.Fatal(err)
	}
	ch, err := s.WatchLeadership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Many expiry looks pass with the clock standing still, and the node refreshes: no signal.
	for range 20 {
		time.Sleep(time.Millisecond)
		if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Hour); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
			t.Fatal("signal before anything changed")
		default:
		}
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no signal after the clock passed the registration's TTL")
	}
	if _, err := s.GetLease(ctx, tp); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("GetLease after the holder lapsed: %v", err)
	}
	if ns, err := s.ListNodes(ctx); err != nil || len(ns) != 0 {
		t.Fatalf("ListNodes = %v, %v; the node's TTL has run out", ns, err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  memmeta.Config
		ok   bool
	}{
		{"zero", memmeta.Config{}, true},
		{"negative first producer id", memmeta.Config{FirstProducerID: -1}, false},
		{"negative expiry check", memmeta.Config{ExpiryCheck: -time.Second}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
