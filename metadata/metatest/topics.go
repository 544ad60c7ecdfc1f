package metatest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func testTopics(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)

	// Names that differ only in '.', '_' and '-' must not collide in any key encoding.
	names := []string{"a.b", "a_b", "a-b", "A.B", "x", "topic.with.many.dots-and_more"}
	made := map[string]metadata.Topic{}
	for _, n := range names {
		in := metadata.Topic{Name: n, Partitions: 3, Configs: map[string]string{"retention.ms": "1000", "name": n}}
		got, err := s.CreateTopic(ctx, in)
		must(t, err, "CreateTopic "+n)
		if got.ID.IsZero() || got.Name != n || got.Partitions != 3 {
			t.Fatalf("CreateTopic %q returned %+v", n, got)
		}
		made[n] = got
	}
	fixed := metadata.NewTopicID()
	got, err := s.CreateTopic(ctx, metadata.Topic{Name: "fixed-id", ID: fixed, Partitions: 1})
	must(t, err, "CreateTopic with ID")
	if got.ID != fixed {
		t.Fatalf("CreateTopic replaced a given ID: %v != %v", got.ID, fixed)
	}
	made["fixed-id"] = got

	_, err = s.CreateTopic(ctx, metadata.Topic{Name: "a.b", Partitions: 1})
	mustErrIs(t, err, metadata.ErrExists, "CreateTopic duplicate")
	_, err = s.GetTopic(ctx, "nope")
	mustErrIs(t, err, metadata.ErrNotFound, "GetTopic unknown")

	for n, want := range made {
		got, err := s.GetTopic(ctx, n)
		must(t, err, "GetTopic "+n)
		if got.ID != want.ID || got.Partitions != want.Partitions || got.Configs["name"] != want.Configs["name"] ||
			!got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("GetTopic %q = %+v, want %+v", n, got, want)
		}
	}
	list, err := s.ListTopics(ctx)
	must(t, err, "ListTopics")
	if len(list) != len(made) {
		t.Fatalf("ListTopics returned %d topics, want %d", len(list), len(made))
	}
	for _, tp := range list {
		if made[tp.Name].ID != tp.ID {
			t.Fatalf("ListTopics has %q with id %v, want %v", tp.Name, tp.ID, made[tp.Name].ID)
		}
	}

	// UpdateTopic: a change sticks, fn errors pass through, name and ID are immutable.
	up, err := s.UpdateTopic(ctx, "a.b", func(tp *metadata.Topic) error {
		tp.Configs["cleanup.policy"] = "compact"
		tp.Partitions = 5
		return nil
	})
	must(t, err, "UpdateTopic")
	if up.Configs["cleanup.policy"] != "compact" || up.Partitions != 5 {
		t.Fatalf("UpdateTopic returned %+v", up)
	}
	again, err := s.GetTopic(ctx, "a.b")
	must(t, err, "GetTopic after update")
	if again.Configs["cleanup.policy"] != "compact" || again.Configs["retention.ms"] != "1000" || again.Partitions != 5 {
		t.Fatalf("update not stored: %+v", again)
	}
	boom := errors.New("boom")
	_, err = s.UpdateTopic(ctx, "a.b", func(*metadata.Topic) error { return boom })
	mustErrIs(t, err, boom, "UpdateTopic fn error")
	_, err = s.UpdateTopic(ctx, "a.b", func(tp *metadata.Topic) error { tp.Name = "renamed"; return nil })
	if err == nil {
		t.Fatal("UpdateTopic allowed a rename")
	}
	_, err = s.UpdateTopic(ctx, "a.b", func(tp *metadata.Topic) error { tp.ID = metadata.NewTopicID(); return nil })
	if err == nil {
		t.Fatal("UpdateTopic allowed an ID change")
	}
	_, err = s.UpdateTopic(ctx, "nope", func(*metadata.Topic) error { return nil })
	mustErrIs(t, err, metadata.ErrNotFound, "UpdateTopic unknown")
	if got, _ := s.GetTopic(ctx, "a.b"); got.Name != "a.b" || got.ID != made["a.b"].ID {
		t.Fatalf("failed updates changed the topic: %+v", got)
	}

	// Invalid topics are refused.
	for _, bad := range []metadata.Topic{{Name: "", Partitions: 1}, {Name: "ok", Partitions: 0}, {Name: "sp ace", Partitions: 1}} {
		if _, err := s.CreateTopic(ctx, bad); err == nil {
			t.Fatalf("CreateTopic accepted %+v", bad)
		}
	}
}

// testUpdateTopicConcurrent increments a counter config from many goroutines: a lost update shows up
// as a final count below the number of increments.
func testUpdateTopicConcurrent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "counter", 1)
	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := s.UpdateTopic(ctx, "counter", func(tp *metadata.Topic) error {
					if tp.Configs == nil {
						tp.Configs = map[string]string{}
					}
					n, _ := strconv.Atoi(tp.Configs["n"])
					tp.Configs["n"] = strconv.Itoa(n + 1)
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UpdateTopic: %v", err)
	}
	got, err := s.GetTopic(ctx, "counter")
	must(t, err, "GetTopic")
	if want := fmt.Sprint(workers * each); got.Configs["n"] != want {
		t.Fatalf("counter = %s after %s increments", got.Configs["n"], want)
	}
}

func testDeleteTopic(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	old := createTopic(t, s, "doomed.topic", 2)
	tp := metadata.TopicPartition{Topic: "doomed.topic", Partition: 1}
	l, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease")
	must(t, s.RegisterSegment(ctx, tp, l.Epoch, seg("old/0", 0, 10, l.Epoch)), "RegisterSegment")
	createTopic(t, s, "survivor", 1)

	must(t, s.DeleteTopic(ctx, "doomed.topic"), "DeleteTopic")
	mustErrIs(t, s.DeleteTopic(ctx, "doomed.topic"), metadata.ErrNotFound, "DeleteTopic twice")
	_, err = s.GetTopic(ctx, "doomed.topic")
	mustErrIs(t, err, metadata.ErrNotFound, "GetTopic after delete")
	_, err = s.GetLease(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease after delete")
	_, err = s.GetCatalog(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetCatalog after delete")
	leases, err := s.ListLeases(ctx)
	must(t, err, "ListLeases")
	if len(leases) != 0 {
		t.Fatalf("ListLeases after delete = %+v", leases)
	}
	list, err := s.ListTopics(ctx)
	must(t, err, "ListTopics")
	if len(list) != 1 || list[0].Name != "survivor" {
		t.Fatalf("ListTopics after delete = %+v", list)
	}

	// The same name again is a new topic with a new identity and nothing tiered.
	fresh := createTopic(t, s, "doomed.topic", 2)
	if fresh.ID == old.ID {
		t.Fatal("recreated topic reused the old ID")
	}
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog of recreated topic")
	if c.TopicID != fresh.ID || len(c.Segments) != 0 || c.LogStartOffset != 0 {
		t.Fatalf("recreated topic inherited catalog %+v", c)
	}
	l2, err := s.AcquireLease(ctx, tp, 2)
	must(t, err, "AcquireLease on recreated topic (old lease must be gone)")
	if l2.Node != 2 {
		t.Fatalf("lease = %+v", l2)
	}
}
