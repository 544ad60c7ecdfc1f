package natsmeta_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
)

// WatchLeadership on NATS: a node's refreshes do not signal (only its first registration does), and
// the server's TTL marker for a lapsed registration does, after which the node's leases are not
// live.
func TestWatchLeadershipRefreshAndLapse(t *testing.T) {
	s := natsmetatest.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "w", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	ch, err := s.WatchLeadership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no signal for a joining node")
	}
	tp := metadata.TopicPartition{Topic: "w"}
	if _, err := s.AcquireLease(ctx, tp, 1); err != nil {
		t.Fatal(err)
	}
	// Refresh well within the TTL for a while: the watch stays quiet.
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let any signal arrive
	select {
	case <-ch:
		t.Fatal("a refresh signalled")
	default:
	}
	// Stop refreshing: the server expires the registration and the watch reports it.
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal("no signal for a lapsed registration")
	}
	if _, err := s.GetLease(ctx, tp); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("GetLease after the holder lapsed: %v", err)
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}
