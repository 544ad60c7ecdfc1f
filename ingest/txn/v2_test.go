package txn

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// addImplicitly is a Produce v12's implicit add of tp.
func (f *fixture) addImplicitly(t *testing.T, id string, pid int64, epoch int16, tp metadata.TopicPartition) error {
	t.Helper()
	_, err := AddImplicitly(context.Background(), f.store, id, pid, epoch, f.clock.Now(), func(tx *metadata.Transaction) { tx.AddPartition(tp) })
	return err
}

// TestEndTxnV2BumpsEpoch: under transaction.version 2 each EndTxn bumps the epoch, its markers
// carry the new epoch, and the records of the next transaction (at the new epoch) are added
// implicitly; the old epoch is fenced.
func TestEndTxnV2BumpsEpoch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, err := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false, true} {
		if err := f.addImplicitly(t, "a", pid, epoch, tp0); err != nil {
			t.Fatalf("transaction %d: implicit add: %v", i, err)
		}
		if st := f.state(t, "a"); st.State != metadata.TxnOngoing || !st.HasPartition(tp0) || st.Version != 2 || st.Sequence != int64(i+1) {
			t.Fatalf("transaction %d after the implicit add: %+v", i, st)
		}
		npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch, commit)
		if err != nil {
			t.Fatalf("transaction %d: EndTxnV2: %v", i, err)
		}
		if npid != pid || nepoch != epoch+1 {
			t.Fatalf("transaction %d: EndTxnV2 gave (%d, %d), want (%d, %d)", i, npid, nepoch, pid, epoch+1)
		}
		if m := f.markers.last(t); m.pid != pid || m.epoch != epoch+1 || m.commit != commit {
			t.Fatalf("transaction %d: marker %+v, want producer %d epoch %d commit %v", i, m, pid, epoch+1, commit)
		}
		want := map[bool]metadata.TxnState{true: metadata.TxnCompleteCommit, false: metadata.TxnCompleteAbort}[commit]
		if st := f.state(t, "a"); st.State != want || st.ProducerEpoch != epoch+1 || st.PrevProducerEpoch != epoch {
			t.Fatalf("transaction %d: state %+v", i, st)
		}
		// The old epoch is fenced, for adds and for a second transaction's EndTxn.
		wantKerr(t, f.addImplicitly(t, "a", pid, epoch, tp1), kerr.ProducerFenced, "implicit add at the old epoch")
		epoch = nepoch
	}
}

// TestEndTxnV2Retry: a retried EndTxn at the previous epoch that already took effect succeeds
// with the current producer id and epoch, without a second bump; the opposite outcome does not.
func TestEndTxnV2Retry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err := f.addImplicitly(t, "a", pid, epoch, tp0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	n := len(f.markers.calls)
	for i := range 2 {
		npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch, true)
		if err != nil || npid != pid || nepoch != epoch+1 {
			t.Fatalf("retry %d: (%d, %d, %v), want (%d, %d, nil)", i, npid, nepoch, err, pid, epoch+1)
		}
	}
	if len(f.markers.calls) != n {
		t.Fatalf("a retry wrote markers again: %d calls, want %d", len(f.markers.calls), n)
	}
	_, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch, false)
	wantKerr(t, err, kerr.ProducerFenced, "abort at the previous epoch after a commit")

	// A retry while the markers are still being written completes the transaction.
	if err := f.addImplicitly(t, "a", pid, epoch+1, tp1); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = context.DeadlineExceeded
	if _, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch+1, false); err != nil {
		t.Fatal(err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnPrepareAbort || st.ProducerEpoch != epoch+2 {
		t.Fatalf("abort with failing markers: %+v", st)
	}
	wantKerr(t, f.addImplicitly(t, "a", pid, epoch+2, tp0), kerr.ConcurrentTransactions, "implicit add while the last transaction prepares")
	f.markers.fail = nil
	if npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch+1, false); err != nil || npid != pid || nepoch != epoch+2 {
		t.Fatalf("retry while preparing: (%d, %d, %v)", npid, nepoch, err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteAbort {
		t.Fatalf("after the retry: %+v", st)
	}
	if m := f.markers.last(t); m.epoch != epoch+2 || m.commit {
		t.Fatalf("retry's marker %+v", m)
	}
}

// TestEndTxnV2EmptyAbort: an abort with no ongoing transaction succeeds and bumps the epoch (and
// its retry succeeds); a commit with none is INVALID_TXN_STATE; EndTxn v4 keeps its behaviour.
func TestEndTxnV2EmptyAbort(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	_, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch, true)
	wantKerr(t, err, kerr.InvalidTxnState, "commit of no transaction")
	wantKerr(t, f.c.EndTxn(ctx, "a", pid, epoch, false), kerr.InvalidTxnState, "EndTxn v4 abort of no transaction")
	for i := range 2 {
		npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch, false)
		if err != nil || npid != pid || nepoch != epoch+1 {
			t.Fatalf("empty abort (try %d): (%d, %d, %v), want (%d, %d, nil)", i, npid, nepoch, err, pid, epoch+1)
		}
	}
	if len(f.markers.calls) != 0 {
		t.Fatalf("an empty abort wrote markers: %+v", f.markers.calls)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteAbort || st.ProducerEpoch != epoch+1 {
		t.Fatalf("after an empty abort: %+v", st)
	}
	// Again at the new epoch: a second bump.
	if _, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch+1, false); err != nil || nepoch != epoch+2 {
		t.Fatalf("second empty abort: epoch %d, %v", nepoch, err)
	}
}

