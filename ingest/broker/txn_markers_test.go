package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// A marker written again for a transaction whose marker the partition already holds — a retry, or
// a second coordinator completing the same transaction after a takeover of the transactional id —
// may arrive after the producer began its next transaction there under the same epoch (clients
// keep their epoch across transactions). It must not end that transaction: Strata's coordinators
// send the transaction's sequence as the marker's coordinator epoch, and a partition appends a
// marker only for a sequence newer than its producer's last marker, on the leader and on a new
// leader that rebuilt its state from object storage after a takeover. (The Jepsen transactional
// checker once read a committed transaction with 2 of its 7 records missing: an earlier
// transaction's late abort marker had aborted them.)
func TestTxnLateMarkerOfEarlierTransaction(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, clk, bucket, b1, tp := tieredTxnTopic(t, ctx, "late", map[string]int64{"a": 1})
	setSeq := func(seq int64) {
		t.Helper()
		if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
			tx.State, tx.Sequence, tx.Partitions = metadata.TxnOngoing, seq, []metadata.TopicPartition{tp}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	durable := func(r AppendResult, err error) { // on b1
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	marker := func(b *Broker, commit bool, seq int32) {
		t.Helper()
		if err := b.WriteTxnMarker(ctx, tp, 1, 0, commit, seq); err != nil {
			t.Fatalf("marker (commit=%v) of transaction %d: %v", commit, seq, err)
		}
	}
	// aborted reads the partition read_committed from the start once its high watermark reaches
	// hw and returns the aborted transactions and the offset of its last data record.
	aborted := func(b *Broker, hw int64) (string, int64) {
		t.Helper()
		for {
			res, err := b.FetchIsolated(ctx, tp, 0, 1<<20, true)
			if err == nil && res.HighWatermark >= hw {
				if res.HighWatermark != hw {
					t.Fatalf("high watermark %d, want %d: a marker was appended that should not have been", res.HighWatermark, hw)
				}
				last := int64(-1) // of the data batches
				for pos := 0; pos < len(res.Records); {
					info, err := segment.ParseBatch(res.Records[pos:])
					if err != nil {
						t.Fatal(err)
					}
					if !info.Control() {
						last = info.LastOffset()
					}
					pos += info.Size()
				}
				return fmt.Sprint(res.Aborted), last
			}
			if ctx.Err() != nil {
				t.Fatalf("the partition never reached %d: %+v %v", hw, res, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	onlyFirst := fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 0, last: 2}})

	// Transaction 1 writes 0-1 and is aborted (2); transaction 2 writes 3-4.
	setSeq(1)
	durable(b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 0)))
	marker(b1, false, 1)
	setSeq(2)
	durable(b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 2)))
	// Transaction 1's abort again, late: nothing is appended, transaction 2 stays open.
	marker(b1, false, 1)
	if lso, err := b1.LastStableOffset(ctx, tp); err != nil || lso != 3 {
		t.Fatalf("after a late marker of the ended transaction: last stable offset %d, %v; want 3 (transaction 2 still open)", lso, err)
	}
	if got, _ := aborted(b1, 5); got != onlyFirst {
		t.Fatalf("after a late marker of the ended transaction: aborted %s, want %s", got, onlyFirst)
	}

	// A new leader rebuilds the last marker's sequence from object storage.
	crash(b1, clk)
	b2 := startTieredNode(t, st, 2, bucket)
	if b2.Epoch(tp) < 0 {
		t.Fatal("the second node did not take the partition")
	}
	aborted(b2, 5)
	if start := b2.partitionForTest(t, tp).log.StartOffset(); start != 5 {
		t.Fatalf("the new leader's hot log starts at %d, want the tiered end 5", start)
	}
	marker(b2, false, 1)
	marker(b2, true, 2) // 5: transaction 2 commits
	if got, last := aborted(b2, 6); got != onlyFirst || last != 4 {
		t.Fatalf("on the new leader, after transaction 2's commit: aborted %s, last record %d; want %s and 4", got, last, onlyFirst)
	}
	// The commit again (a retry) appends nothing either.
	marker(b2, true, 2)
	aborted(b2, 6)
}

