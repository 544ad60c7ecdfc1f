//go:build unix

package compat

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// startNode starts `strata server` (bin) with args on a free Kafka port, for a test of several
// nodes; it is killed when the test ends unless stopped first.
func startNode(t *testing.T, bin string, args ...string) *broker {
	t.Helper()
	b := &broker{addr: objstoretest.FreeAddr(t), logs: &objstoretest.SyncBuffer{}, done: make(chan struct{})}
	b.cmd = exec.Command(bin, append([]string{"server", "--data-dir", t.TempDir(), "--kafka-addr", b.addr,
		"--http-addr", objstoretest.FreeAddr(t)}, args...)...)
	b.cmd.Stdout, b.cmd.Stderr = b.logs, b.logs
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start strata: %v", err)
	}
	go func() {
		b.werr = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	})
	b.waitReady(t, 60*time.Second)
	return b
}

// Two nodes share a metadata service and an object store; a transaction spans partitions led by
// both, so whichever node coordinates it writes some markers in process and sends the others to
// the other node with WriteTxnMarkers.
func TestTransactionsTwoNodes(t *testing.T) {
	bin := strataBin(t)
	meta := natsmetatest.Embedded(t)
	shared := []string{"--metadata", meta.ClientURL(), "--object-store", "file://" + t.TempDir()}
	n1 := startNode(t, bin, append([]string{"--node-id", "1"}, shared...)...)
	n2 := startNode(t, bin, append([]string{"--node-id", "2"}, shared...)...)

	ctx, cancel := context.WithTimeout(context.Background(), txnLimit)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n1.addr, n2.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		md, err := adm.BrokerMetadata(ctx)
		if err == nil && len(md.Brokers) == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("two brokers never listed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	const topic, nparts = "txn-two-nodes", 6
	// Acknowledged only once in object storage, so that a killed node loses nothing.
	object, flush := "object", "10"
	if _, err := adm.CreateTopic(ctx, nparts, 1, map[string]*string{"strata.durability": &object, "strata.flush.ms": &flush}, topic); err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for len(leaders) < 2 {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		clear(leaders)
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader >= 0 {
				leaders[p.Leader]++
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("partitions not led by both nodes: %v", leaders)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("partitions per leader: %v", leaders)

	for _, txid := range []string{"two-a", "two-b", "two-c", "two-d"} { // coordinators on both nodes, likely
		p, err := kgo.NewClient(kgo.SeedBrokers(n1.addr, n2.addr), kgo.TransactionalID(txid),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		for _, commit := range []bool{false, true} {
			if err := p.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			var rs []*kgo.Record
			for part := range nparts {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(part), Value: []byte(fmt.Sprintf("%s-%v-%d", txid, commit, part))})
			}
			if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", txid, err)
			}
			if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatalf("%s: end (commit=%v): %v", txid, commit, err)
			}
		}
		p.Close()
	}
	// Every marker is in: the last stable offset is the high watermark everywhere.
	for part := range int32(nparts) {
		if hw, lso := listOffsets(ctx, t, n1.addr, topic, part, 0), listOffsets(ctx, t, n1.addr, topic, part, 1); hw != lso || hw != 4*4 {
			t.Errorf("partition %d: high watermark %d, last stable offset %d, want both 16 (8 records, 8 markers)", part, hw, lso)
		}
	}
	// A transaction left open by a producer whose coordinator then dies: the surviving node reads
	// its state from the metadata service and aborts it at its timeout.
	const orphan = "two-orphan"
	p, err := kgo.NewClient(kgo.SeedBrokers(n1.addr, n2.addr), kgo.TransactionalID(orphan),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for part := range nparts {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(part), Value: []byte(fmt.Sprintf("%s-open-%d", orphan, part))})
	}
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorType = orphan, 1
	fcr, err := fc.RequestWith(ctx, cl)
	if err != nil || fcr.ErrorCode != 0 {
		t.Fatalf("FindCoordinator: %v %+v", err, fcr)
	}
	dead, survivor := n1, n2
	if fcr.NodeID == 2 {
		dead, survivor = n2, n1
	}
	_ = syscall.Kill(-dead.cmd.Process.Pid, syscall.SIGKILL)
	<-dead.done
	t.Logf("killed node %d, the coordinator of %s", fcr.NodeID, orphan)
	deadline := time.Now().Add(60 * time.Second)
	for part := range int32(nparts) {
		for {
			hw, lso := listOffsets(ctx, t, survivor.addr, topic, part, 0), listOffsets(ctx, t, survivor.addr, topic, part, 1)
			if hw == lso && hw == 4*4+2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: high watermark %d, last stable offset %d 60 s after the coordinator died; want both 18", part, hw, lso)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	c, err := kgo.NewClient(kgo.SeedBrokers(survivor.addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := map[string]bool{}
	for len(got) < 4*nparts && ctx.Err() == nil {
		fs := c.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	// Nothing more arrives: the orphan's records stay hidden.
	more, mcancel := context.WithTimeout(ctx, time.Second)
	c.PollFetches(more).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	mcancel()
	for v := range got {
		if !strings.Contains(v, "-true-") {
			t.Errorf("read_committed saw %q, of an aborted transaction", v)
		}
	}
	if len(got) != 4*nparts {
		t.Errorf("read_committed saw %d committed records, want %d", len(got), 4*nparts)
	}
	survivor.stop(t)
}
