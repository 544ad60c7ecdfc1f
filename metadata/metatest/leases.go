package metatest

import (
	"errors"
	"sync"
	"testing"

	"github.com/strata-log/strata/metadata"
)

// register registers the nodes for LongTTL.
func register(t *testing.T, s metadata.Store, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		must(t, s.RegisterNode(ctxT(t), metadata.Node{ID: id}, LongTTL), "RegisterNode")
	}
}

func testLeases(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "leased", 2)
	register(t, s, 1, 2)
	tp := metadata.TopicPartition{Topic: "leased", Partition: 0}

	_, err := s.GetLease(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease before any holder")
	_, err = s.AcquireLease(ctx, metadata.TopicPartition{Topic: "nope", Partition: 0}, 1)
	mustErrIs(t, err, metadata.ErrNotFound, "AcquireLease unknown topic")
	_, err = s.AcquireLease(ctx, metadata.TopicPartition{Topic: "leased", Partition: 2}, 1)
	mustErrIs(t, err, metadata.ErrNotFound, "AcquireLease partition out of range")

	l1, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease")
	if l1.Node != 1 || l1.Epoch < 1 || l1.TopicPartition != tp {
		t.Fatalf("AcquireLease = %+v", l1)
	}
	// The holder taking it again starts a new term.
	again, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease by holder")
	if again.Epoch != l1.Epoch+1 || again.Node != 1 {
		t.Fatalf("re-acquire by holder = %+v, want epoch %d", again, l1.Epoch+1)
	}
	_, err = s.AcquireLease(ctx, tp, 2)
	mustErrIs(t, err, metadata.ErrConflict, "AcquireLease of a held lease")

	got, err := s.GetLease(ctx, tp)
	must(t, err, "GetLease")
	if got.Node != 1 || got.Epoch != again.Epoch {
		t.Fatalf("GetLease = %+v, want %+v", got, again)
	}
	// A write under the first term raises the catalog's epoch; the holder's next term is above it.
	must(t, s.RegisterSegment(ctx, tp, again.Epoch+3, seg("l/0", 0, 10, again.Epoch+3)), "RegisterSegment under a newer epoch")
	third, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease by holder after a newer epoch was written")
	if third.Epoch != again.Epoch+4 {
		t.Fatalf("third term epoch %d, want %d", third.Epoch, again.Epoch+4)
	}

	tp1 := metadata.TopicPartition{Topic: "leased", Partition: 1}
	l2, err := s.AcquireLease(ctx, tp1, 2)
	must(t, err, "AcquireLease partition 1")
	all, err := s.ListLeases(ctx)
	must(t, err, "ListLeases")
	if len(all) != 2 || all[0].TopicPartition != tp || all[0].Node != 1 || all[0].Epoch != third.Epoch ||
		all[1].TopicPartition != tp1 || all[1].Node != 2 || all[1].Epoch != l2.Epoch {
		t.Fatalf("ListLeases = %+v", all)
	}

	// A deregistered holder holds nothing: its leases are not live, and another node takes them
	// under the next epoch.
	must(t, s.DeregisterNode(ctx, 2), "DeregisterNode")
	_, err = s.GetLease(ctx, tp1)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease of a deregistered holder's partition")
	all, err = s.ListLeases(ctx)
	must(t, err, "ListLeases after deregistering")
	if len(all) != 1 || all[0].TopicPartition != tp {
		t.Fatalf("ListLeases after deregistering node 2 = %+v", all)
	}
	l3, err := s.AcquireLease(ctx, tp1, 1)
	must(t, err, "AcquireLease of a deregistered holder's partition")
	if l3.Node != 1 || l3.Epoch != l2.Epoch+1 {
		t.Fatalf("takeover = %+v, want node 1 epoch %d", l3, l2.Epoch+1)
	}
	// Taken from another node, the catalog carries the new epoch: the old holder is fenced.
	c, err := s.GetCatalog(ctx, tp1)
	must(t, err, "GetCatalog")
	if c.Epoch != l3.Epoch {
		t.Fatalf("catalog epoch %d after a takeover, lease epoch %d", c.Epoch, l3.Epoch)
	}
	mustErrIs(t, s.RegisterSegment(ctx, tp1, l2.Epoch, seg("p1/0", 0, 10, l2.Epoch)), metadata.ErrFenced, "RegisterSegment by the old holder")
	// Node 2 coming back does not get it back by asking: node 1 is registered.
	register(t, s, 2)
	_, err = s.AcquireLease(ctx, tp1, 2)
	mustErrIs(t, err, metadata.ErrConflict, "AcquireLease by the returning node")
}

