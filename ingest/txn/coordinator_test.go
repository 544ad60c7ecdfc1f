package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
)

// marker is one WriteMarkers call.
type marker struct {
	pid              int64
	epoch            int16
	commit           bool
	coordinatorEpoch int32
	tps              []metadata.TopicPartition
}

// fakeMarkers records markers and fails while fail is set. (The real path, through partition
// leaders, is tested against a running node in ingest/compat.)
type fakeMarkers struct {
	mu    sync.Mutex
	calls []marker
	fail  error
}

func (f *fakeMarkers) WriteMarkers(_ context.Context, pid int64, epoch int16, commit bool, coordinatorEpoch int32, tps []metadata.TopicPartition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls = append(f.calls, marker{pid, epoch, commit, coordinatorEpoch, tps})
	return nil
}

func (f *fakeMarkers) last(t *testing.T) marker {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		t.Fatal("no markers written")
	}
	return f.calls[len(f.calls)-1]
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	c       *Coordinator
	store   *memmeta.Store
	markers *fakeMarkers
	clock   *clock
}

var tp0, tp1 = metadata.TopicPartition{Topic: "t", Partition: 0}, metadata.TopicPartition{Topic: "t", Partition: 1}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, err := memmeta.New(memmeta.Config{FirstProducerID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.CreateTopic(context.Background(), metadata.Topic{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: s, markers: &fakeMarkers{}, clock: &clock{now: time.UnixMilli(1_700_000_000_000)}}
	f.c, err = New(Config{Store: s, Markers: f.markers, Now: f.clock.Now, CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.c.Close() })
	return f
}

func (f *fixture) state(t *testing.T, id string) metadata.Transaction {
	t.Helper()
	tx, err := f.store.GetTransaction(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func wantKerr(t *testing.T, err error, want *kerr.Error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestInitProducerID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, err := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err != nil || pid != 1000 || epoch != 0 {
		t.Fatalf("first init: %d %d %v", pid, epoch, err)
	}
	pid2, epoch2, err := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err != nil || pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d %d %v, want %d 1", pid2, epoch2, err, pid)
	}
	// KIP-360: the current producer re-initializes with what it holds; another id is fenced.
	if _, e, err := f.c.InitProducerID(ctx, "a", time.Minute, pid, 1); err != nil || e != 2 {
		t.Fatalf("re-init with the current epoch: %d %v", e, err)
	}
	_, _, err = f.c.InitProducerID(ctx, "a", time.Minute, pid+1, 0)
	wantKerr(t, err, kerr.ProducerFenced, "init with another producer id")
	_, _, err = f.c.InitProducerID(ctx, "b", 0, -1, -1)
	wantKerr(t, err, kerr.InvalidTransactionTimeout, "zero timeout")
	_, _, err = f.c.InitProducerID(ctx, "b", DefaultMaxTimeout+time.Millisecond, -1, -1)
	wantKerr(t, err, kerr.InvalidTransactionTimeout, "timeout over the maximum")
	if pid, _, _ := f.c.InitProducerID(ctx, "b", time.Second, -1, -1); pid != 1001 {
		t.Fatalf("a second transactional id got producer id %d, want a fresh one", pid)
	}
}

func TestCommitAndAbort(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	err := f.c.EndTxn(ctx, "a", pid, epoch, true)
	wantKerr(t, err, kerr.InvalidTxnState, "EndTxn with no transaction")

	if bad, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0, tp1}); err != nil || bad != nil {
		t.Fatalf("AddPartitions: %v %v", bad, err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnOngoing || len(st.Partitions) != 2 || st.Sequence != 1 {
		t.Fatalf("after AddPartitions: %+v", st)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if m := f.markers.last(t); !m.commit || m.pid != pid || m.epoch != epoch || m.coordinatorEpoch != 1 || len(m.tps) != 2 {
		t.Fatalf("commit markers: %+v (want the transaction's sequence 1 as coordinator epoch)", m)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteCommit || len(st.Partitions) != 0 {
		t.Fatalf("after commit: %+v", st)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatalf("a retried commit: %v", err)
	}
	wantKerr(t, f.c.EndTxn(ctx, "a", pid, epoch, false), kerr.InvalidTxnState, "abort after commit")

	// The next transaction, aborted.
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp1}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	// Its markers carry its own sequence, so a partition can tell a late marker of the first
	// transaction from one of this.
	if m := f.markers.last(t); m.commit || m.coordinatorEpoch != 2 || len(m.tps) != 1 || m.tps[0] != tp1 {
		t.Fatalf("abort markers: %+v (want coordinator epoch 2)", m)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteAbort || st.Sequence != 2 {
		t.Fatalf("after abort: %+v", st)
	}

	// Unknown partitions fail the request and add nothing.
	bad, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0, {Topic: "t", Partition: 9}, {Topic: "nope"}})
	if err != nil || bad[tp0] != kerr.OperationNotAttempted.Code || bad[metadata.TopicPartition{Topic: "t", Partition: 9}] != kerr.UnknownTopicOrPartition.Code ||
		bad[metadata.TopicPartition{Topic: "nope"}] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AddPartitions with unknown partitions: %v %v", bad, err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteAbort {
		t.Fatalf("a failed AddPartitions changed the state: %+v", st)
	}
}

func TestFencing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	// A new producer of the id aborts the ongoing transaction at a bumped epoch.
	_, epoch2, err := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	m := f.markers.last(t)
	if m.commit || m.epoch != epoch+1 || m.tps[0] != tp0 {
		t.Fatalf("fencing abort markers: %+v", m)
	}
	if epoch2 != epoch+2 {
		t.Fatalf("new epoch %d, want %d", epoch2, epoch+2)
	}
	_, err = f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp1})
	wantKerr(t, err, kerr.ProducerFenced, "AddPartitions by the old producer")
	wantKerr(t, f.c.EndTxn(ctx, "a", pid, epoch, true), kerr.ProducerFenced, "EndTxn by the old producer")
	wantKerr(t, f.c.AddOffsets(ctx, "a", pid, epoch, "g"), kerr.ProducerFenced, "AddOffsets by the old producer")
	_, err = f.c.AddPartitions(ctx, "a", pid+5, epoch2, []metadata.TopicPartition{tp1})
	wantKerr(t, err, kerr.InvalidProducerIDMapping, "AddPartitions with another producer id")
	_, err = f.c.AddPartitions(ctx, "nobody", pid, epoch2, []metadata.TopicPartition{tp1})
	wantKerr(t, err, kerr.InvalidProducerIDMapping, "AddPartitions for an unknown transactional id")
}

func TestOffsetsOnCommitOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	off := func(o int64) []metadata.TxnOffset {
		return []metadata.TxnOffset{{TopicPartition: tp0, OffsetCommit: metadata.OffsetCommit{Offset: o, LeaderEpoch: -1}}}
	}
	wantKerr(t, f.c.StageOffsets(ctx, "a", pid, epoch, "g", off(5)), kerr.InvalidTxnState, "staging before AddOffsets")
	for i, commit := range []bool{false, true} {
		if err := f.c.AddOffsets(ctx, "a", pid, epoch, "g"); err != nil {
			t.Fatal(err)
		}
		if err := f.c.StageOffsets(ctx, "a", pid, epoch, "g", off(int64(10*(i+1)))); err != nil {
			t.Fatal(err)
		}
		got, _ := f.store.FetchOffsets(ctx, "g")
		if _, ok := got[tp0]; ok {
			t.Fatalf("offsets visible to the group before the transaction ended: %v", got)
		}
		if err := f.c.EndTxn(ctx, "a", pid, epoch, commit); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := f.store.FetchOffsets(ctx, "g")
	if got[tp0].Offset != 20 {
		t.Fatalf("after an aborted and a committed transaction the group holds %v, want offset 20", got)
	}
}

func TestTimeoutAborts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", 10*time.Second, -1, -1)
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	f.clock.add(9 * time.Second)
	f.c.sweep(ctx)
	if st := f.state(t, "a"); st.State != metadata.TxnOngoing {
		t.Fatalf("aborted before its timeout: %+v", st)
	}
	f.clock.add(2 * time.Second)
	f.c.sweep(ctx)
	st := f.state(t, "a")
	if st.State != metadata.TxnCompleteAbort || st.ProducerEpoch != epoch+1 {
		t.Fatalf("after the timeout: %+v", st)
	}
	if m := f.markers.last(t); m.commit || m.epoch != epoch+1 {
		t.Fatalf("timeout abort markers: %+v", m)
	}
	wantKerr(t, f.c.EndTxn(ctx, "a", pid, epoch, true), kerr.ProducerFenced, "commit after the timeout")
}

