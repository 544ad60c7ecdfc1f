//go:build unix

package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-log/strata/tier/segment"
)

// Transactions with franz-go over TCP against a started strata server: commit and abort across
// partitions, read_committed against read_uncommitted, the last stable offset, a fenced zombie, a
// timed-out transaction, and consume-transform-produce with TxnOffsetCommit.

const txnLimit = 2 * time.Minute

// endValue is the value of the sentinel records a committed transaction writes to every
// partition last: a consumer that saw it on every partition has seen everything before it.
const endValue = "end"

// TestTransactions runs against a node at transaction.version 1 (KIP-890 part 1: clients keep
// one epoch across transactions) and at 2 (part 2, the default: franz-go bumps its epoch with
// every EndTxn v5 and adds partitions and groups implicitly).
func TestTransactions(t *testing.T) {
	for _, tv := range []int{1, 2} {
		t.Run(fmt.Sprintf("transaction.version=%d", tv), func(t *testing.T) {
			b := startBroker(t, nil, "--transaction-version", strconv.Itoa(tv))
			t.Run("commit-abort", func(t *testing.T) { testTxnCommitAbort(t, b.addr) })
			t.Run("zombie-fenced", func(t *testing.T) { testTxnZombie(t, b.addr) })
			t.Run("verification", func(t *testing.T) { testTxnVerification(t, b.addr) })
			t.Run("late-marker", func(t *testing.T) { testTxnLateMarker(t, b.addr) })
			t.Run("admin", func(t *testing.T) { testTxnAdmin(t, b.addr) })
			t.Run("timeout-aborts", func(t *testing.T) { testTxnTimeout(t, b.addr) })
			t.Run("consume-transform-produce", func(t *testing.T) { testTxnETL(t, b.addr, tv) })
			t.Run("kip890-part2", func(t *testing.T) { testTxnPart2(t, b.addr, tv) })
			if tv == 2 {
				t.Run("large-records", func(t *testing.T) { testTxnLargeRecords(t, b.addr) })
			}
			b.stop(t)
		})
	}
}

func txnClient(t *testing.T, addr, txid string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.TransactionalID(txid),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxn runs one transaction writing n records "<tag>-<i>" round robin over the partitions
// (and, with sentinel, one endValue record to each) and commits or aborts it.
func produceTxn(ctx context.Context, t *testing.T, cl *kgo.Client, topic, tag string, n int, commit, sentinel bool) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin %s: %v", tag, err)
	}
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(tag + "-" + strconv.Itoa(i))})
	}
	if sentinel {
		for p := range partitions {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(endValue)})
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", tag, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end %s (commit=%v): %v", tag, commit, err)
	}
}

// testTxnLargeRecords: transactions of 8 KiB records, whose record sets a Fetch sends from the hot
// log's files (sendfile) rather than from memory, so a read_committed fetch stops at the last
// stable offset in the read itself. While a transaction is open, read_committed sees exactly the
// committed records before it; after it aborts, every committed record and no aborted one.
func testTxnLargeRecords(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic := "txn-large"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 8<<10)
	produce := func(cl *kgo.Client, tag string, n int, sentinel bool) {
		t.Helper()
		var rs []*kgo.Record
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%s-%d.%s", tag, i, pad)})
		}
		if sentinel {
			for p := range partitions {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(endValue)})
			}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", tag, err)
		}
	}
	txn := func(cl *kgo.Client, tag string, n int, commit, sentinel bool) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(cl, tag, n, sentinel)
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end %s (commit=%v): %v", tag, commit, err)
		}
	}
	uncompressed := kgo.ProducerBatchCompression(kgo.NoCompression())
	cl := txnClient(t, addr, "txn-large", uncompressed)
	txn(cl, "c1", 90, true, false)
	txn(cl, "a1", 90, false, false)
	open := txnClient(t, addr, "txn-large-open", uncompressed)
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(open, "open", 30, false)
	txn(cl, "c2", 90, true, true) // after the open transaction's records: held back

	co, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	var seen []string
	quiet := time.Now().Add(3 * time.Second) // after the 90 committed records, nothing more may come
	for len(seen) < 90 || time.Now().Before(quiet) {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := co.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("read_committed saw %d records (%v) before the deadline, want the 90 of c1", len(seen), countTags(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen = append(seen, string(r.Value)) })
	}
	if got := countTags(seen); fmt.Sprint(got) != fmt.Sprint(map[string]int{"c1": 90}) {
		t.Fatalf("with a transaction open, read_committed saw %v, want c1's 90 records only", got)
	}
	if err := open.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	committed := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	if want := map[string]int{"c1": 90, "c2": 90}; fmt.Sprint(committed) != fmt.Sprint(want) {
		t.Errorf("read_committed saw %v, want %v", committed, want)
	}
	all := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadUncommitted()))
	if want := map[string]int{"c1": 90, "a1": 90, "open": 30, "c2": 90}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("read_uncommitted saw %v, want %v", all, want)
	}
}