// The same after a restart of the node: the last marker's sequence is rebuilt from the hot log.
func TestTxnLateMarkerAfterRestart(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	b1 := newBroker(t, st, 1, dir)
	tp := metadata.TopicPartition{Topic: "tx"}
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "tx", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	setSeq := func(seq int64) {
		t.Helper()
		if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
			tx.ProducerID, tx.State, tx.Sequence, tx.Partitions = 1, metadata.TxnOngoing, seq, []metadata.TopicPartition{tp}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setSeq(1)
	if _, err := b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 0)); err != nil { // 0-1
		t.Fatal(err)
	}
	if err := b1.WriteTxnMarker(ctx, tp, 1, 0, false, 1); err != nil { // 2
		t.Fatal(err)
	}
	setSeq(2)
	r, err := b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 2)) // 3-4
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.WaitDurable(ctx, tp, r.Epoch, 5); err != nil {
		t.Fatal(err)
	}
	b1.Close()
	b1.dir.Close()

	b2 := newBroker(t, st, 1, dir)
	if err := b2.WriteTxnMarker(ctx, tp, 1, 0, false, 1); err != nil {
		t.Fatal(err)
	}
	if lso, err := b2.LastStableOffset(ctx, tp); err != nil || lso != 3 {
		t.Fatalf("after a late marker of the ended transaction: last stable offset %d, %v; want 3 (transaction 2 still open)", lso, err)
	}
	if end := b2.partitionForTest(t, tp).log.EndOffset(); end != 5 {
		t.Fatalf("log end %d after the late marker, want 5 (nothing appended)", end)
	}
}