func TestPreparedCompletedLater(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = errors.New("leader unreachable")
	f.c.cfg.MarkerTimeout = 10 * time.Millisecond
	// The outcome is recorded: EndTxn answers success, the transaction stays prepared.
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if st := f.state(t, "a"); st.State != metadata.TxnPrepareCommit {
		t.Fatalf("with markers failing: %+v", st)
	}
	// The next transaction must wait for it.
	_, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp1})
	wantKerr(t, err, kerr.ConcurrentTransactions, "AddPartitions while the previous transaction completes")
	f.markers.fail = nil
	f.c.sweep(ctx) // not yet due: EndTxn had just decided it
	if st := f.state(t, "a"); st.State != metadata.TxnPrepareCommit {
		t.Fatalf("completed before due: %+v", st)
	}
	f.clock.add(2 * time.Second)
	f.c.sweep(ctx)
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteCommit {
		t.Fatalf("the loop did not complete a prepared transaction: %+v", st)
	}
	if m := f.markers.last(t); !m.commit || m.tps[0] != tp0 {
		t.Fatalf("completion markers: %+v", m)
	}
}

func TestStartClose(t *testing.T) {
	f := newFixture(t)
	f.c.Start()
	f.c.Start()
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Close(); err != nil {
		t.Fatal(err)
	}
	c, _ := New(Config{Store: f.store, Markers: f.markers})
	c.Close() // never started
	c.Start() // after Close: nothing runs
}

func TestPendingOffsets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if err := f.c.AddOffsets(ctx, "a", pid, epoch, "g"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.StageOffsets(ctx, "a", pid, epoch, "g", []metadata.TxnOffset{{TopicPartition: tp1, OffsetCommit: metadata.OffsetCommit{Offset: 4}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.c.PendingOffsets(ctx, "g"); err != nil || !got[tp1] || len(got) != 1 {
		t.Fatalf("pending during the transaction: %v %v", got, err)
	}
	if got, _ := f.c.PendingOffsets(ctx, "other"); len(got) != 0 {
		t.Fatalf("pending for another group: %v", got)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.c.PendingOffsets(ctx, "g"); len(got) != 0 {
		t.Fatalf("pending after the commit: %v", got)
	}
}

// Two nodes may complete one transaction at once (the id's coordinator moved while the first was
// still writing markers). Both write its markers with the same coordinator epoch, and the
// producer's next transaction a greater one, so that a partition can refuse the late one.
func TestTwoCoordinatorsMarkerEpochs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := &fakeMarkers{}
	b, err := New(Config{Store: f.store, Markers: other, Now: f.clock.Now, CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pid, epoch, _ := f.c.InitProducerID(ctx, "a", time.Minute, -1, -1)
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0, tp1}); err != nil {
		t.Fatal(err)
	}
	f.markers.fail = errors.New("leader unreachable")
	f.c.cfg.MarkerTimeout = 10 * time.Millisecond
	if err := f.c.EndTxn(ctx, "a", pid, epoch, false); err != nil { // decided, markers pending
		t.Fatal(err)
	}
	f.clock.add(2 * time.Second)
	b.sweep(ctx) // the other node completes it
	if st := f.state(t, "a"); st.State != metadata.TxnCompleteAbort {
		t.Fatalf("the other node did not complete the transaction: %+v", st)
	}
	first := other.last(t)
	f.markers.fail = nil
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, []metadata.TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	next := f.markers.last(t)
	if first.coordinatorEpoch != 1 || next.coordinatorEpoch != 2 || next.epoch != first.epoch {
		t.Fatalf("markers of the first transaction %+v, of the next %+v: want coordinator epochs 1 and 2 at one producer epoch", first, next)
	}
}
