package topics

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
)

// recorder is a Node that remembers what it was told.
type recorder struct {
	mu         sync.Mutex
	reconciles int
	applied    []metadata.Topic
}

func (r *recorder) Reconcile(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconciles++
	return nil
}

func (r *recorder) ApplyTopic(t metadata.Topic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, t)
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reconciles, len(r.applied)
}

func newAdmin(t *testing.T, d Defaults) (*Admin, *recorder, metadata.Store) {
	t.Helper()
	st := natsmetatest.Store(t)
	rec := &recorder{}
	a, err := New(Config{NodeID: 7, Store: st, Node: rec, Defaults: d})
	if err != nil {
		t.Fatal(err)
	}
	return a, rec, st
}

func wantErr(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %s", what, err, want.Message)
	}
}

// Against a real embedded NATS store: every change is stored, the node is told, and bad requests
// get the Kafka error a client expects with nothing stored.
func TestAdminLifecycle(t *testing.T) {
	ctx := context.Background()
	a, rec, st := newAdmin(t, Defaults{NumPartitions: 3})

	top, err := a.CreateTopic(ctx, Spec{Name: "orders", Partitions: -1, ReplicationFactor: -1,
		Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if top.Partitions != 3 || top.ID.IsZero() {
		t.Fatalf("created %+v: want the default 3 partitions and an id", top)
	}
	if n, _ := rec.counts(); n != 1 {
		t.Fatalf("%d reconciles after create, want 1", n)
	}
	if stored, err := st.GetTopic(ctx, "orders"); err != nil || stored.ID != top.ID || stored.Configs["retention.ms"] != "1000" {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	_, err = a.CreateTopic(ctx, Spec{Name: "orders", Partitions: 1, ReplicationFactor: 1})
	wantErr(t, "create twice", err, kerr.TopicAlreadyExists)
	_, err = a.CreateTopic(ctx, Spec{Name: "bad/name", Partitions: 1, ReplicationFactor: 1})
	wantErr(t, "bad name", err, kerr.InvalidTopicException)
	_, err = a.CreateTopic(ctx, Spec{Name: "zero", Partitions: 0, ReplicationFactor: 1})
	wantErr(t, "zero partitions", err, kerr.InvalidPartitions)
	_, err = a.CreateTopic(ctx, Spec{Name: "rf", Partitions: 1, ReplicationFactor: 0})
	wantErr(t, "replication factor 0", err, kerr.InvalidReplicationFactor)
	_, err = a.CreateTopic(ctx, Spec{Name: "cfg", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "soon"}})
	wantErr(t, "bad config", err, kerr.InvalidConfig)
	if _, err := a.CreateTopic(ctx, Spec{Name: "dry", Partitions: 1, ReplicationFactor: 1, ValidateOnly: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zero", "rf", "cfg", "dry"} {
		if _, err := st.GetTopic(ctx, name); !errors.Is(err, metadata.ErrNotFound) {
			t.Fatalf("topic %q stored after a refused or validate-only create: %v", name, err)
		}
	}

	// Configs: incremental changes reach the node; describe shows explicit values and defaults.
	v := "object"
	if err := a.AlterTopicConfigs(ctx, "orders", []ConfigOp{{Name: "strata.durability", Op: kmsg.IncrementalAlterConfigOpSet, Value: &v}}, false); err != nil {
		t.Fatal(err)
	}
	if _, applied := rec.counts(); applied != 1 {
		t.Fatalf("%d config applications, want 1", applied)
	}
	entries, err := a.DescribeTopicConfigs(ctx, "orders", []string{"strata.durability", "segment.ms"})
	if err != nil || len(entries) != 2 {
		t.Fatalf("describe: %+v, %v", entries, err)
	}
	for _, e := range entries {
		switch e.Name {
		case "strata.durability":
			if e.Value != "object" || e.IsDefault {
				t.Fatalf("%+v: want the explicit value", e)
			}
		case "segment.ms":
			if !e.IsDefault {
				t.Fatalf("%+v: want a default", e)
			}
		}
	}
	bad := "disk"
	err = a.AlterTopicConfigs(ctx, "orders", []ConfigOp{{Name: "strata.durability", Op: kmsg.IncrementalAlterConfigOpSet, Value: &bad}}, false)
	wantErr(t, "bad durability", err, kerr.InvalidConfig)
	if err := a.SetTopicConfigs(ctx, "orders", map[string]string{"segment.ms": "60000"}, false); err != nil {
		t.Fatal(err)
	}
	if stored, _ := st.GetTopic(ctx, "orders"); stored.Configs["strata.durability"] != "" || stored.Configs["segment.ms"] != "60000" {
		t.Fatalf("after AlterConfigs: %v; want only segment.ms (unnamed configs revert)", stored.Configs)
	}

	// Partitions only grow.
	wantErr(t, "shrink", a.CreatePartitions(ctx, "orders", 2, false), kerr.InvalidPartitions)
	if err := a.CreatePartitions(ctx, "orders", 5, false); err != nil {
		t.Fatal(err)
	}
	if stored, _ := st.GetTopic(ctx, "orders"); stored.Partitions != 5 {
		t.Fatalf("%d partitions, want 5", stored.Partitions)
	}

	if err := a.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete twice", a.DeleteTopic(ctx, "orders"), kerr.UnknownTopicOrPartition)
	wantErr(t, "get deleted", func() error { _, err := a.Topic(ctx, "orders"); return err }(), kerr.UnknownTopicOrPartition)
	if n, _ := rec.counts(); n != 3 {
		t.Fatalf("%d reconciles after create, grow and delete, want 3", n)
	}
}

func TestEnsureTopicAutoCreate(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newAdmin(t, Defaults{NumPartitions: 2})
	top, err := a.EnsureTopic(ctx, "auto", true)
	if err != nil || top.Partitions != 2 {
		t.Fatalf("auto-create: %+v, %v", top, err)
	}
	_, err = a.EnsureTopic(ctx, "not-asked", false)
	wantErr(t, "auto-create not allowed by the request", err, kerr.UnknownTopicOrPartition)

	off, _, _ := newAdmin(t, Defaults{AutoCreateTopicsDisabled: true})
	_, err = off.EnsureTopic(ctx, "auto", true)
	wantErr(t, "auto-create disabled", err, kerr.UnknownTopicOrPartition)
}
