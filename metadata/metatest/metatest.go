// Package metatest is the conformance suite every metadata.Store must pass.
//
// A backend's test calls Run with a constructor that returns a fresh, empty Store for each subtest
// (the constructor closes it in t.Cleanup). The suite uses real time for node expiry (and so for
// lease liveness), with TTLs of one or two seconds, so a backend whose expiry is done by its server
// (NATS per-key TTL) is exercised for real. Waits are bounded polls, never timed assertions: a slow machine makes the suite
// slower, not flaky.
package metatest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

// NewStore returns a fresh, empty store and arranges for it to be closed when t ends.
type NewStore func(t *testing.T) metadata.Store

// ShortTTL is the node registration TTL the suite lets lapse. Backends round TTLs up to whole seconds.
const ShortTTL = time.Second

// LongTTL is a TTL that must not lapse during a subtest.
const LongTTL = time.Minute

// waitLimit bounds every poll; reaching it fails the test.
const waitLimit = 30 * time.Second

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Topics", func(t *testing.T) { testTopics(t, newStore) })
	t.Run("UpdateTopicConcurrent", func(t *testing.T) { testUpdateTopicConcurrent(t, newStore) })
	t.Run("DeleteTopic", func(t *testing.T) { testDeleteTopic(t, newStore) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, newStore) })
	t.Run("LeaseExpiryFences", func(t *testing.T) { testLeaseExpiryFences(t, newStore) })
	t.Run("LeaseRelease", func(t *testing.T) { testLeaseRelease(t, newStore) })
	t.Run("LeaseRace", func(t *testing.T) { testLeaseRace(t, newStore) })
	t.Run("LeaseTakeoverRace", func(t *testing.T) { testLeaseTakeoverRace(t, newStore) })
	t.Run("Segments", func(t *testing.T) { testSegments(t, newStore) })
	t.Run("ListSegments", func(t *testing.T) { testListSegments(t, newStore) })
	t.Run("ReplaceSegments", func(t *testing.T) { testReplaceSegments(t, newStore) })
	t.Run("ReplaceSegmentsRace", func(t *testing.T) { testReplaceSegmentsRace(t, newStore) })
	t.Run("RegisterSegmentRace", func(t *testing.T) { testRegisterSegmentRace(t, newStore) })
	t.Run("SetLogStartOffset", func(t *testing.T) { testSetLogStartOffset(t, newStore) })
	t.Run("WatchCatalogs", func(t *testing.T) { testWatchCatalogs(t, newStore) })
	t.Run("Offsets", func(t *testing.T) { testOffsets(t, newStore) })
	t.Run("OffsetsConcurrent", func(t *testing.T) { testOffsetsConcurrent(t, newStore) })
	t.Run("WatchOffsets", func(t *testing.T) { testWatchOffsets(t, newStore) })
	t.Run("ProducerIDs", func(t *testing.T) { testProducerIDs(t, newStore) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, newStore) })
	t.Run("TransactionsConcurrent", func(t *testing.T) { testTransactionsConcurrent(t, newStore) })
	t.Run("Nodes", func(t *testing.T) { testNodes(t, newStore) })
	t.Run("WatchLeadership", func(t *testing.T) { testWatchLeadership(t, newStore) })
	t.Run("ACLs", func(t *testing.T) { testACLs(t, newStore) })
	t.Run("CloseIdempotent", func(t *testing.T) {
		s := newStore(t)
		if err := s.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not reached after %v (last error: %v)", what, waitLimit, lastErr)
}

func mustErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// createTopic creates a topic with n partitions and returns it.
func createTopic(t *testing.T, s metadata.Store, name string, n int32) metadata.Topic {
	t.Helper()
	top, err := s.CreateTopic(ctxT(t), metadata.Topic{Name: name, Partitions: n})
	must(t, err, "CreateTopic "+name)
	return top
}

// seg builds a segment ref covering [base, next).
func seg(key string, base, next int64, epoch int32) metadata.SegmentRef {
	return metadata.SegmentRef{
		Key: key, BaseOffset: base, NextOffset: next, Size: 10 * (next - base),
		MinTimestamp: 1000 + base, MaxTimestamp: 1000 + next - 1, Epoch: epoch, Records: next - base,
		CreatedAt: time.UnixMilli(1_700_000_000_000 + base).UTC(),
	}
}

func segKeys(segs []metadata.SegmentRef) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = fmt.Sprintf("%s[%d,%d)", s.Key, s.BaseOffset, s.NextOffset)
	}
	return out
}
