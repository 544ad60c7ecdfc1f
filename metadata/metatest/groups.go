package metatest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

func oc(off int64, epoch int32, meta string) metadata.OffsetCommit {
	return metadata.OffsetCommit{Offset: off, LeaderEpoch: epoch, Metadata: meta, CommittedAt: time.UnixMilli(1_700_000_000_123 + off).UTC()}
}

func testOffsets(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp := func(topic string, p int32) metadata.TopicPartition {
		return metadata.TopicPartition{Topic: topic, Partition: p}
	}

	got, err := s.FetchOffsets(ctx, "unknown")
	must(t, err, "FetchOffsets unknown group")
	if got == nil || len(got) != 0 {
		t.Fatalf("FetchOffsets unknown group = %#v, want empty map", got)
	}

	// Group names are arbitrary strings; topic names use the whole Kafka alphabet.
	groups := []string{"g1", "g.1", "g_1", "with space/and*wild>cards", "ünïcode"}
	for i, g := range groups {
		want := map[metadata.TopicPartition]metadata.OffsetCommit{
			tp("a.b", 0): oc(int64(10+i), 3, "m"),
			tp("a_b", 0): oc(int64(20+i), -1, ""),
			tp("a.b", 7): oc(int64(30+i), 1, "meta data"),
		}
		must(t, s.CommitOffsets(ctx, g, want), "CommitOffsets "+g)
	}
	for i, g := range groups {
		got, err := s.FetchOffsets(ctx, g)
		must(t, err, "FetchOffsets "+g)
		if len(got) != 3 || !got[tp("a.b", 0)].Equal(oc(int64(10+i), 3, "m")) ||
			!got[tp("a_b", 0)].Equal(oc(int64(20+i), -1, "")) || !got[tp("a.b", 7)].Equal(oc(int64(30+i), 1, "meta data")) {
			t.Fatalf("FetchOffsets %q = %+v", g, got)
		}
	}
	list, err := s.ListGroups(ctx)
	must(t, err, "ListGroups")
	sort.Strings(list)
	want := slices.Clone(groups)
	sort.Strings(want)
	if !slices.Equal(list, want) {
		t.Fatalf("ListGroups = %q, want %q", list, want)
	}

	// A commit replaces only the partitions it names.
	must(t, s.CommitOffsets(ctx, "g1", map[metadata.TopicPartition]metadata.OffsetCommit{tp("a.b", 0): oc(99, 4, "x")}), "CommitOffsets update")
	got, err = s.FetchOffsets(ctx, "g1")
	must(t, err, "FetchOffsets")
	if len(got) != 3 || got[tp("a.b", 0)].Offset != 99 || got[tp("a_b", 0)].Offset != 20 {
		t.Fatalf("after partial commit: %+v", got)
	}

	must(t, s.DeleteOffsets(ctx, "g1", []metadata.TopicPartition{tp("a.b", 0), tp("missing", 1)}), "DeleteOffsets some")
	got, err = s.FetchOffsets(ctx, "g1")
	must(t, err, "FetchOffsets")
	if len(got) != 2 || got[tp("a_b", 0)].Offset != 20 {
		t.Fatalf("after DeleteOffsets some: %+v", got)
	}
	must(t, s.DeleteOffsets(ctx, "g1", nil), "DeleteOffsets group")
	got, err = s.FetchOffsets(ctx, "g1")
	must(t, err, "FetchOffsets deleted group")
	if len(got) != 0 {
		t.Fatalf("deleted group still has %+v", got)
	}
	must(t, s.DeleteOffsets(ctx, "never-existed", nil), "DeleteOffsets unknown group")
	list, err = s.ListGroups(ctx)
	must(t, err, "ListGroups")
	if slices.Contains(list, "g1") || len(list) != len(groups)-1 {
		t.Fatalf("ListGroups after delete = %q", list)
	}
}

// testOffsetsConcurrent commits different partitions of one group from many goroutines; a lost
// update shows up as a missing or old offset.
func testOffsetsConcurrent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	const workers, rounds = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 1; r <= rounds; r++ {
				m := map[metadata.TopicPartition]metadata.OffsetCommit{
					{Topic: "t", Partition: int32(w)}:       oc(int64(r), 0, ""),
					{Topic: "t", Partition: int32(100 + w)}: oc(int64(r*10), 0, ""),
				}
				if err := s.CommitOffsets(ctx, "shared", m); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent CommitOffsets: %v", err)
	}
	got, err := s.FetchOffsets(ctx, "shared")
	must(t, err, "FetchOffsets")
	if len(got) != 2*workers {
		t.Fatalf("FetchOffsets has %d partitions, want %d", len(got), 2*workers)
	}
	for w := 0; w < workers; w++ {
		a, b := got[metadata.TopicPartition{Topic: "t", Partition: int32(w)}], got[metadata.TopicPartition{Topic: "t", Partition: int32(100 + w)}]
		if a.Offset != rounds || b.Offset != rounds*10 {
			t.Fatalf("worker %d: offsets %d and %d, want %d and %d", w, a.Offset, b.Offset, rounds, rounds*10)
		}
	}
}

