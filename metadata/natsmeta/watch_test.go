package natsmeta_test

import (
	"context"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
)

// WatchDepartures signals a released lease, a lapsed lease (the server's TTL marker) and a
// deregistered node.
func TestWatchDepartures(t *testing.T) {
	s := natsmetatest.Store(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "w", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	ch, err := s.WatchDepartures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: watch closed", what)
			}
		case <-ctx.Done():
			t.Fatalf("%s: no signal", what)
		}
	}
	l, err := s.AcquireLease(ctx, metadata.TopicPartition{Topic: "w"}, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	wait("released lease")
	if _, err := s.AcquireLease(ctx, metadata.TopicPartition{Topic: "w", Partition: 1}, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	wait("lapsed lease") // nothing renews it
	if _, err := s.GetLease(ctx, metadata.TopicPartition{Topic: "w", Partition: 1}); err == nil {
		t.Fatal("signalled before the lease lapsed")
	}
	if err := s.RegisterNode(ctx, metadata.Node{ID: 4}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.DeregisterNode(ctx, 4); err != nil {
		t.Fatal(err)
	}
	wait("deregistered node")
	cancel()
	for range ch { // closed once ctx ends
	}
}
