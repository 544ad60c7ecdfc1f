package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// txnBatch is a transactional batch of n records.
func txnBatch(n int, pid int64, epoch int16, seq int32) []byte {
	recs := make([]segment.Record, n)
	now := time.Now().UnixMilli()
	for i := range recs {
		recs[i] = segment.Record{Timestamp: now, Value: []byte(fmt.Sprint(i))}
	}
	return segment.AppendBatch(nil, segment.NewBatch{FirstTimestamp: now, Attributes: segment.AttrTransactional,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Records: recs})
}

func infoAt(t *testing.T, b []byte, base int64) segment.BatchInfo {
	t.Helper()
	info, err := segment.ParseBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	info.BaseOffset = base
	return info
}

// The index as a table: batches in offset order, the last stable offset under a high watermark of
// 100, and the aborted transactions overlapping [0, 100].
func TestTxnIndex(t *testing.T) {
	type step struct {
		base    int64
		pid     int64
		data    bool // a transactional data batch; else a marker
		commit  bool
		plainID bool // a non-transactional batch
	}
	for _, tc := range []struct {
		name    string
		steps   []step
		lso     int64
		aborted []AbortedTxn
	}{
		{"empty", nil, 100, nil},
		{"plain batches hold nothing", []step{{base: 0, pid: 1, plainID: true}}, 100, nil},
		{"open holds the lso", []step{{base: 5, pid: 1, data: true}, {base: 7, pid: 1, data: true}}, 5, nil},
		{"oldest open wins", []step{{base: 5, pid: 1, data: true}, {base: 6, pid: 2, data: true}, {base: 8, pid: 1, commit: true}}, 6, nil},
		{"commit closes", []step{{base: 5, pid: 1, data: true}, {base: 9, pid: 1, commit: true}}, 100, nil},
		{"abort is listed", []step{{base: 5, pid: 1, data: true}, {base: 9, pid: 1}}, 100,
			[]AbortedTxn{{ProducerID: 1, First: 5, last: 9}}},
		{"marker without data closes nothing", []step{{base: 3, pid: 4}}, 100, nil},
		{"abort then new transaction", []step{{base: 1, pid: 1, data: true}, {base: 2, pid: 1}, {base: 3, pid: 1, data: true}}, 3,
			[]AbortedTxn{{ProducerID: 1, First: 1, last: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x txnIndex
			for _, s := range tc.steps {
				var b []byte
				switch {
				case s.plainID:
					b = batch(1, s.pid, 0, 0)
				case s.data:
					b = txnBatch(1, s.pid, 0, 0)
				default:
					b = markerBatch(s.pid, 0, s.commit, 0, 0)
				}
				x.note(infoAt(t, b, s.base), s.commit)
			}
			if got := x.lastStable(100); got != tc.lso {
				t.Errorf("last stable offset %d, want %d", got, tc.lso)
			}
			if got := x.abortedBetween(0, 100); fmt.Sprint(got) != fmt.Sprint(tc.aborted) {
				t.Errorf("aborted %v, want %v", got, tc.aborted)
			}
		})
	}
}

// Aborted transactions derived from the control batches of a read (tiered data).
func TestAbortedIn(t *testing.T) {
	var recs []byte
	add := func(b []byte, base int64) {
		segment.SetBaseOffset(b, base)
		recs = append(recs, b...)
	}
	add(txnBatch(2, 7, 0, 0), 10)           // 10-11: producer 7, committed below
	add(txnBatch(1, 8, 0, 0), 12)           // 12: producer 8, aborted below
	add(markerBatch(7, 0, true, 0, 0), 13)  // commit 7
	add(txnBatch(1, 7, 0, 2), 14)           // 14: producer 7 again, aborted below
	add(markerBatch(8, 0, false, 0, 0), 15) // abort 8
	add(markerBatch(7, 0, false, 0, 0), 16) // abort 7
	add(markerBatch(9, 0, false, 0, 0), 17) // abort 9: its batches precede the read
	got, open := abortedIn(recs)
	if len(open) != 0 {
		t.Fatalf("every transaction ended, open %v", open)
	}
	want := []AbortedTxn{{ProducerID: 9, First: 17, last: 17}, {ProducerID: 8, First: 12, last: 15}, {ProducerID: 7, First: 14, last: 16}}
	if fmt.Sprint(mergeAborted(nil, got)) != fmt.Sprint(mergeAborted(nil, want)) {
		t.Fatalf("abortedIn = %v, want %v", got, want)
	}
	cut, last := cutAt(recs, 14)
	if len(cut) == 0 || last != 13 {
		t.Fatalf("cutAt 14: %d bytes ending at %d", len(cut), last)
	}
}

// A transactional batch is accepted only for a partition of the producer's ongoing transaction;
// the markers close it; the last stable offset, read_committed fetches and the aborted list
// follow, and survive a restart of the node (rebuilt from the hot log).
func TestTxnAppendMarkersAndRebuild(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	b1 := newBroker(t, st, 1, dir)
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "tx", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "tx"}
	setTxn := func(id string, pid int64, state metadata.TxnState) {
		t.Helper()
		if _, err := st.UpdateTransaction(ctx, id, func(tx *metadata.Transaction, _ bool) error {
			tx.ProducerID, tx.State, tx.Partitions = pid, state, []metadata.TopicPartition{tp}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := b1.Append(ctx, tp, txnBatch(1, 1, 0, 0))
	mustCode(t, err, kerr.InvalidTxnState)
	_, err = b1.AppendTransactional(ctx, tp, "a", txnBatch(1, 1, 0, 0))
	mustCode(t, err, kerr.InvalidTxnState) // no such transaction
	setTxn("a", 1, metadata.TxnOngoing)
	setTxn("b", 2, metadata.TxnOngoing)
	_, err = b1.AppendTransactional(ctx, tp, "a", txnBatch(1, 2, 0, 0))
	mustCode(t, err, kerr.InvalidProducerIDMapping)
	_, err = b1.AppendTransactional(ctx, tp, "a", txnBatch(1, 1, 1, 0))
	mustCode(t, err, kerr.InvalidProducerEpoch)

	must := func(r AppendResult, err error) AppendResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	must(b1.Append(ctx, tp, batch(2, -1, 0, 0)))                       // 0-1 plain
	must(b1.AppendTransactional(ctx, tp, "a", txnBatch(2, 1, 0, 0)))   // 2-3 a
	must(b1.AppendTransactional(ctx, tp, "b", txnBatch(1, 2, 0, 0)))   // 4 b
	if err := b1.WriteTxnMarker(ctx, tp, 1, 0, false, 0); err != nil { // 5 abort a
		t.Fatal(err)
	}
	setTxn("a", 1, metadata.TxnCompleteAbort)
	_, err = b1.AppendTransactional(ctx, tp, "a", txnBatch(1, 1, 0, 2))
	mustCode(t, err, kerr.InvalidTxnState)       // a late write of the ended transaction
	must(b1.Append(ctx, tp, batch(1, -1, 0, 0))) // 6 plain
	if err := b1.WaitDurable(ctx, tp, b1.Epoch(tp), 7); err != nil {
		t.Fatal(err)
	}

	check := func(b *Broker, what string) {
		t.Helper()
		if lso, err := b.LastStableOffset(ctx, tp); err != nil || lso != 4 {
			t.Fatalf("%s: last stable offset %d %v, want 4 (b's open transaction)", what, lso, err)
		}
		res, err := b.FetchIsolated(ctx, tp, 0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		_, last := cutAt(res.Records, 1<<62)
		if res.LastStableOffset != 4 || res.HighWatermark != 7 || last != 3 {
			t.Fatalf("%s: read_committed fetch: lso %d hw %d last offset %d", what, res.LastStableOffset, res.HighWatermark, last)
		}
		if fmt.Sprint(res.Aborted) != fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 2, last: 5}}) {
			t.Fatalf("%s: aborted %v", what, res.Aborted)
		}
		res, err = b.Fetch(ctx, tp, 0, 1<<20)
		if _, last := cutAt(res.Records, 1<<62); err != nil || last != 6 || res.Aborted != nil || res.LastStableOffset != 4 {
			t.Fatalf("%s: read_uncommitted fetch: last %d, aborted %v, lso %d, %v", what, last, res.Aborted, res.LastStableOffset, err)
		}
	}
	check(b1, "leader")
	b1.Close()
	b1.dir.Close()

	b2 := newBroker(t, st, 1, dir)
	check(b2, "after restart")
	if err := b2.WriteTxnMarker(ctx, tp, 2, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if lso, _ := b2.LastStableOffset(ctx, tp); lso != 8 {
		t.Fatalf("after b's commit: last stable offset %d, want 8", lso)
	}
	// A marker older than the producer's epoch is refused.
	must(b2.AppendTransactional(ctx, tp, "b", txnBatch(1, 2, 0, 1)))
	if err := b2.WriteTxnMarker(ctx, tp, 2, 3, false, 0); err != nil {
		t.Fatal(err)
	}
	mustCode(t, b2.WriteTxnMarker(ctx, tp, 2, 1, false, 0), kerr.InvalidProducerEpoch)
}

func FuzzControlCommit(f *testing.F) {
	f.Add(markerBatch(1, 0, true, 0, 0))
	f.Add(markerBatch(1, 0, false, 5, 0))
	f.Add(markerBatch(2, 3, true, 1<<30, 0))
	f.Add(txnBatch(1, 1, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = controlCommit(b) // must not panic
		_, _, _ = readMarker(b)
		_, _ = abortedIn(b)
		_, _ = cutAt(b, 10)
	})
}

func TestControlCommit(t *testing.T) {
	for _, commit := range []bool{true, false} {
		got, err := controlCommit(markerBatch(3, 1, commit, 7, 1))
		if err != nil || got != commit {
			t.Fatalf("marker commit=%v read as %v, %v", commit, got, err)
		}
		got, ce, err := readMarker(markerBatch(3, 1, commit, 7, 1))
		if err != nil || got != commit || ce != 7 {
			t.Fatalf("marker commit=%v coordinator epoch 7 read as %v, %d, %v", commit, got, ce, err)
		}
	}
	if _, err := controlCommit(txnBatch(1, 1, 0, 0)); err == nil {
		t.Fatal("a data record read as a marker")
	}
}

// After a takeover the new leader's hot log starts at the tiered end, so its index knows nothing
// of the transactions below: read_committed fetches of tiered data derive them from the control
// batches, reading on past the answer for the marker of a transaction it ends inside.
func TestTxnTieredAfterTakeover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, clk, bucket, b1, tp := tieredTxnTopic(t, ctx, "tiered", map[string]int64{"a": 1, "b": 2})
	durable := func(r AppendResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	durable(b1.Append(ctx, tp, batch(3, -1, -1, -1)))                   // 0-2
	durable(b1.AppendTransactional(ctx, tp, "a", txnBatch(3, 1, 0, 0))) // 3-5 a
	durable(b1.Append(ctx, tp, batch(3, -1, -1, -1)))                   // 6-8
	durable(b1.AppendTransactional(ctx, tp, "b", txnBatch(3, 2, 0, 0))) // 9-11 b
	if err := b1.WriteTxnMarker(ctx, tp, 1, 0, false, 0); err != nil {  // 12 abort a
		t.Fatal(err)
	}
	if err := b1.WriteTxnMarker(ctx, tp, 2, 0, true, 0); err != nil { // 13 commit b
		t.Fatal(err)
	}
	durable(b1.Append(ctx, tp, batch(3, -1, -1, -1))) // 14-16
	full, err := b1.FetchIsolated(ctx, tp, 0, 1<<20, true)
	if err != nil || fmt.Sprint(full.Aborted) != fmt.Sprint([]AbortedTxn{{ProducerID: 1, First: 3, last: 12}}) {
		t.Fatalf("on the leader: aborted %v, %v", full.Aborted, err)
	}
	batchSize := len(batch(3, -1, -1, -1))
	crash(b1, clk)

	b2 := startTieredNode(t, st, 2, bucket)
	if b2.Epoch(tp) < 0 {
		t.Fatal("the second node did not take the partition")
	}
	var res FetchResult
	for res.HighWatermark < 17 { // the new leader's view of the catalog catches up
		if res, err = b2.FetchIsolated(ctx, tp, 0, 1<<20, true); err != nil || ctx.Err() != nil {
			t.Fatalf("fetch on the new leader: %+v %v %v", res, err, ctx.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start := b2.partitionForTest(t, tp).log.StartOffset(); start != 17 {
		t.Fatalf("the new leader's hot log starts at %d, want the tiered end 17", start)
	}
	if _, last := cutAt(res.Records, 1<<62); last != 16 || fmt.Sprint(res.Aborted) != fmt.Sprint(full.Aborted) {
		t.Fatalf("whole tiered read: last offset %d, aborted %v, want 16 and %v", last, res.Aborted, full.Aborted)
	}
	// A read of three batches ends inside a's transaction: its abort is found further on.
	res, err = b2.FetchIsolated(ctx, tp, 0, 3*batchSize, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, last := cutAt(res.Records, 1<<62); last != 8 || fmt.Sprint(res.Aborted) != fmt.Sprint(full.Aborted) {
		t.Fatalf("short tiered read: last offset %d, aborted %v, want 8 and %v", last, res.Aborted, full.Aborted)
	}
	// From inside b's transaction: committed, nothing aborted.
	res, err = b2.FetchIsolated(ctx, tp, 9, batchSize, true)
	if _, last := cutAt(res.Records, 1<<62); err != nil || last != 11 || len(res.Aborted) != 0 {
		t.Fatalf("read of b's batch: last offset %d, aborted %v, %v", last, res.Aborted, err)
	}
}

// A transaction still open when its leader dies, all its batches in object storage: the new
// leader's hot log starts at the tiered end, yet the transaction holds the last stable offset
// back until its marker comes (read_committed consumers saw its records, later aborted).
func TestTxnOpenAcrossTakeoverHoldsLastStable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, clk, bucket, b1, tp := tieredTxnTopic(t, ctx, "open", map[string]int64{"o": 7})
	for _, app := range []func() (AppendResult, error){
		func() (AppendResult, error) { return b1.Append(ctx, tp, batch(3, -1, -1, -1)) },                   // 0-2
		func() (AppendResult, error) { return b1.AppendTransactional(ctx, tp, "o", txnBatch(3, 7, 0, 0)) }, // 3-5, left open
		func() (AppendResult, error) { return b1.Append(ctx, tp, batch(3, -1, -1, -1)) },                   // 6-8
	} {
		r, err := app()
		if err != nil {
			t.Fatal(err)
		}
		if err := b1.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	if lso, err := b1.LastStableOffset(ctx, tp); err != nil || lso != 3 {
		t.Fatalf("on the first leader: last stable offset %d, %v; want 3", lso, err)
	}
	crash(b1, clk)

	b2 := startTieredNode(t, st, 2, bucket)
	for {
		res, err := b2.FetchIsolated(ctx, tp, 0, 1<<20, true)
		if err == nil && res.HighWatermark >= 9 {
			if res.LastStableOffset != 3 {
				t.Fatalf("the new leader's last stable offset is %d, want 3 (the open transaction's first offset)", res.LastStableOffset)
			}
			if _, last := cutAt(res.Records, res.LastStableOffset); last >= 3 {
				t.Fatalf("a read_committed fetch returned up to offset %d, past the open transaction's start", last)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the new leader never served the partition: %+v %v", res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start := b2.partitionForTest(t, tp).log.StartOffset(); start != 9 {
		t.Fatalf("the new leader's hot log starts at %d, want the tiered end 9", start)
	}
	// The marker closes it.
	if err := b2.WriteTxnMarker(ctx, tp, 7, 0, false, 0); err != nil {
		t.Fatal(err)
	}
	if lso, err := b2.LastStableOffset(ctx, tp); err != nil || lso < 10 {
		t.Fatalf("after the abort marker: last stable offset %d, %v; want the high watermark", lso, err)
	}
}

// tieredTxnTopic starts node 1 on a fresh store and bucket, creates topic (one partition, object
// durability, 10 ms flushes) and opens a transaction per id → producer id on its partition.
func tieredTxnTopic(t *testing.T, ctx context.Context, topic string, txns map[string]int64) (metadata.Store, *fakeClock, objstore.Bucket, *Broker, metadata.TopicPartition) {
	t.Helper()
	st, clk := newMemStore(t)
	bucket, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: topic}
	b1 := startTieredNode(t, st, 1, bucket)
	if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: topic, Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "10",
	}}); err != nil {
		t.Fatal(err)
	}
	for id, pid := range txns {
		if _, err := st.UpdateTransaction(ctx, id, func(tx *metadata.Transaction, _ bool) error {
			tx.ProducerID, tx.State, tx.Partitions = pid, metadata.TxnOngoing, []metadata.TopicPartition{tp}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return st, clk, bucket, b1, tp
}

// Produce v12 (transaction.version 2): a transactional batch for a partition not in the
// producer's transaction adds it, starting a transaction, durably before the append; a late
// write at an old epoch and a write while the last transaction prepares are refused. Produce v11
// (AppendTransactional) keeps verifying only.
func TestTxnAppendAddingToTxn(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	b := newBroker(t, st, 1, "")
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "tx", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := metadata.TopicPartition{Topic: "tx"}, metadata.TopicPartition{Topic: "tx", Partition: 1}
	if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
		tx.ProducerID, tx.ProducerEpoch, tx.State, tx.Sequence = 1, 3, metadata.TxnCompleteCommit, 4
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	state := func() metadata.Transaction {
		t.Helper()
		tx, err := st.GetTransaction(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	_, err := b.AppendTransactional(ctx, tp0, "a", txnBatch(1, 1, 3, 0))
	mustCode(t, err, kerr.InvalidTxnState)
	_, err = b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(1, 1, 2, 0))
	mustCode(t, err, kerr.ProducerFenced) // an old epoch adds nothing
	_, err = b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(1, 2, 3, 0))
	mustCode(t, err, kerr.InvalidProducerIDMapping)
	if tx := state(); tx.State != metadata.TxnCompleteCommit || len(tx.Partitions) != 0 {
		t.Fatalf("refused adds changed the transaction: %+v", tx)
	}

	if _, err := b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(2, 1, 3, 0)); err != nil {
		t.Fatal(err)
	}
	tx := state()
	if tx.State != metadata.TxnOngoing || tx.Sequence != 5 || tx.Version != 2 || !tx.HasPartition(tp0) || tx.HasPartition(tp1) {
		t.Fatalf("after the first add: %+v", tx)
	}
	if _, err := b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(1, 1, 3, 2)); err != nil { // open here: no add
		t.Fatal(err)
	}
	if _, err := b.AppendAddingToTxn(ctx, tp1, "a", txnBatch(1, 1, 3, 0)); err != nil {
		t.Fatal(err)
	}
	if tx := state(); tx.State != metadata.TxnOngoing || tx.Sequence != 5 || !tx.HasPartition(tp1) {
		t.Fatalf("after the second add: %+v", tx)
	}
	if lso, _ := b.LastStableOffset(ctx, tp0); lso != 0 {
		t.Fatalf("last stable offset %d with the transaction open, want 0", lso)
	}

	// EndTxn v5 decided at epoch 4; the markers are not written yet. The producer's next
	// transaction must wait (retriable), and a late write at epoch 3 is fenced.
	if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
		tx.State, tx.ProducerEpoch, tx.PrevProducerID, tx.PrevProducerEpoch = metadata.TxnPrepareCommit, 4, 1, 3
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = b.AppendAddingToTxn(ctx, tp1, "a", txnBatch(1, 1, 4, 0))
	mustCode(t, err, kerr.NotEnoughReplicas)
	for _, tp := range []metadata.TopicPartition{tp0, tp1} {
		if err := b.WriteTxnMarker(ctx, tp, 1, 4, true, 5); err != nil {
			t.Fatal(err)
		}
	}
	_, err = b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(1, 1, 3, 3))
	mustCode(t, err, kerr.InvalidProducerEpoch) // below the marker's epoch
	if _, err := st.UpdateTransaction(ctx, "a", func(tx *metadata.Transaction, _ bool) error {
		tx.State, tx.Partitions = metadata.TxnCompleteCommit, nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AppendAddingToTxn(ctx, tp0, "a", txnBatch(1, 1, 4, 0)); err != nil {
		t.Fatalf("the next transaction at the bumped epoch: %v", err)
	}
	if tx := state(); tx.State != metadata.TxnOngoing || tx.Sequence != 6 || tx.ProducerEpoch != 4 || !tx.HasPartition(tp0) {
		t.Fatalf("the next transaction: %+v", tx)
	}
	if lso, _ := b.LastStableOffset(ctx, tp0); lso != 4 {
		t.Fatalf("last stable offset %d, want 4 (the committed transaction and its marker below)", lso)
	}
}