// testProducerIDs allocates ranges from many goroutines and checks that no two overlap.
// testWatchOffsets: commits and deletes report their group; changes before the watch began and
// other groups' changes do not report the group; ending ctx closes the channel.
func testWatchOffsets(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	tp := metadata.TopicPartition{Topic: "t", Partition: 0}
	must(t, s.CommitOffsets(ctx, "before", map[metadata.TopicPartition]metadata.OffsetCommit{tp: oc(1, -1, "")}), "CommitOffsets")
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchOffsets(wctx)
	must(t, err, "WatchOffsets")

	must(t, s.CommitOffsets(ctx, "g.1", map[metadata.TopicPartition]metadata.OffsetCommit{tp: oc(5, 2, "m")}), "CommitOffsets")
	waitFor(t, ch, "g.1")
	must(t, s.DeleteOffsets(ctx, "g.1", []metadata.TopicPartition{tp}), "DeleteOffsets")
	waitFor(t, ch, "g.1")
	// A change of another group, then one of "before": the first report is "other", so the
	// commit made before the watch began was not reported.
	must(t, s.CommitOffsets(ctx, "other", map[metadata.TopicPartition]metadata.OffsetCommit{tp: oc(7, -1, "")}), "CommitOffsets")
	select {
	case got := <-ch:
		if got != "other" {
			t.Fatalf("watch reported %q, want other (a change made before the watch began is not reported)", got)
		}
	case <-time.After(waitLimit):
		t.Fatal("no change reported for other")
	}
	must(t, s.DeleteOffsets(ctx, "before", nil), "DeleteOffsets")
	waitFor(t, ch, "before")

	cancel()
	waitClosed(t, ch, "offsets watch after ctx ended")
}

func testProducerIDs(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	if _, err := s.AllocateProducerIDs(ctx, 0); err == nil {
		t.Fatal("AllocateProducerIDs(0) succeeded")
	}
	type span struct{ first, n int64 }
	const workers, each = 6, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var spans []span
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := int64(1 + (w+i)%3*4)
				first, err := s.AllocateProducerIDs(ctx, n)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				spans = append(spans, span{first, n})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AllocateProducerIDs: %v", err)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
	for i, sp := range spans {
		if sp.first < 0 {
			t.Fatalf("negative producer id %d", sp.first)
		}
		if i > 0 && sp.first < spans[i-1].first+spans[i-1].n {
			t.Fatalf("ranges overlap: [%d,+%d) and [%d,+%d)", spans[i-1].first, spans[i-1].n, sp.first, sp.n)
		}
	}
}

func testNodes(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	node := func(id int32) metadata.Node {
		return metadata.Node{ID: id, KafkaAddr: fmt.Sprintf("10.0.0.%d:9092", id), HTTPAddr: fmt.Sprintf("10.0.0.%d:8080", id),
			Rack: "r1", StartedAt: time.UnixMilli(1_700_000_000_000 + int64(id)).UTC()}
	}
	must(t, s.RegisterNode(ctx, node(3), LongTTL), "RegisterNode 3")
	must(t, s.RegisterNode(ctx, node(1), ShortTTL), "RegisterNode 1")
	must(t, s.RegisterNode(ctx, node(2), LongTTL), "RegisterNode 2")
	got, err := s.ListNodes(ctx)
	must(t, err, "ListNodes")
	if len(got) != 3 {
		t.Fatalf("ListNodes = %+v", got)
	}
	for i, n := range got {
		want := node(int32(i + 1))
		if n.ID != want.ID || n.KafkaAddr != want.KafkaAddr || n.HTTPAddr != want.HTTPAddr || n.Rack != want.Rack || !n.StartedAt.Equal(want.StartedAt) {
			t.Fatalf("ListNodes[%d] = %+v, want %+v", i, n, want)
		}
	}
	// Re-registering refreshes in place.
	moved := node(2)
	moved.KafkaAddr = "10.0.1.2:9092"
	must(t, s.RegisterNode(ctx, moved, LongTTL), "RegisterNode refresh")
	must(t, s.DeregisterNode(ctx, 3), "DeregisterNode")
	must(t, s.DeregisterNode(ctx, 42), "DeregisterNode unknown")
	eventually(t, "node 1 expires", func() (bool, error) {
		got, err := s.ListNodes(ctx)
		if err != nil {
			return false, err
		}
		return len(got) == 1, nil
	})
	got, err = s.ListNodes(ctx)
	must(t, err, "ListNodes")
	if len(got) != 1 || got[0].ID != 2 || got[0].KafkaAddr != "10.0.1.2:9092" {
		t.Fatalf("ListNodes after expiry = %+v", got)
	}
	// A refresh extends only a live registration.
	must(t, s.RefreshNode(ctx, moved, LongTTL), "RefreshNode of a live node")
	mustErrIs(t, s.RefreshNode(ctx, node(1), LongTTL), metadata.ErrNotFound, "RefreshNode after the registration lapsed")
	mustErrIs(t, s.RefreshNode(ctx, node(3), LongTTL), metadata.ErrNotFound, "RefreshNode after DeregisterNode")
	mustErrIs(t, s.RefreshNode(ctx, node(7), LongTTL), metadata.ErrNotFound, "RefreshNode of a node never registered")
	got, err = s.ListNodes(ctx)
	must(t, err, "ListNodes")
	if len(got) != 1 || got[0].ID != 2 {
		t.Fatalf("ListNodes after refusing refreshes = %+v", got)
	}
	// Refreshing within the TTL keeps a short registration alive past it.
	must(t, s.RegisterNode(ctx, node(5), ShortTTL), "RegisterNode 5")
	for range 6 {
		time.Sleep(ShortTTL / 4)
		must(t, s.RefreshNode(ctx, node(5), ShortTTL), "RefreshNode 5 within its TTL")
	}
}