// TestEndTxnV2EpochExhausted: at the last epoch the producer moves to a new producer id at epoch
// 0; the markers carry the old id at epoch MaxInt16; a retry at the old id succeeds.
func TestEndTxnV2EpochExhausted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, last := f.atLastEpoch(t, "a")
	npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, last, true)
	if err != nil || npid == pid || npid < 0 || nepoch != 0 {
		t.Fatalf("EndTxnV2 at the last epoch: (%d, %d, %v), want a new producer id at epoch 0", npid, nepoch, err)
	}
	if m := f.markers.last(t); m.pid != pid || m.epoch != math.MaxInt16 || !m.commit {
		t.Fatalf("marker %+v, want producer %d epoch %d", m, pid, math.MaxInt16)
	}
	if st := f.state(t, "a"); st.ProducerID != npid || st.ProducerEpoch != 0 || st.State != metadata.TxnCompleteCommit {
		t.Fatalf("state %+v", st)
	}
	if rpid, repoch, err := f.c.EndTxnV2(ctx, "a", pid, last, true); err != nil || rpid != npid || repoch != 0 {
		t.Fatalf("retry at the old producer id: (%d, %d, %v)", rpid, repoch, err)
	}
	// The new producer id runs the next transaction.
	if err := f.addImplicitly(t, "a", npid, 0, tp1); err != nil {
		t.Fatal(err)
	}
	if _, e, err := f.c.EndTxnV2(ctx, "a", npid, 0, false); err != nil || e != 1 {
		t.Fatalf("next transaction: epoch %d, %v", e, err)
	}

	// While such a transaction is still preparing, its producer already holds the new id.
	if _, err := f.store.UpdateTransaction(ctx, "a", func(cur *metadata.Transaction, _ bool) error {
		cur.ProducerEpoch = last
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.addImplicitly(t, "a", npid, last, tp0); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = context.DeadlineExceeded
	p2, e2, err := f.c.EndTxnV2(ctx, "a", npid, last, false)
	if err != nil || p2 == npid || e2 != 0 {
		t.Fatalf("EndTxnV2 with failing markers: (%d, %d, %v)", p2, e2, err)
	}
	f.markers.fail = nil
	if err := f.addImplicitly(t, "a", p2, 0, tp0); err == nil {
		t.Fatal("an implicit add while preparing succeeded")
	}
	if err := addTp1(ctx, f.c, "a", p2, 0); err != nil {
		t.Fatalf("AddPartitions with the new producer id completes the last transaction: %v", err)
	}
	if st := f.state(t, "a"); st.ProducerID != p2 || st.ProducerEpoch != 0 || st.State != metadata.TxnOngoing {
		t.Fatalf("state %+v", st)
	}
}

// addTp1 adds tp1 with AddPartitions.
func addTp1(ctx context.Context, c *Coordinator, id string, pid int64, epoch int16) error {
	bad, err := c.AddPartitions(ctx, id, pid, epoch, []metadata.TopicPartition{tp1})
	if err == nil && bad != nil {
		return kerr.InvalidTxnState
	}
	return err
}

// TestTimeoutV2AbortRetry: a transaction under version 2 that timed out is aborted at a bumped
// epoch; its producer's abort at the old epoch succeeds (a retry), its commit is fenced.
func TestTimeoutV2AbortRetry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err := f.addImplicitly(t, "a", pid, epoch, tp0); err != nil {
		t.Fatal(err)
	}
	if _, err := Fence(ctx, f.store, f.state(t, "a"), f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch, true)
	wantKerr(t, err, kerr.ProducerFenced, "commit after a timeout")
	if npid, nepoch, err := f.c.EndTxnV2(ctx, "a", pid, epoch, false); err != nil || npid != pid || nepoch != epoch+1 {
		t.Fatalf("abort after a timeout: (%d, %d, %v)", npid, nepoch, err)
	}
}

