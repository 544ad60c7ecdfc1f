package broker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
)

// failingSyncs fails the next fsync of one hot log (by directory name), once — as Linux reports
// a writeback error to one fsync and then forgets it.
type failingSyncs struct {
	mu    sync.Mutex
	log   string
	fails int
	gate  chan struct{} // the failing fsync returns once it is closed (nil: at once)
}

var errInjectedEIO = errors.New("injected EIO")

func (f *failingSyncs) sync(file *os.File) error {
	f.mu.Lock()
	fail := f.log != "" && filepath.Base(filepath.Dir(file.Name())) == f.log
	gate := f.gate
	if fail {
		f.fails++
		f.log, f.gate = "", nil
	}
	f.mu.Unlock()
	if fail {
		if gate != nil {
			<-gate
		}
		return errInjectedEIO
	}
	return file.Sync()
}

func (f *failingSyncs) failNext(log string) { f.failNextAfter(log, nil) }

// failNextAfter fails the next fsync of log once gate is closed, so that writes made while it is
// in progress are caught by it too.
func (f *failingSyncs) failNextAfter(log string, gate chan struct{}) {
	f.mu.Lock()
	f.log, f.gate = log, gate
	f.mu.Unlock()
}

func (f *failingSyncs) failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fails
}

// waitFor polls cond until it holds, failing the test after a generous deadline (a bound on a
// hang, not a speed assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAllBatches fetches every batch of tp below the high watermark, by base offset.
func readAllBatches(t *testing.T, b *Broker, tp metadata.TopicPartition) map[int64][]byte {
	t.Helper()
	out := map[int64][]byte{}
	for off := int64(0); ; {
		res, err := b.Fetch(context.Background(), tp, off, 1<<20)
		if err != nil {
			t.Fatalf("fetch %s at %d: %v", tp, off, err)
		}
		if len(res.Records) == 0 {
			return out
		}
		s := segment.NewSplitter(res.Records)
		for s.Next() {
			out[s.Info().BaseOffset] = bytes.Clone(s.Batch())
			off = s.Info().NextOffset()
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		if res.Release != nil {
			res.Release()
		}
	}
}

// A failed fsync on one partition's hot log: acks=all appends in flight get a retriable error,
// the node gives the partition up and takes it again with the next epoch on the log recovered
// from disk (cut back to its last fsynced offset), the partition serves again, nothing
// acknowledged before the fault is lost, and another partition of the node works throughout.
func TestFsyncFailureMovesPartitionToRecoveredLog(t *testing.T) {
	st := natsmetatest.Store(t)
	ctx := context.Background()
	faults := &failingSyncs{}
	dir := t.TempDir()
	d, err := hotlog.OpenDir(filepath.Join(dir, "hot"), hotlog.Config{Sync: faults.sync})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	b, err := New(Config{NodeID: 1, KafkaAddr: "127.0.0.1:9001", HotLog: d, Store: st,
		StateDir: filepath.Join(dir, "epochs"), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Close()
		d.Close()
	})
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "fsync", Partitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	bad, steady := metadata.TopicPartition{Topic: "fsync", Partition: 0}, metadata.TopicPartition{Topic: "fsync", Partition: 1}
	b.Trigger()
	waitFor(t, "both partitions led", func() bool { return b.Leads(bad) && b.Leads(steady) })
	topic, err := st.GetTopic(ctx, "fsync")
	if err != nil {
		t.Fatal(err)
	}

	// appendAcked appends one batch with acks=all and returns its stored bytes.
	appendAcked := func(tp metadata.TopicPartition, n int) (AppendResult, []byte, error) {
		bt := batch(n, -1, -1, -1)
		res, err := b.Append(ctx, tp, bt)
		if err != nil {
			return res, nil, err
		}
		return res, bt, b.WaitDurable(ctx, tp, res.Epoch, res.LastOffset+1)
	}
	acked := map[int64][]byte{}
	for i := range 5 {
		res, bt, err := appendAcked(bad, 1+i)
		if err != nil {
			t.Fatal(err)
		}
		acked[res.BaseOffset] = bt
	}

	// The steady partition takes acks=all appends the whole time; every one must succeed.
	stopSteady := make(chan struct{})
	steadyDone := make(chan struct{})
	var steadyAcks atomic.Int64
	steadyAcked := map[int64][]byte{}
	var steadyErr error
	go func() {
		defer close(steadyDone)
		for {
			select {
			case <-stopSteady:
				return
			default:
			}
			res, bt, err := appendAcked(steady, 2)
			if err != nil {
				steadyErr = err
				return
			}
			steadyAcked[res.BaseOffset] = bt
			steadyAcks.Add(1)
		}
	}()
	waitFor(t, "steady appends before the fault", func() bool { return steadyAcks.Load() >= 3 })

	oldEpoch := b.Epoch(bad)
	b.mu.RLock()
	preFaultEnd := b.parts[bad].log.EndOffset()
	b.mu.RUnlock()

	// The failing fsync returns only once all four appends are in the log, so each of them waits
	// on it (otherwise a late one could land on the log recovered meanwhile and rightly succeed).
	gate := make(chan struct{})
	faults.failNextAfter(logName(topic.ID, 0), gate)
	var wg sync.WaitGroup
	inflight := make([]error, 4)
	for i := range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, inflight[i] = appendAcked(bad, 3)
		}()
	}
	waitFor(t, "the four in-flight appends written", func() bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return b.parts[bad].log.EndOffset() == preFaultEnd+4*3
	})
	close(gate)
	wg.Wait()
	for i, err := range inflight {
		if err == nil {
			t.Fatalf("acks=all append %d succeeded although its fsync failed", i)
		}
		if c := Code(err); c != kerr.KafkaStorageError.Code && c != kerr.NotLeaderForPartition.Code {
			t.Fatalf("append %d: %v (code %d), want a retriable KAFKA_STORAGE_ERROR or NOT_LEADER_OR_FOLLOWER", i, err, c)
		}
	}
	if n := faults.failed(); n != 1 {
		t.Fatalf("%d fsyncs failed, want 1", n)
	}
	waitFor(t, "the failure counted", func() bool { return testutil.ToFloat64(b.m.logFailures) >= 1 })
	waitFor(t, "the partition led again", func() bool { e := b.Epoch(bad); return e >= 0 && e != oldEpoch })
	if got := b.Epoch(bad); got != oldEpoch+1 {
		t.Fatalf("led again under epoch %d, want %d (the lease released and taken anew)", got, oldEpoch+1)
	}
	lease, err := st.GetLease(ctx, bad)
	if err != nil || lease.Node != 1 || lease.Epoch != oldEpoch+1 {
		t.Fatalf("lease %+v, %v", lease, err)
	}

	// It serves again, from the offset the failed log had made durable: the unacknowledged tail
	// written after the last good fsync is gone.
	res, bt, err := appendAcked(bad, 4)
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if res.BaseOffset != preFaultEnd {
		t.Fatalf("first append after recovery at %d, want %d (the last fsynced end)", res.BaseOffset, preFaultEnd)
	}
	acked[res.BaseOffset] = bt
	got := readAllBatches(t, b, bad)
	for off, want := range acked {
		if !bytes.Equal(got[off], want) {
			t.Fatalf("acknowledged batch at %d lost or changed", off)
		}
	}
	if len(got) != len(acked) {
		t.Fatalf("%d batches readable, %d acknowledged: unacknowledged batches survived", len(got), len(acked))
	}

	close(stopSteady)
	<-steadyDone
	if steadyErr != nil {
		t.Fatalf("the healthy partition failed during the fault: %v", steadyErr)
	}
	gotSteady := readAllBatches(t, b, steady)
	for off, want := range steadyAcked {
		if !bytes.Equal(gotSteady[off], want) {
			t.Fatalf("steady partition: acknowledged batch at %d lost or changed", off)
		}
	}
	if n := testutil.ToFloat64(b.m.logFailures); n != 1 {
		t.Fatalf("strata_broker_log_failures_total %v, want 1", n)
	}
}

