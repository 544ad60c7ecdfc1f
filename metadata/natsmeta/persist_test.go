package natsmeta_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// The in-process server fsyncs before every acknowledgement, except in the node registry and the
// lease records (see persistAsync: the one node it serves starts a new term on every restart): those
// persist asynchronously, also when a data dir written before made them in the default mode. A
// lease taken after the change works as before.
func TestEmbeddedPersistModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), NoListen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	if !e.Server().JetStreamConfig().SyncAlways {
		t.Fatal("the embedded server does not fsync before acknowledging")
	}

	// An older data dir: the leases bucket exists in the default persist mode.
	nc, err := nats.Connect("", nats.InProcessServer(e.Server()))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "leases", History: 1, Storage: jetstream.FileStorage,
		LimitMarkerTTL: time.Second}); err != nil {
		t.Fatal(err)
	}

	s, err := natsmeta.Open(ctx, natsmeta.Config{Embedded: e, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for bucket, want := range map[string]jetstream.PersistModeType{
		"leases": jetstream.AsyncPersistMode, "nodes": jetstream.AsyncPersistMode,
		"topics": jetstream.DefaultPersistMode, "segments": jetstream.DefaultPersistMode,
		"offsets": jetstream.DefaultPersistMode, "producers": jetstream.DefaultPersistMode,
	} {
		st, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.PersistMode; got != want {
			t.Errorf("bucket %s persists in mode %v, want %v", bucket, got, want)
		}
	}

	top, err := s.CreateTopic(ctx, metadata.Topic{Name: "t", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: top.Name}
	if err := s.RegisterNode(ctx, metadata.Node{ID: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	l, err := s.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetLease(ctx, tp); err != nil || got.Node != 1 || got.Epoch != l.Epoch {
		t.Fatalf("lease %+v, %v; want node 1 epoch %d", got, err, l.Epoch)
	}
}

// Nodes starting together on a fresh cluster open the same buckets at once: each one's create
// races the others', and a bucket a peer just made may not be visible yet. Every Open succeeds.
func TestConcurrentOpenOnFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node cluster in -short mode")
	}
	c := startCluster(t, 3)
	for round := range 3 {
		prefix := fmt.Sprintf("fresh%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				s, err := natsmeta.Open(ctx, natsmeta.Config{URLs: []string{c.ClientURLs()[i]}, Replicas: 3,
					BucketPrefix: prefix, Logger: slog.New(slog.DiscardHandler)})
				if err == nil {
					_, err = s.ListTopics(ctx)
					s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: node %d: %v", round, i, err)
			}
		}
	}
}