// TestStageOffsetsV2 adds the group implicitly (no AddOffsets) and commits the offsets with the
// transaction.
func TestStageOffsetsV2(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	off := []metadata.TxnOffset{{TopicPartition: tp0, OffsetCommit: metadata.OffsetCommit{Offset: 5}}}
	wantKerr(t, f.c.StageOffsets(ctx, "a", pid, epoch, "g", off), kerr.InvalidTxnState, "StageOffsets without AddOffsets")
	if err := f.c.StageOffsetsV2(ctx, "a", pid, epoch, "g", off); err != nil {
		t.Fatal(err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnOngoing || !st.HasGroup("g") || len(st.Offsets) != 1 {
		t.Fatalf("state %+v", st)
	}
	if _, _, err := f.c.EndTxnV2(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if got[tp0].Offset != 5 {
		t.Fatalf("committed offsets %+v, want %v at 5", got, tp0)
	}
}

// TestInitProducerIDAfterUnconfirmedEndTxnV2: a client that did not learn the outcome of its
// EndTxn v5 re-initializes with the producer id and epoch it held (KIP-360); that succeeds even
// when the EndTxn moved the id to a new producer id, and a stranger's id is still fenced.
func TestInitProducerIDAfterUnconfirmedEndTxnV2(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, last := f.atLastEpoch(t, "a")
	npid, _, err := f.c.EndTxnV2(ctx, "a", pid, last, false)
	if err != nil || npid == pid {
		t.Fatalf("EndTxnV2: %d, %v", npid, err)
	}
	_, _, err = f.c.InitProducerID(ctx, "a", time.Minute, pid+100, 0)
	wantKerr(t, err, kerr.ProducerFenced, "InitProducerId with a stranger's producer id")
	gpid, gepoch, err := f.c.InitProducerID(ctx, "a", time.Minute, pid, last)
	if err != nil || gpid != npid || gepoch != 1 {
		t.Fatalf("InitProducerId with the producer id before the EndTxn: (%d, %d, %v), want (%d, 1)", gpid, gepoch, err, npid)
	}
}

// atLastEpoch initializes id's producer, moves it to the last epoch before exhaustion and adds
// tp0 to a transaction there; it returns the producer id and that epoch.
func (f *fixture) atLastEpoch(t *testing.T, id string) (int64, int16) {
	t.Helper()
	ctx := context.Background()
	pid, _, _ := f.c.InitProducerID(ctx, id, time.Minute, -1, -1)
	last := int16(math.MaxInt16 - 1)
	if _, err := f.store.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, _ bool) error {
		cur.ProducerEpoch = last
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.addImplicitly(t, id, pid, last, tp0); err != nil {
		t.Fatal(err)
	}
	return pid, last
}