// A log that failed while no term watched it (the partition had been given up) is found failed
// when the partition is taken again, and is reopened from disk and cut back to its durable end
// before it serves.
func TestTakeReopensLogThatFailedUnwatched(t *testing.T) {
	st := natsmetatest.Store(t)
	ctx := context.Background()
	faults := &failingSyncs{}
	dir := t.TempDir()
	d, err := hotlog.OpenDir(filepath.Join(dir, "hot"), hotlog.Config{Sync: faults.sync})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{NodeID: 1, HotLog: d, Store: st, StateDir: filepath.Join(dir, "epochs")})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.stop() // no background loops: the test reconciles by hand
	<-b.done
	t.Cleanup(func() {
		b.Close()
		d.Close()
	})
	tp := metadata.TopicPartition{Topic: "unwatched"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "unwatched", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	acked := map[int64][]byte{}
	for i := range 3 {
		bt := batch(1+i, -1, -1, -1)
		res, err := b.Append(ctx, tp, bt)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WaitDurable(ctx, tp, res.Epoch, res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		acked[res.BaseOffset] = bt
	}
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	oldEpoch := p.currentLease().Epoch
	b.dropPartition(ctx, p, false)
	if err := st.ReleaseLease(ctx, p.currentLease()); err != nil {
		t.Fatal(err)
	}

	// The log, still open in the Dir, fails with nobody leading the partition.
	durable := p.log.DurableOffset()
	if _, err := p.log.Append(batch(5, -1, -1, -1)); err != nil {
		t.Fatal(err)
	}
	faults.failNext(p.name)
	if err := p.log.WaitDurable(ctx, p.log.EndOffset()); !errors.Is(err, errInjectedEIO) {
		t.Fatalf("WaitDurable: %v, want the injected error", err)
	}

	if err := b.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Epoch(tp); got != oldEpoch+1 {
		t.Fatalf("epoch %d after retaking, want %d", got, oldEpoch+1)
	}
	b.mu.RLock()
	q := b.parts[tp]
	b.mu.RUnlock()
	if q.log == p.log || q.log.Err() != nil {
		t.Fatalf("the new term serves the failed log (same %v, err %v)", q.log == p.log, q.log.Err())
	}
	if end := q.log.EndOffset(); end != durable {
		t.Fatalf("recovered end %d, want the durable end %d", end, durable)
	}
	bt := batch(2, -1, -1, -1)
	res, err := b.Append(ctx, tp, bt)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitDurable(ctx, tp, res.Epoch, res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	acked[res.BaseOffset] = bt
	got := readAllBatches(t, b, tp)
	if len(got) != len(acked) {
		t.Fatalf("%d batches readable, want the %d acknowledged", len(got), len(acked))
	}
	for off, want := range acked {
		if !bytes.Equal(got[off], want) {
			t.Fatalf("acknowledged batch at %d lost or changed", off)
		}
	}
}