// consumeToEnd reads topic from the start at the isolation level until it has seen the sentinel
// on every partition, and returns the values before it, control records excluded.
func consumeToEnd(ctx context.Context, t *testing.T, addr, topic string, level kgo.IsolationLevel) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(level),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ended := map[int32]bool{}
	var vals []string
	for len(ended) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: saw the end on %d of %d partitions before the deadline; %d values", topic, len(ended), partitions, len(vals))
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == endValue {
				ended[r.Partition] = true
			} else if !ended[r.Partition] {
				vals = append(vals, string(r.Value))
			}
		})
	}
	return vals
}

// countTags counts values by their tag (the part before the last '-').
func countTags(vals []string) map[string]int {
	out := map[string]int{}
	for _, v := range vals {
		tag := v[:max(strings.LastIndexByte(v, '-'), 0)]
		out[tag]++
	}
	return out
}

// listOffsets asks for the latest offset of a partition at an isolation level (0 or 1).
func listOffsets(ctx context.Context, t *testing.T, addr, topic string, partition int32, level int8) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = level
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("ListOffsets %s/%d: %v", topic, partition, err)
	}
	return p.Offset
}

func testTxnCommitAbort(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic := "txn-commit-abort"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	cl := txnClient(t, addr, "txn-commit-abort")
	produceTxn(ctx, t, cl, topic, "c1", 30, true, false)
	produceTxn(ctx, t, cl, topic, "a1", 30, false, false)

	// An open transaction holds the last stable offset back; the high watermark moves on.
	before := listOffsets(ctx, t, addr, topic, 0, 1)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("open-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hw, lso := listOffsets(ctx, t, addr, topic, 0, 0), listOffsets(ctx, t, addr, topic, 0, 1)
	if lso != before || hw <= lso {
		t.Errorf("with a transaction open at %d: high watermark %d, last stable offset %d", before, hw, lso)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if lso := listOffsets(ctx, t, addr, topic, 0, 1); lso != listOffsets(ctx, t, addr, topic, 0, 0) {
		t.Errorf("after the abort the last stable offset %d is not the high watermark", lso)
	}

	produceTxn(ctx, t, cl, topic, "c2", 30, true, true)

	committed := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	if want := map[string]int{"c1": 30, "c2": 30}; fmt.Sprint(committed) != fmt.Sprint(want) {
		t.Errorf("read_committed saw %v, want %v (aborted records hidden, committed transactions whole)", committed, want)
	}
	all := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadUncommitted()))
	if want := map[string]int{"c1": 30, "a1": 30, "open": 1, "c2": 30}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Errorf("read_uncommitted saw %v, want %v", all, want)
	}
}

func testTxnZombie(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic := "txn-zombie"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	zombie := txnClient(t, addr, "txn-zombie")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("zombie-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A new producer with the same transactional id fences the first and aborts its transaction.
	fresh := txnClient(t, addr, "txn-zombie")
	produceTxn(ctx, t, fresh, topic, "fresh", 9, true, true)

	err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("zombie-1")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Errorf("the fenced producer's produce or commit answered %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	got := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	if want := map[string]int{"fresh": 9}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read_committed saw %v, want %v", got, want)
	}
}