// A transaction open in a partition whose marker was lost (written and acknowledged, then gone
// with the old leader's local tail) while its coordinator recorded it complete: the new leader
// aborts it, or it would hold the last stable offset back for good and read_committed consumers
// would stall there. A transaction still ongoing with the partition is left open.
func TestTxnOrphanAbortedOnTakeover(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	b1 := newBroker(t, st, 1, dir)
	tp := metadata.TopicPartition{Topic: "tx"}
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "tx", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	setTxn := func(id string, pid int64, state metadata.TxnState, tps ...metadata.TopicPartition) {
		t.Helper()
		if _, err := st.UpdateTransaction(ctx, id, func(tx *metadata.Transaction, _ bool) error {
			tx.ProducerID, tx.State, tx.Partitions = pid, state, tps
			if id == "a" {
				tx.Sequence = 2 // a's first transaction ended elsewhere: these records may be either's
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setTxn("a", 1, metadata.TxnOngoing, tp)
	setTxn("b", 2, metadata.TxnOngoing, tp)
	setTxn("c", 3, metadata.TxnOngoing, tp)
	for _, app := range []func() (AppendResult, error){
		func() (AppendResult, error) { return b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 0)) }, // 0-1 a
		func() (AppendResult, error) { return b1.AppendTransactional(ctx, tp, "b", txnBatch(1, 2, 0, 0)) }, // 2 b
		func() (AppendResult, error) { return b1.Append(ctx, tp, batch(1, -1, 0, 0)) },                     // 3 plain
		func() (AppendResult, error) { return b1.AppendTransactional(ctx, tp, "c", txnBatch(1, 3, 0, 0)) }, // 4 c
	} {
		r, err := app()
		if err != nil {
			t.Fatal(err)
		}
		if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	setTxn("a", 1, metadata.TxnCompleteCommit) // its marker never reached this log
	// c's too; its producer was fenced since and began another transaction with the partition.
	if _, err := st.UpdateTransaction(ctx, "c", func(tx *metadata.Transaction, _ bool) error {
		tx.ProducerEpoch = 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b1.Close()
	b1.dir.Close()

	b2 := newBroker(t, st, 1, dir)
	if lso, err := b2.LastStableOffset(ctx, tp); err != nil || lso != 2 {
		t.Fatalf("after the takeover: last stable offset %d, %v; want 2 (b's open transaction; a's ended)", lso, err)
	}
	if err := b2.WriteTxnMarker(ctx, tp, 2, 0, true, 0); err != nil { // 7 commit b
		t.Fatal(err)
	}
	if lso, err := b2.LastStableOffset(ctx, tp); err != nil || lso != 8 {
		t.Fatalf("after b's commit: last stable offset %d, %v; want 8", lso, err)
	}
	res, err := b2.FetchIsolated(ctx, tp, 0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 0, last: 5}, {ProducerID: 3, First: 4, last: 6}}); fmt.Sprint(res.Aborted) != want {
		t.Fatalf("aborted %v, want %s (a's and c's records hidden: their outcome is unknown here; b's committed)", res.Aborted, want)
	}
}

// A committed transaction whose commit marker was lost with the old leader, when the partition's
// records of the producer can only be that transaction's (its first, or the one after the
// transaction whose marker the partition holds): the new leader writes the commit again, and the
// transaction stays whole. Aborting it would tear it: its other partitions show it committed.
func TestTxnLostCommitMarkerWrittenAgain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		earlier bool // the partition holds the marker of the producer's previous transaction
		v2      bool // the commit ran under transaction.version 2: EndTxn v5 bumped the epoch
	}{
		{"first transaction", false, false},
		{"after the previous transaction's marker", true, false},
		{"first transaction, transaction.version 2", false, true},
		{"after the previous transaction's marker, transaction.version 2", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := newMemStore(t)
			ctx := context.Background()
			dir := t.TempDir()
			b1 := newBroker(t, st, 1, dir)
			tp := metadata.TopicPartition{Topic: "tx"}
			if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "tx", Partitions: 1, ReplicationFactor: 1}); err != nil {
				t.Fatal(err)
			}
			seq := int64(1)
			setTxn := func(state metadata.TxnState, tps ...metadata.TopicPartition) {
				t.Helper()
				if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
					tx.ProducerID, tx.State, tx.Partitions, tx.Sequence = 1, state, tps, seq
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			first := int64(0)
			if tc.earlier { // transaction 1 here, ended by its marker; then transaction 2
				setTxn(metadata.TxnOngoing, tp)
				if _, err := b1.AppendTransactional(ctx, tp, "a", txnBatch(1, 1, 0, 0)); err != nil { // 0
					t.Fatal(err)
				}
				if err := b1.WriteTxnMarker(ctx, tp, 1, 0, false, 1); err != nil { // 1: abort
					t.Fatal(err)
				}
				seq, first = 2, 2
			}
			setTxn(metadata.TxnOngoing, tp)
			r, err := b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, int32(first/2)))
			if err != nil {
				t.Fatal(err)
			}
			if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			setTxn(metadata.TxnCompleteCommit) // committed; its marker here was lost
			// Under transaction.version 2, EndTxn v5 moved the producer from epoch 0, the records', to 1.
			if tc.v2 {
				if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
					tx.Version, tx.ProducerEpoch, tx.PrevProducerID, tx.PrevProducerEpoch = 2, 1, 1, 0
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			b1.Close()
			b1.dir.Close()

			b2 := newBroker(t, st, 1, dir)
			end := first + 3 // its two records, then the marker written again
			if err := b2.WaitDurable(ctx, tp, b2.Epoch(tp), end); err != nil {
				t.Fatal(err)
			}
			if lso, err := b2.LastStableOffset(ctx, tp); err != nil || lso != end {
				t.Fatalf("last stable offset %d, %v; want %d", lso, err, end)
			}
			res, err := b2.FetchIsolated(ctx, tp, 0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Aborted {
				if a.First >= first {
					t.Fatalf("aborted %v: the committed transaction at %d was aborted", res.Aborted, first)
				}
			}
		})
	}
}

