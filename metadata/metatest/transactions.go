package metatest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

// testTransactions: create on first update, read back every field, update under CAS, list in id
// order, an fn error writes nothing.
func testTransactions(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	_, err := s.GetTransaction(ctx, "a")
	mustErrIs(t, err, metadata.ErrNotFound, "GetTransaction of an unknown id")

	now := time.UnixMilli(1_700_000_000_123).UTC()
	want := metadata.Transaction{ID: "a", ProducerID: 7, ProducerEpoch: 3, TimeoutMs: 60000, State: metadata.TxnOngoing,
		Partitions: []metadata.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 2}},
		Groups:     []string{"g"},
		Offsets: []metadata.TxnOffset{{Group: "g", TopicPartition: metadata.TopicPartition{Topic: "t", Partition: 1},
			OffsetCommit: metadata.OffsetCommit{Offset: 42, LeaderEpoch: 5, Metadata: "m", CommittedAt: now}}},
		Sequence: 1, Version: 2, PrevProducerID: 7, PrevProducerEpoch: 2, NextProducerID: 9, StartedAt: now, UpdatedAt: now}
	got, err := s.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, found bool) error {
		if found {
			return fmt.Errorf("found an unknown id")
		}
		if tx.ID != "a" {
			return fmt.Errorf("new transaction has id %q", tx.ID)
		}
		*tx = want.Clone()
		return nil
	})
	must(t, err, "UpdateTransaction create")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UpdateTransaction returned %+v, want %+v", got, want)
	}
	got, err = s.GetTransaction(ctx, "a")
	must(t, err, "GetTransaction")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetTransaction = %+v, want %+v", got, want)
	}

	boom := errors.New("boom")
	_, err = s.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, found bool) error {
		tx.State = metadata.TxnPrepareAbort
		return boom
	})
	mustErrIs(t, err, boom, "UpdateTransaction with a failing fn")
	got, err = s.GetTransaction(ctx, "a")
	must(t, err, "GetTransaction after a failed update")
	if got.State != metadata.TxnOngoing {
		t.Fatalf("a failed update wrote state %v", got.State)
	}
	_, err = s.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, found bool) error {
		tx.ID = "b"
		return nil
	})
	if err == nil {
		t.Fatal("UpdateTransaction changed the id")
	}

	_, err = s.UpdateTransaction(ctx, "0", func(tx *metadata.Transaction, found bool) error {
		tx.ProducerID = 9
		return nil
	})
	must(t, err, "UpdateTransaction create 0")
	list, err := s.ListTransactions(ctx)
	must(t, err, "ListTransactions")
	if len(list) != 2 || list[0].ID != "0" || list[1].ID != "a" || list[0].ProducerID != 9 || !reflect.DeepEqual(list[1], want) {
		t.Fatalf("ListTransactions = %+v", list)
	}
}

// testTransactionsConcurrent: concurrent read-modify-writes of one id lose no update.
func testTransactionsConcurrent(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.UpdateTransaction(ctx, "x", func(tx *metadata.Transaction, _ bool) error {
					tx.Sequence++
					tx.AddPartition(metadata.TopicPartition{Topic: "t", Partition: int32(w*each + i)})
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateTransaction: %v", err)
	}
	got, err := s.GetTransaction(ctx, "x")
	must(t, err, "GetTransaction")
	if got.Sequence != writers*each || len(got.Partitions) != writers*each {
		t.Fatalf("after %d updates: sequence %d, %d partitions", writers*each, got.Sequence, len(got.Partitions))
	}
	for i := range got.Partitions {
		if got.Partitions[i].Partition != int32(i) {
			t.Fatalf("partitions not sorted: %v", got.Partitions)
		}
	}
}
