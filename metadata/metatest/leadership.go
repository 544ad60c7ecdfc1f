package metatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

// testWatchLeadership checks each change the contract names: a released lease, a node joining,
// deregistering and lapsing, a topic created, changed and deleted. Before each step the channel is
// drained, so the signal awaited is the step's (the contract allows spurious signals). A lapse must
// be signalled once the store no longer reports the node: the test waits for a signal after which
// the change is visible, so a signal only before the lapse is not enough.
func testWatchLeadership(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.WatchLeadership(wctx)
	must(t, err, "WatchLeadership")

	createTopic(t, s, "departing", 2)
	waitDeparture(t, ch, "created topic", func() (bool, error) {
		_, err := s.GetTopic(ctx, "departing")
		return err == nil, err
	})

	register(t, s, 1)
	tp0 := metadata.TopicPartition{Topic: "departing", Partition: 0}
	l, err := s.AcquireLease(ctx, tp0, 1)
	must(t, err, "AcquireLease")
	drain(ch)
	must(t, s.ReleaseLease(ctx, l), "ReleaseLease")
	waitDeparture(t, ch, "released lease", func() (bool, error) { return leaseGone(ctx, s, tp0) })

	drain(ch)
	_, err = s.UpdateTopic(ctx, "departing", func(tp *metadata.Topic) error { tp.Partitions = 3; return nil })
	must(t, err, "UpdateTopic")
	waitDeparture(t, ch, "grown topic", func() (bool, error) {
		top, err := s.GetTopic(ctx, "departing")
		return err == nil && top.Partitions == 3, err
	})

	createTopic(t, s, "doomed", 1)
	doomed := metadata.TopicPartition{Topic: "doomed", Partition: 0}
	_, err = s.AcquireLease(ctx, doomed, 1)
	must(t, err, "AcquireLease on the topic to delete")
	drain(ch)
	must(t, s.DeleteTopic(ctx, "doomed"), "DeleteTopic")
	waitDeparture(t, ch, "deleted topic's lease", func() (bool, error) {
		_, err := s.GetLease(ctx, doomed)
		return errors.Is(err, metadata.ErrNotFound), err
	})

	drain(ch)
	must(t, s.RegisterNode(ctx, metadata.Node{ID: 4}, LongTTL), "RegisterNode")
	waitDeparture(t, ch, "joined node", func() (bool, error) { gone, err := nodeGone(ctx, s, 4); return !gone, err })
	must(t, s.RegisterNode(ctx, metadata.Node{ID: 4}, LongTTL), "RegisterNode refresh")
	drain(ch)
	must(t, s.DeregisterNode(ctx, 4), "DeregisterNode")
	waitDeparture(t, ch, "deregistered node", func() (bool, error) { return nodeGone(ctx, s, 4) })

	must(t, s.RegisterNode(ctx, metadata.Node{ID: 5}, ShortTTL), "RegisterNode with a short TTL")
	tp1 := metadata.TopicPartition{Topic: "departing", Partition: 1}
	_, err = s.AcquireLease(ctx, tp1, 5)
	must(t, err, "AcquireLease by the node about to lapse")
	drain(ch)
	waitDeparture(t, ch, "lapsed node registration", func() (bool, error) {
		if gone, err := nodeGone(ctx, s, 5); !gone || err != nil {
			return false, err
		}
		return leaseGone(ctx, s, tp1) // and with it its lease
	})

	// A second watch sees the same changes, and each ends with its ctx.
	w2ctx, cancel2 := context.WithCancel(ctx)
	ch2, err := s.WatchLeadership(w2ctx)
	must(t, err, "second WatchLeadership")
	l, err = s.AcquireLease(ctx, tp0, 1)
	must(t, err, "AcquireLease again")
	drain(ch)
	drain(ch2)
	must(t, s.ReleaseLease(ctx, l), "ReleaseLease again")
	waitDeparture(t, ch, "released lease, first watch", func() (bool, error) { return leaseGone(ctx, s, tp0) })
	waitDeparture(t, ch2, "released lease, second watch", func() (bool, error) { return leaseGone(ctx, s, tp0) })
	cancel2()
	waitClosed(t, ch2, "second watch after its ctx ended")

	// Close ends the first watch too.
	must(t, s.Close(), "Close")
	waitClosed(t, ch, "watch after Close")
}

// waitDeparture waits for a signal after which the change (gone) is visible, failing after waitLimit.
func waitDeparture(t *testing.T, ch <-chan struct{}, what string, gone func() (bool, error)) {
	t.Helper()
	deadline := time.After(waitLimit)
	var lastErr error
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				t.Fatalf("%s: watch closed early", what)
			}
			ok, err := gone()
			if ok {
				return
			}
			lastErr = err
		case <-deadline:
			t.Fatalf("%s: no signal after which it is gone within %v (last error: %v)", what, waitLimit, lastErr)
		}
	}
}

// waitClosed drains ch until it is closed, failing after waitLimit.
func waitClosed[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: channel not closed", what)
		}
	}
}

// drain takes any signal already waiting.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func leaseGone(ctx context.Context, s metadata.Store, tp metadata.TopicPartition) (bool, error) {
	_, err := s.GetLease(ctx, tp)
	if errors.Is(err, metadata.ErrNotFound) {
		return true, nil
	}
	return false, err
}

func nodeGone(ctx context.Context, s metadata.Store, id int32) (bool, error) {
	ns, err := s.ListNodes(ctx)
	if err != nil {
		return false, err
	}
	for _, n := range ns {
		if n.ID == id {
			return false, nil
		}
	}
	return true, nil
}