// Local durability: a leader acknowledges a transaction's abort marker once fsynced and dies
// before it reaches object storage, while the records before it did. The producer's next
// transaction includes the partition again, under the same epoch (clients keep it). The new leader
// finds the producer's records open and the producer's transaction ongoing with the partition:
// they may be that transaction's, or the aborted one's, and the partition holds no marker that
// tells (its last marker of the producer is not the one of the transaction before). Leaving them
// to the ongoing transaction's commit would show aborted records, so they are aborted here and
// the ongoing transaction is fenced (aborted at a bumped epoch: its producer's commit fails). When
// the partition's last marker is the previous transaction's, the records can only be the ongoing
// one's, and it is left alone.
func TestTxnAmbiguousOpenRecordsFenced(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ambiguous bool
		seq       int64 // of the transaction whose records these are
		version   int8
	}{
		{"abort marker lost, next transaction ongoing", true, 1, 0},
		{"records of the ongoing transaction", false, 1, 0},
		// Under transaction.version 2 the epoch names the transaction: the records under the
		// ongoing one's epoch are its own, even when the partition holds no marker that says so.
		{"transaction.version 2: records of the ongoing transaction", false, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, clk := newMemStore(t)
			bucket, err := objstore.NewFile(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tp := metadata.TopicPartition{Topic: "amb"}
			b1 := startTieredNode(t, st, 1, bucket)
			if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: tp.Topic, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
				"strata.durability": "local",
			}}); err != nil {
				t.Fatal(err)
			}
			setTxn := func(state metadata.TxnState, seq int64) {
				t.Helper()
				if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
					tx.ProducerID, tx.State, tx.Sequence, tx.Partitions = 1, state, seq, []metadata.TopicPartition{tp}
					tx.Version, tx.PrevProducerID = tc.version, -1
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			setTxn(metadata.TxnOngoing, tc.seq)
			r, err := b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 0)) // 0-1
			if err != nil {
				t.Fatal(err)
			}
			if err := b1.WaitDurable(ctx, tp, r.Epoch, 2); err != nil {
				t.Fatal(err)
			}
			if err := b1.partitionForTest(t, tp).log.Roll(); err != nil { // 0-1 go to object storage
				t.Fatal(err)
			}
			for {
				cat, err := st.GetCatalog(ctx, tp)
				if err == nil && cat.TieredEnd() >= 2 {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("records never tiered")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if tc.ambiguous {
				// Transaction 1 aborts: its marker (2) is acknowledged and dies with node 1.
				if err := b1.WriteTxnMarker(ctx, tp, 1, 0, false, 1); err != nil {
					t.Fatal(err)
				}
				setTxn(metadata.TxnCompleteAbort, 1)
				setTxn(metadata.TxnOngoing, 2) // transaction 2, with the partition, same epoch
			}
			crash(b1, clk)

			b2 := startTieredNode(t, st, 2, bucket)
			if b2.Epoch(tp) < 0 {
				t.Fatal("the second node did not take the partition")
			}
			tx, err := st.GetTransaction(ctx, "a")
			if err != nil {
				t.Fatal(err)
			}
			if tc.ambiguous { // the abort the takeover wrote (2)
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				defer wcancel()
				if err := b2.WaitDurable(wctx, tp, b2.Epoch(tp), 3); err != nil {
					t.Fatalf("the takeover wrote no marker for the open records: %v", err)
				}
			}
			lso, err := b2.LastStableOffset(ctx, tp)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b2.FetchIsolated(ctx, tp, 0, 1<<20, true)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ambiguous {
				if tx.State != metadata.TxnOngoing || tx.ProducerEpoch != 0 || lso != 0 || len(res.Aborted) != 0 {
					t.Fatalf("state %s epoch %d, last stable offset %d, aborted %v; want the ongoing transaction left alone (ongoing, 0, 0, none)",
						tx.State, tx.ProducerEpoch, lso, res.Aborted)
				}
				return
			}
			if tx.State != metadata.TxnPrepareAbort || tx.ProducerEpoch != 1 {
				t.Fatalf("transaction 2 is %s at epoch %d; want fenced (PrepareAbort at epoch 1)", tx.State, tx.ProducerEpoch)
			}
			if want := fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 0, last: 2}}); lso != 3 || fmt.Sprint(res.Aborted) != want {
				t.Fatalf("last stable offset %d, aborted %v; want 3 and %s", lso, res.Aborted, want)
			}
			// The producer, still at epoch 0, cannot write to it again; the coordinator's abort
			// of transaction 2 closes nothing more.
			if _, err := b2.AppendTransactional(ctx, tp, "a", txnBatch(1, 1, 0, 2)); err == nil {
				t.Fatal("the fenced producer's write was accepted")
			}
			if err := b2.WriteTxnMarker(ctx, tp, 1, 1, false, 2); err != nil {
				t.Fatal(err)
			}
			if res, err := b2.FetchIsolated(ctx, tp, 0, 1<<20, true); err != nil || fmt.Sprint(res.Aborted) != fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 0, last: 2}}) {
				t.Fatalf("after the coordinator's abort: aborted %v, %v", res.Aborted, err)
			}
		})
	}
}