func testTxnTimeout(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic := "txn-timeout"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	slow := txnClient(t, addr, "txn-timeout", kgo.TransactionTimeout(time.Second))
	if err := slow.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := slow.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 2, Value: []byte("slow-0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The coordinator's loop aborts it: the last stable offset catches up with the high watermark.
	deadline := time.Now().Add(30 * time.Second)
	for {
		hw, lso := listOffsets(ctx, t, addr, topic, 2, 0), listOffsets(ctx, t, addr, topic, 2, 1)
		if lso == hw {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a transaction with a 1 s timeout still open after 30 s (hw %d, lso %d)", hw, lso)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := slow.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("committing a timed-out transaction succeeded")
	}
	other := txnClient(t, addr, "txn-timeout-other")
	produceTxn(ctx, t, other, topic, "ok", 3, true, true)
	got := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	if want := map[string]int{"ok": 3}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read_committed saw %v, want %v", got, want)
	}
}

// testTxnETL copies an input topic to an output topic in transactions that also commit the
// group's offsets (TxnOffsetCommit): the first transaction is aborted, so its input is read again.
func testTxnETL(t *testing.T, addr string, tv int) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	in, out, group := "txn-etl-in", "txn-etl-out", "txn-etl"
	for _, topic := range []string{in, out} {
		if err := createTopic(ctx, addr, topic); err != nil {
			t.Fatal(err)
		}
	}
	const n = 300
	plain, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var rs []*kgo.Record
	for i := range n {
		rs = append(rs, &kgo.Record{Topic: in, Partition: int32(i % partitions), Value: []byte("in-" + strconv.Itoa(i))})
	}
	if err := plain.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	keys := &requestKeys{}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addr), kgo.TransactionalID("txn-etl"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(keys))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied, aborted := 0, false
	for copied < n {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("copied %d of %d before the deadline", copied, n)
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		batch := 0
		fs.EachRecord(func(r *kgo.Record) {
			batch++
			sess.Produce(ctx, &kgo.Record{Topic: out, Partition: r.Partition, Value: []byte("out-" + strings.TrimPrefix(string(r.Value), "in-"))}, nil)
		})
		commit := kgo.TryCommit
		if !aborted && batch > 0 {
			commit, aborted = kgo.TryAbort, true
		}
		ok, err := sess.End(ctx, commit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if ok && commit == kgo.TryCommit {
			copied += batch
		}
	}
	if copied != n {
		t.Errorf("copied %d records, want %d", copied, n)
	}
	keys.check(t, tv)
	// The output holds every input record exactly once to a read_committed consumer.
	sentinel := txnClient(t, addr, "txn-etl-end")
	produceTxn(ctx, t, sentinel, out, "x", 0, true, true)
	vals := consumeToEnd(ctx, t, addr, out, kgo.ReadCommitted())
	seen := map[string]int{}
	for _, v := range vals {
		seen[v]++
	}
	for i := range n {
		if c := seen["out-"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("out-%d seen %d times", i, c)
		}
	}
	if len(vals) != n {
		t.Errorf("read_committed output has %d records, want %d", len(vals), n)
	}
	// The group's committed offsets are the input's end: the aborted transaction's offsets never
	// reached it, the committed ones did.
	adm := kadm.NewClient(plain)
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := offs.Lookup(in, o.Partition)
		if !ok || c.At != o.Offset {
			t.Errorf("group offset of %s/%d = %+v, want %d", in, o.Partition, c, o.Offset)
		}
	})
}

// rawTxnProduce sends one transactional batch (one record) over the raw protocol and returns the
// partition's error code.
func rawTxnProduce(ctx context.Context, t *testing.T, cl *kgo.Client, txid, topic string, partition int32, pid int64, epoch int16, seq int32) int16 {
	t.Helper()
	batch := segment.AppendBatch(nil, segment.NewBatch{FirstTimestamp: time.Now().UnixMilli(), Attributes: segment.AttrTransactional,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		Records: []segment.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte("raw")}}})
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = &txid, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic // up to v12; v13 names it by ID
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil || md.Topics[topic].Err != nil {
		t.Fatalf("metadata of %s: %v %v", topic, err, md.Topics[topic].Err)
	}
	rt.TopicID = md.Topics[topic].ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// testTxnVerification: a transactional write to a partition not added to the producer's ongoing
