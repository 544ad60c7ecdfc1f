//go:build unix

package compat

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testTxnLateMarker: a WriteTxnMarkers for a transaction that already ended, arriving while the
// producer's next transaction (same producer id and epoch) is open on the same partitions — as a
// second coordinator completing the first transaction after the transactional id's coordinator
// moved would send it — neither aborts nor commits the open one. The Jepsen transactional checker
// once read a committed transaction with records missing this way.
func testTxnLateMarker(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic, txid := "txn-late-marker", "txn-late-marker"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	cl := txnClient(t, addr, txid)
	produceTxn(ctx, t, cl, topic, "a1", 2*partitions, false, false) // the id's transaction 1, aborted

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for i := range 2 * partitions {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte("c2-" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	described, err := adm.DescribeTransactions(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	tx := described[txid]
	if tx.Err != nil || tx.State != "Ongoing" {
		t.Fatalf("transaction 2: %+v", tx)
	}

	// Transaction 1's abort again. Strata's coordinators send a transaction's sequence (1 for an
	// id's first) as the markers' coordinator epoch.
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = tx.ProducerID, tx.ProducerEpoch, false, 1
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic = topic
	for p := range int32(partitions) {
		mt.Partitions = append(mt.Partitions, p)
	}
	mk.Topics = append(mk.Topics, mt)
	req.Markers = append(req.Markers, mk)
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			t.Fatalf("WriteTxnMarkers: %v", sh.Err)
		}
		for _, m := range sh.Resp.(*kmsg.WriteTxnMarkersResponse).Markers {
			for _, rt := range m.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
						t.Fatalf("late marker to %s/%d: %v, want success (that transaction ended there)", rt.Topic, rp.Partition, err)
					}
				}
			}
		}
	}
	if hw, lso := listOffsets(ctx, t, addr, topic, 0, 0), listOffsets(ctx, t, addr, topic, 0, 1); lso >= hw {
		t.Errorf("after the late marker: last stable offset %d, high watermark %d; transaction 2 must still hold it back", lso, hw)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var ends []*kgo.Record
	for p := range int32(partitions) {
		ends = append(ends, &kgo.Record{Topic: topic, Partition: p, Value: []byte(endValue)})
	}
	if err := plain.ProduceSync(ctx, ends...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	committed := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	if want := map[string]int{"c2": 2 * partitions}; fmt.Sprint(committed) != fmt.Sprint(want) {
		t.Errorf("read_committed saw %v, want %v (transaction 2 whole)", committed, want)
	}
}