// testLeaseExpiryFences lets the holder's registration lapse, has another node take the lease, and
// checks that the old holder is fenced everywhere.
func testLeaseExpiryFences(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "expiring", 1)
	tp := metadata.TopicPartition{Topic: "expiring", Partition: 0}
	must(t, s.RegisterNode(ctx, metadata.Node{ID: 1}, ShortTTL), "RegisterNode with a short TTL")
	register(t, s, 2)

	old, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease")
	must(t, s.RegisterSegment(ctx, tp, old.Epoch, seg("s/0", 0, 100, old.Epoch)), "RegisterSegment by first holder")

	var taken metadata.Lease
	eventually(t, "node 2 takes the lease once node 1's registration lapsed", func() (bool, error) {
		l, err := s.AcquireLease(ctx, tp, 2)
		if errors.Is(err, metadata.ErrConflict) {
			return false, err
		}
		must(t, err, "AcquireLease by node 2")
		taken = l
		return true, nil
	})
	if taken.Epoch != old.Epoch+1 || taken.Node != 2 {
		t.Fatalf("new lease %+v, want node 2 epoch %d", taken, old.Epoch+1)
	}

	err = s.RegisterSegment(ctx, tp, old.Epoch, seg("s/1-old", 100, 200, old.Epoch))
	mustErrIs(t, err, metadata.ErrFenced, "RegisterSegment under the old epoch")
	err = s.ReplaceSegments(ctx, tp, old.Epoch, []string{"s/0"}, []metadata.SegmentRef{seg("s/0-old", 0, 100, old.Epoch)})
	mustErrIs(t, err, metadata.ErrFenced, "ReplaceSegments under the old epoch")
	_, err = s.SetLogStartOffset(ctx, tp, old.Epoch, 50)
	mustErrIs(t, err, metadata.ErrFenced, "SetLogStartOffset under the old epoch")
	mustErrIs(t, s.ReleaseLease(ctx, old), metadata.ErrFenced, "ReleaseLease by the old holder")

	must(t, s.RegisterSegment(ctx, tp, taken.Epoch, seg("s/1", 100, 200, taken.Epoch)), "RegisterSegment by new holder")
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog")
	if c.Epoch != taken.Epoch || len(c.Segments) != 2 || c.Segments[1].Key != "s/1" {
		t.Fatalf("catalog after failover: epoch %d segments %v", c.Epoch, segKeys(c.Segments))
	}
	cur, err := s.GetLease(ctx, tp)
	must(t, err, "GetLease")
	if cur.Node != 2 || cur.Epoch != taken.Epoch {
		t.Fatalf("GetLease = %+v", cur)
	}
	// Node 1 registering again finds the partition taken.
	register(t, s, 1)
	_, err = s.AcquireLease(ctx, tp, 1)
	mustErrIs(t, err, metadata.ErrConflict, "AcquireLease by the returning holder")
}

func testLeaseRelease(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "released", 1)
	register(t, s, 1, 2)
	tp := metadata.TopicPartition{Topic: "released", Partition: 0}
	l1, err := s.AcquireLease(ctx, tp, 1)
	must(t, err, "AcquireLease")
	must(t, s.ReleaseLease(ctx, l1), "ReleaseLease")
	must(t, s.ReleaseLease(ctx, l1), "ReleaseLease again")
	_, err = s.GetLease(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease after release")

	l2, err := s.AcquireLease(ctx, tp, 2)
	must(t, err, "AcquireLease after release")
	if l2.Epoch != l1.Epoch+1 {
		t.Fatalf("epoch after release %d, want %d", l2.Epoch, l1.Epoch+1)
	}
	mustErrIs(t, s.ReleaseLease(ctx, l1), metadata.ErrFenced, "ReleaseLease of a lease another node took")
	// Even the same node coming back gets a new epoch once it let go.
	must(t, s.ReleaseLease(ctx, l2), "ReleaseLease 2")
	l3, err := s.AcquireLease(ctx, tp, 2)
	must(t, err, "AcquireLease 3")
	if l3.Epoch != l2.Epoch+1 {
		t.Fatalf("epoch after re-acquire %d, want %d", l3.Epoch, l2.Epoch+1)
	}
}

// testLeaseRace has several nodes race for a free lease: exactly one wins.
func testLeaseRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	createTopic(t, s, "contended", 1)
	won := raceFor(t, s, metadata.TopicPartition{Topic: "contended", Partition: 0}, 1, 2, 3, 4, 5)
	if won.Epoch != 1 {
		t.Fatalf("first term of a new partition has epoch %d, want 1", won.Epoch)
	}
}

// testLeaseTakeoverRace has several nodes race for the lease of a holder that left, the holder
// itself among them: exactly one wins, whoever it is.
func testLeaseTakeoverRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "orphaned", 1)
	tp := metadata.TopicPartition{Topic: "orphaned", Partition: 0}
	register(t, s, 9)
	first, err := s.AcquireLease(ctx, tp, 9)
	must(t, err, "AcquireLease by the first holder")
	must(t, s.DeregisterNode(ctx, 9), "DeregisterNode")
	won := raceFor(t, s, tp, 1, 2, 3, 9)
	if won.Epoch != first.Epoch+1 {
		t.Fatalf("winner epoch %d, want %d", won.Epoch, first.Epoch+1)
	}
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog")
	if won.Node != 9 && c.Epoch != won.Epoch {
		t.Fatalf("catalog epoch %d after node %d took over, want %d", c.Epoch, won.Node, won.Epoch)
	}
}

// raceFor registers nodes, has them all acquire tp at once, checks exactly one won, and returns
// the winner's lease.
func raceFor(t *testing.T, s metadata.Store, tp metadata.TopicPartition, nodes ...int32) metadata.Lease {
	t.Helper()
	ctx := ctxT(t)
	register(t, s, nodes...)
	var wg sync.WaitGroup
	wins := make(chan metadata.Lease, len(nodes))
	errs := make(chan error, len(nodes))
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.AcquireLease(ctx, tp, n)
			if err != nil {
				errs <- err
				return
			}
			wins <- l
		}()
	}
	wg.Wait()
	close(wins)
	close(errs)
	var won []metadata.Lease
	for l := range wins {
		won = append(won, l)
	}
	if len(won) != 1 {
		t.Fatalf("%d nodes won the lease: %+v", len(won), won)
	}
	for err := range errs {
		mustErrIs(t, err, metadata.ErrConflict, "losing AcquireLease")
	}
	cur, err := s.GetLease(ctx, tp)
	must(t, err, "GetLease")
	if cur.Node != won[0].Node || cur.Epoch != won[0].Epoch {
		t.Fatalf("GetLease = %+v, winner %+v", cur, won[0])
	}
	return won[0]
}