// transaction is refused (KIP-890's defence against hanging and torn transactions), before the
// transaction, inside it, and after it ended.
func testTxnVerification(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic, txid := "txn-verify", "txn-verify"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	// The versions before KIP-890 part 2 (Produce v11, EndTxn v4): a transaction.version 2 node
	// keeps their behaviour.
	part1 := kversion.Stable()
	part1.SetMaxKeyVersion(kmsg.Produce.Int16(), 11)
	part1.SetMaxKeyVersion(kmsg.EndTxn.Int16(), 4)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MaxVersions(part1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = &txid, 60000
	ipr, err := ip.RequestWith(ctx, cl)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(ipr.ErrorCode))
	}
	pid, epoch := ipr.ProducerID, ipr.ProducerEpoch
	add := func(p int32) {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txid, pid, epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{p}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn: %v %+v", err, resp)
		}
	}
	if c := rawTxnProduce(ctx, t, cl, txid, topic, 0, pid, epoch, 0); c != kerr.InvalidTxnState.Code {
		t.Errorf("produce before any transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(c))
	}
	add(0)
	if c := rawTxnProduce(ctx, t, cl, txid, topic, 0, pid, epoch, 0); c != 0 {
		t.Errorf("produce to an added partition: %v", kerr.ErrorForCode(c))
	}
	if c := rawTxnProduce(ctx, t, cl, txid, topic, 1, pid, epoch, 0); c != kerr.InvalidTxnState.Code {
		t.Errorf("produce to a partition not added: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(c))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txid, pid, epoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	// A late write of the ended transaction must not start a transaction nobody will end.
	if c := rawTxnProduce(ctx, t, cl, txid, topic, 0, pid, epoch, 1); c != kerr.InvalidTxnState.Code {
		t.Errorf("produce after EndTxn: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(c))
	}
	if hw, lso := listOffsets(ctx, t, addr, topic, 0, 0), listOffsets(ctx, t, addr, topic, 0, 1); hw != lso {
		t.Errorf("after the transaction: high watermark %d, last stable offset %d", hw, lso)
	}
	// An older epoch is fenced at the coordinator.
	end.ProducerEpoch = epoch - 1
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.ProducerFenced.Code {
		t.Errorf("EndTxn with an old epoch: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
}

// testTxnAdmin: kadm's DescribeTransactions, ListTransactions and DescribeProducers see an open
// transaction, then its end.
func testTxnAdmin(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic, txid := "txn-admin", "txn-admin"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	cl := txnClient(t, addr, txid, kgo.TransactionTimeout(42*time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Topic: topic, Partition: 2, Value: []byte("admin-0")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	described, err := adm.DescribeTransactions(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	d := described[txid]
	if d.State != "Ongoing" || d.TimeoutMillis != 42000 || d.StartTimestamp <= 0 || d.Topics[topic] == nil {
		t.Errorf("DescribeTransactions of an open transaction: %+v", d)
	}
	listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := listed[txid]; !ok || l.ProducerID != d.ProducerID {
		t.Errorf("ListTransactions(Ongoing) = %+v, want %s with producer %d", listed, txid, d.ProducerID)
	}
	// v2 (KIP-1152): a pattern the whole transactional id must match.
	for _, tc := range []struct {
		pattern string
		code    int16
		listed  bool
	}{{"txn-adm.*", 0, true}, {"txn-adm", 0, false}, {"other-.*", 0, false}, {"(", kerr.InvalidRegularExpression.Code, false}} {
		req := kmsg.NewPtrListTransactionsRequest()
		req.TransactionalIDPattern = kmsg.StringPtr(tc.pattern)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.ContainsFunc(resp.TransactionStates, func(s kmsg.ListTransactionsResponseTransactionState) bool {
			return s.TransactionalID == txid
		})
		if resp.Version < 2 || resp.ErrorCode != tc.code || got != tc.listed {
			t.Errorf("ListTransactions v%d pattern %q: %v, listed %v; want %v, %v", resp.Version, tc.pattern,
				kerr.ErrorForCode(resp.ErrorCode), got, kerr.ErrorForCode(tc.code), tc.listed)
		}
	}
	producers, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	producers.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerID == d.ProducerID {
			found = p.CurrentTxnStartOffset == r.Offset && p.ProducerEpoch == d.ProducerEpoch && p.LastSequence == 0
		}
	})
	if !found {
		t.Errorf("DescribeProducers does not show producer %d with its transaction at %d: %+v", d.ProducerID, r.Offset, producers)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	described, err = adm.DescribeTransactions(ctx, txid)
	if err != nil {
		t.Fatal(err)
	}
	if d := described[txid]; d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Errorf("DescribeTransactions after commit: %+v", d)
	}
	if listed, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"}); err != nil || len(listed) != 0 && listed[txid].TxnID != "" {
		t.Errorf("ListTransactions(Ongoing) after commit: %+v %v", listed, err)
	}
}

// requestKeys records the API keys a client sent (a kgo.HookBrokerWrite).
type requestKeys struct {
	mu   sync.Mutex
	sent map[int16]int
}

func (k *requestKeys) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sent == nil {
		k.sent = map[int16]int{}
	}
	k.sent[key]++
}

func (k *requestKeys) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sent = nil
}

// check: under transaction.version 2 the client added partitions and groups implicitly (no
// AddPartitionsToTxn, AddOffsetsToTxn); under 1 it had to send them.
func (k *requestKeys) check(t *testing.T, tv int) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	adds := k.sent[kmsg.AddPartitionsToTxn.Int16()] + k.sent[kmsg.AddOffsetsToTxn.Int16()]
	if k.sent[kmsg.EndTxn.Int16()] == 0 {
		t.Errorf("no EndTxn sent: %v", k.sent)
	}
	switch {
	case tv >= 2 && adds > 0:
		t.Errorf("transaction.version %d: the client sent %d AddPartitionsToTxn/AddOffsetsToTxn, want none (KIP-890 part 2)", tv, adds)
	case tv < 2 && adds == 0:
		t.Errorf("transaction.version %d: the client sent no AddPartitionsToTxn/AddOffsetsToTxn", tv)
	}
}

// testTxnPart2: ApiVersions finalizes transaction.version at the node's level; under 2 each
// transaction ends at a bumped producer epoch (DescribeTransactions, DescribeProducers), the
// client sends no AddPartitionsToTxn, and read_committed sees exactly the committed records. A
// raw EndTxn v5 answers the new producer id and epoch, a retry at the old epoch the same, and an
// abort with no transaction bumps the epoch; v4 keeps one epoch.
func testTxnPart2(t *testing.T, addr string, tv int) {
	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	topic, txid := "txn-part2", "txn-part2"
	if err := createTopic(ctx, addr, topic); err != nil {
		t.Fatal(err)
	}
	keys := &requestKeys{}
	cl := txnClient(t, addr, txid, kgo.WithHooks(keys))
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	level := int16(-1)
	for _, f := range av.FinalizedFeatures {
		if f.Name == "transaction.version" {
			level = f.MaxVersionLevel
		}
	}
	if level != int16(tv) || av.FinalizedFeaturesEpoch < 0 {
		t.Fatalf("ApiVersions: finalized transaction.version %d (epoch %d), want %d", level, av.FinalizedFeaturesEpoch, tv)
	}
	adm := kadm.NewClient(cl)
	epochOf := func() int16 {
		t.Helper()
		d, err := adm.DescribeTransactions(ctx, txid)
		if err != nil {
			t.Fatal(err)
		}
		dt, ok := d[txid]
		if !ok || dt.Err != nil {
			t.Fatalf("DescribeTransactions: %+v", d)
		}
		return dt.ProducerEpoch
	}
	// franz-go decides at BeginTransaction, from the brokers it has talked to, whether to run a
	// transaction under version 2; a fresh client's first may run under 1 and it switches after
	// (its EndTxn re-reads the brokers' features). So the count starts after a first transaction.
	produceTxn(ctx, t, cl, topic, "p2-0", 6, true, false)
	keys.reset()
	var epochs []int16
	for i, commit := range []bool{false, true, false, true} {
		produceTxn(ctx, t, cl, topic, "p2-"+strconv.Itoa(i+1), 6, commit, i == 3)
		epochs = append(epochs, epochOf())
	}
	for i := 1; i < len(epochs); i++ {
		want := epochs[0]
		if tv >= 2 {
			want = epochs[i-1] + 1
		}
		if epochs[i] != want {
			t.Errorf("transaction.version %d: epochs after each transaction %v: want %d after transaction %d", tv, epochs, want, i)
		}
	}
	// The partitions' producer state follows: the last marker's epoch.
	ps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ps.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerEpoch != epochs[len(epochs)-1] {
			t.Errorf("DescribeProducers %s/%d: producer %d epoch %d, want %d", p.Topic, p.Partition, p.ProducerID, p.ProducerEpoch, epochs[len(epochs)-1])
		}
	})
	keys.check(t, tv)
	got := countTags(consumeToEnd(ctx, t, addr, topic, kgo.ReadCommitted()))
	want := map[string]int{"p2-0": 6, "p2-2": 6, "p2-4": 6}
	if tv >= 2 && epochs[0] < 1 {
		t.Errorf("transaction.version %d: epoch %d after the second transaction, want it bumped", tv, epochs[0])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read_committed: %v, want %v", got, want)
	}

	// The raw protocol: EndTxn v5 when the node serves it, v4 otherwise.
	raw, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rid := "txn-part2-raw"
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = &rid, 60000
	ipr, err := ip.RequestWith(ctx, raw)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(ipr.ErrorCode))
	}
	pid, epoch := ipr.ProducerID, ipr.ProducerEpoch
	endTxn := func(epoch int16, commit bool) *kmsg.EndTxnResponse {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = rid, pid, epoch, commit
		resp, err := req.RequestWith(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if tv < 2 {
		if r := endTxn(epoch, false); r.ErrorCode != kerr.InvalidTxnState.Code || r.Version != 4 {
			t.Errorf("EndTxn v%d abort of no transaction: %v, want v4 INVALID_TXN_STATE", r.Version, kerr.ErrorForCode(r.ErrorCode))
		}
		return
	}
	// Produce v12 adds the partition: no AddPartitionsToTxn.
	if c := rawTxnProduce(ctx, t, raw, rid, topic, 1, pid, epoch, 0); c != 0 {
		t.Fatalf("Produce v12 to a partition not added: %v", kerr.ErrorForCode(c))
	}
	for i := range 2 { // the second is a retry at the old epoch
		r := endTxn(epoch, true)
		if r.ErrorCode != 0 || r.Version < 5 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
			t.Fatalf("EndTxn v%d commit (try %d): %v, producer (%d, %d), want (%d, %d)", r.Version, i, kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, pid, epoch+1)
		}
	}
	// A late write of the ended transaction, at its epoch, is fenced by the marker's epoch.
	if c := rawTxnProduce(ctx, t, raw, rid, topic, 1, pid, epoch, 1); c != kerr.InvalidProducerEpoch.Code {
		t.Errorf("late produce at the old epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(c))
	}
	if r := endTxn(epoch+1, false); r.ErrorCode != 0 || r.ProducerEpoch != epoch+2 {
		t.Errorf("EndTxn abort of no transaction: %v, epoch %d, want %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch, epoch+2)
	}
	if r := endTxn(epoch+2, true); r.ErrorCode != kerr.InvalidTxnState.Code {
		t.Errorf("EndTxn commit of no transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(r.ErrorCode))
	}
}
