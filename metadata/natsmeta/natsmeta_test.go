package natsmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/metatest"
	"github.com/strata-log/strata/metadata/natsmeta"
)

var prefixSeq atomic.Int64

// openStore opens a Store with a bucket prefix of its own, so tests sharing a server do not see
// each other's state.
func openStore(t testing.TB, urls []string, replicas int) *natsmeta.Store {
	t.Helper()
	return openStoreAt(t, urls, replicas, fmt.Sprintf("t%d", prefixSeq.Add(1)))
}

// openStoreAt opens a Store on the buckets named by prefix.
func openStoreAt(t testing.TB, urls []string, replicas int, prefix string) *natsmeta.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := natsmeta.Open(ctx, natsmeta.Config{
		URLs:         urls,
		Replicas:     replicas,
		OpTimeout:    2 * time.Second,
		BucketPrefix: prefix,
		Logger:       slog.New(slog.DiscardHandler),
		Registerer:   prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func startEmbedded(t testing.TB) *natsmeta.Embedded {
	t.Helper()
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func startCluster(t testing.TB, n int) *natsmeta.Cluster {
	t.Helper()
	c, err := natsmeta.StartCluster(t.TempDir(), n)
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

func TestConformanceEmbedded(t *testing.T) {
	e := startEmbedded(t)
	metatest.Run(t, func(t *testing.T) metadata.Store { return openStore(t, []string{e.ClientURL()}, 0) })
}

func TestConformanceInProcess(t *testing.T) {
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	metatest.Run(t, func(t *testing.T) metadata.Store {
		s, err := natsmeta.Open(context.Background(), natsmeta.Config{
			Embedded: e, BucketPrefix: fmt.Sprintf("t%d", prefixSeq.Add(1)), Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster in -short mode")
	}
	c := startCluster(t, 3)
	metatest.Run(t, func(t *testing.T) metadata.Store { return openStore(t, c.ClientURLs(), 3) })
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  natsmeta.Config
		ok   bool
	}{
		{"ok", natsmeta.Config{URLs: []string{"nats://x"}, OpTimeout: time.Second, RetryTimeout: time.Second, MarkerTTL: time.Minute}, true},
		{"no urls", natsmeta.Config{OpTimeout: time.Second, RetryTimeout: time.Second, MarkerTTL: time.Minute}, false},
		{"bad prefix", natsmeta.Config{URLs: []string{"nats://x"}, OpTimeout: time.Second, RetryTimeout: time.Second, MarkerTTL: time.Minute, BucketPrefix: "a.b"}, false},
		{"retry below op", natsmeta.Config{URLs: []string{"nats://x"}, OpTimeout: time.Second, RetryTimeout: time.Millisecond, MarkerTTL: time.Minute}, false},
		{"replicas", natsmeta.Config{URLs: []string{"nats://x"}, Replicas: 7, OpTimeout: time.Second, RetryTimeout: time.Second, MarkerTTL: time.Minute}, false},
		{"marker ttl", natsmeta.Config{URLs: []string{"nats://x"}, OpTimeout: time.Second, RetryTimeout: time.Second, MarkerTTL: time.Millisecond}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestReopenKeepsState closes a store and the server, starts the server again on the same
// directory, and reads everything back: the embedded mode is durable.
func TestReopenKeepsState(t *testing.T) {
	dir := t.TempDir()
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := natsmeta.Config{URLs: []string{e.ClientURL()}, Logger: slog.New(slog.DiscardHandler)}
	s, err := natsmeta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	top, err := s.CreateTopic(ctx, metadata.Topic{Name: "durable", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "durable", Partition: 0}
	l, err := s.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterSegment(ctx, tp, l.Epoch, metadata.SegmentRef{Key: "k", BaseOffset: 0, NextOffset: 5}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	e.Shutdown()

	e2, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Shutdown()
	cfg.URLs = []string{e2.ClientURL()}
	s2, err := natsmeta.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.GetTopic(ctx, "durable")
	if err != nil || got.ID != top.ID {
		t.Fatalf("GetTopic after restart = %+v, %v", got, err)
	}
	c, err := s2.GetCatalog(ctx, tp)
	if err != nil || len(c.Segments) != 1 || c.Epoch != l.Epoch {
		t.Fatalf("GetCatalog after restart = %+v, %v", c, err)
	}
}

// TestClusterListSeesAcknowledgedWrites lists right after each write, from a client connected to
// every server of an R3 cluster. A list answered from a lagging replica would miss the write.
func TestClusterListSeesAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster in -short mode")
	}
	c := startCluster(t, 3)
	urls := c.ClientURLs()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for round := range 3 {
		// A writer and a lister on different servers, rotated each round.
		prefix := fmt.Sprintf("t%d", prefixSeq.Add(1))
		w := openStoreAt(t, []string{urls[round%3]}, 3, prefix)
		r := openStoreAt(t, []string{urls[(round+1)%3]}, 3, prefix)
		for i := range int32(40) {
			id := int32(round)*100 + i
			n := metadata.Node{ID: id, KafkaAddr: fmt.Sprintf("10.0.0.1:%d", 9000+id), StartedAt: time.UnixMilli(1_700_000_000_000)}
			if err := w.RegisterNode(ctx, n, time.Minute); err != nil {
				t.Fatalf("RegisterNode %d: %v", id, err)
			}
			got, err := r.ListNodes(ctx)
			if err != nil {
				t.Fatalf("ListNodes: %v", err)
			}
			if len(got) != int(i)+1 || got[len(got)-1].ID != id {
				t.Fatalf("round %d: ListNodes after registering %d returned %d nodes (last %v)", round, id, len(got), got)
			}
		}
	}
}
