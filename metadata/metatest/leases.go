package metatest

import (
	"errors"
	"sync"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func testLeases(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "leased", 2)
	tp := metadata.TopicPartition{Topic: "leased", Partition: 0}

	_, err := s.GetLease(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease before any holder")
	_, err = s.AcquireLease(ctx, metadata.TopicPartition{Topic: "nope", Partition: 0}, 1, LongTTL)
	mustErrIs(t, err, metadata.ErrNotFound, "AcquireLease unknown topic")
	_, err = s.AcquireLease(ctx, metadata.TopicPartition{Topic: "leased", Partition: 2}, 1, LongTTL)
	mustErrIs(t, err, metadata.ErrNotFound, "AcquireLease partition out of range")

	l1, err := s.AcquireLease(ctx, tp, 1, LongTTL)
	must(t, err, "AcquireLease")
	if l1.Node != 1 || l1.Epoch < 1 || l1.TopicPartition != tp || l1.Expires.IsZero() {
		t.Fatalf("AcquireLease = %+v", l1)
	}
	again, err := s.AcquireLease(ctx, tp, 1, LongTTL)
	must(t, err, "AcquireLease by holder")
	if again.Epoch != l1.Epoch || again.Node != 1 {
		t.Fatalf("re-acquire by holder = %+v, want epoch %d", again, l1.Epoch)
	}
	_, err = s.AcquireLease(ctx, tp, 2, LongTTL)
	mustErrIs(t, err, metadata.ErrConflict, "AcquireLease of a held lease")

	got, err := s.GetLease(ctx, tp)
	must(t, err, "GetLease")
	if got.Node != 1 || got.Epoch != l1.Epoch {
		t.Fatalf("GetLease = %+v", got)
	}
	r, err := s.RenewLease(ctx, l1, LongTTL)
	must(t, err, "RenewLease")
	if r.Epoch != l1.Epoch || r.Node != 1 || r.Expires.Before(l1.Expires) {
		t.Fatalf("RenewLease = %+v after %+v", r, l1)
	}
	stale := l1
	stale.Epoch--
	_, err = s.RenewLease(ctx, stale, LongTTL)
	mustErrIs(t, err, metadata.ErrFenced, "RenewLease with a wrong epoch")
	other := l1
	other.Node = 9
	_, err = s.RenewLease(ctx, other, LongTTL)
	mustErrIs(t, err, metadata.ErrFenced, "RenewLease by a non-holder")

	// The catalog carries the epoch.
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog")
	if c.Epoch != l1.Epoch {
		t.Fatalf("catalog epoch %d, lease epoch %d", c.Epoch, l1.Epoch)
	}

	tp1 := metadata.TopicPartition{Topic: "leased", Partition: 1}
	l2, err := s.AcquireLease(ctx, tp1, 2, LongTTL)
	must(t, err, "AcquireLease partition 1")
	all, err := s.ListLeases(ctx)
	must(t, err, "ListLeases")
	if len(all) != 2 {
		t.Fatalf("ListLeases = %+v", all)
	}
	byTP := map[metadata.TopicPartition]metadata.Lease{}
	for _, l := range all {
		byTP[l.TopicPartition] = l
	}
	if byTP[tp].Node != 1 || byTP[tp].Epoch != l1.Epoch || byTP[tp1].Node != 2 || byTP[tp1].Epoch != l2.Epoch {
		t.Fatalf("ListLeases = %+v", all)
	}
}

// testLeaseExpiryFences lets a lease lapse, has another node take it, and checks that the old
// holder is fenced everywhere.
func testLeaseExpiryFences(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "expiring", 1)
	tp := metadata.TopicPartition{Topic: "expiring", Partition: 0}

	old, err := s.AcquireLease(ctx, tp, 1, ShortTTL)
	must(t, err, "AcquireLease")
	must(t, s.RegisterSegment(ctx, tp, old.Epoch, seg("s/0", 0, 100, old.Epoch)), "RegisterSegment by first holder")

	var taken metadata.Lease
	eventually(t, "node 2 takes the lapsed lease", func() (bool, error) {
		l, err := s.AcquireLease(ctx, tp, 2, LongTTL)
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

	_, err = s.RenewLease(ctx, old, LongTTL)
	mustErrIs(t, err, metadata.ErrFenced, "RenewLease by the old holder")
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
}

func testLeaseRelease(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "released", 1)
	tp := metadata.TopicPartition{Topic: "released", Partition: 0}
	l1, err := s.AcquireLease(ctx, tp, 1, LongTTL)
	must(t, err, "AcquireLease")
	must(t, s.ReleaseLease(ctx, l1), "ReleaseLease")
	must(t, s.ReleaseLease(ctx, l1), "ReleaseLease again")
	_, err = s.GetLease(ctx, tp)
	mustErrIs(t, err, metadata.ErrNotFound, "GetLease after release")
	_, err = s.RenewLease(ctx, l1, LongTTL)
	mustErrIs(t, err, metadata.ErrFenced, "RenewLease after release")

	l2, err := s.AcquireLease(ctx, tp, 2, LongTTL)
	must(t, err, "AcquireLease after release")
	if l2.Epoch != l1.Epoch+1 {
		t.Fatalf("epoch after release %d, want %d", l2.Epoch, l1.Epoch+1)
	}
	// Even the same node coming back gets a new epoch once it let go.
	must(t, s.ReleaseLease(ctx, l2), "ReleaseLease 2")
	l3, err := s.AcquireLease(ctx, tp, 2, LongTTL)
	must(t, err, "AcquireLease 3")
	if l3.Epoch != l2.Epoch+1 {
		t.Fatalf("epoch after re-acquire %d, want %d", l3.Epoch, l2.Epoch+1)
	}
}

// testLeaseRace has several nodes race for a free lease: exactly one wins.
func testLeaseRace(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	createTopic(t, s, "contended", 1)
	tp := metadata.TopicPartition{Topic: "contended", Partition: 0}
	const nodes = 5
	var wg sync.WaitGroup
	wins := make(chan metadata.Lease, nodes)
	errs := make(chan error, nodes)
	for n := int32(1); n <= nodes; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.AcquireLease(ctx, tp, n, LongTTL)
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
	c, err := s.GetCatalog(ctx, tp)
	must(t, err, "GetCatalog")
	if c.Epoch != won[0].Epoch {
		t.Fatalf("catalog epoch %d, winner epoch %d", c.Epoch, won[0].Epoch)
	}
}
