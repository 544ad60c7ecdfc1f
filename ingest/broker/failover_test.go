package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
)

// node is one broker incarnation on a data dir that outlives it (hot logs + epoch checkpoints).
func startNode(t *testing.T, st metadata.Store, id int32, dataDir string) *Broker {
	t.Helper()
	d, err := hotlog.OpenDir(filepath.Join(dataDir, "hot"), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{NodeID: id, KafkaAddr: fmt.Sprintf("127.0.0.1:%d", 9000+id), HotLog: d, Store: st,
		StateDir: filepath.Join(dataDir, "epochs"), LeaseTTL: 6 * time.Second, RenewInterval: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.stop()
	<-b.done
	t.Cleanup(func() {
		b.Close()
		d.Close()
	})
	return b
}

// crash ends an incarnation without releasing its leases (as kill -9 would); the store's clock is
// moved past the lease TTL so they lapse.
func crash(b *Broker, clk *fakeClock) {
	b.mu.Lock()
	b.parts = map[metadata.TopicPartition]*partition{}
	b.mu.Unlock()
	b.Close()
	b.dir.Close()
	clk.Add(time.Minute)
}

func valuesAt(t *testing.T, b *Broker, tp metadata.TopicPartition) []byte {
	t.Helper()
	res, err := b.Fetch(context.Background(), tp, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

// crashWithTail starts node 1 on dir, creates tp's topic (one partition), appends n records that
// stay in the hot log (local durability, not tiered), and crashes the node; it returns the epoch
// they were written under.
func crashWithTail(t *testing.T, st metadata.Store, clk *fakeClock, dir string, tp metadata.TopicPartition, n int) int32 {
	t.Helper()
	ctx := context.Background()
	b := startNode(t, st, 1, dir)
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: tp.Topic, Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, tp, batch(n, -1, -1, -1)); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitDurable(ctx, tp, b.Epoch(tp), int64(n)); err != nil {
		t.Fatal(err)
	}
	e := b.Epoch(tp)
	crash(b, clk)
	return e
}

// The local log is kept across restarts of the node that led last, even through an incarnation
// that appended nothing (the checkpoint carries its epoch).
func TestLocalTailKeptWhenNoOtherLeader(t *testing.T) {
	st, clk := newMemStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	tp := metadata.TopicPartition{Topic: "keep"}
	first := crashWithTail(t, st, clk, dir, tp, 3)
	b := startNode(t, st, 1, dir) // epoch first+1, appends nothing
	if got := b.Epoch(tp); got != first+1 {
		t.Fatalf("epoch %d, want %d", got, first+1)
	}
	crash(b, clk)
	b = startNode(t, st, 1, dir) // epoch first+2: the checkpoint says first+1 was ours
	if got := b.Epoch(tp); got != first+2 {
		t.Fatalf("epoch %d, want %d", got, first+2)
	}
	if _, hw, err := b.Offsets(ctx, tp); err != nil || hw != 3 {
		t.Fatalf("high watermark %d %v after two restarts, want 3", hw, err)
	}
}

// timeouts is a store whose GetCatalog fails while failCatalog is above zero, and whose
// AcquireLease takes effect but answers an error while loseAcquire is (each failure counts one
// down): metadata calls that time out under load.
type timeouts struct {
	metadata.Store
	failCatalog, loseAcquire atomic.Int32
}

func (s *timeouts) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	if s.failCatalog.Add(-1) >= 0 {
		return metadata.PartitionCatalog{}, errors.New("test: catalog read timed out")
	}
	return s.Store.GetCatalog(ctx, tp)
}

func (s *timeouts) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32) (metadata.Lease, error) {
	l, err := s.Store.AcquireLease(ctx, tp, node)
	if err == nil && s.loseAcquire.Add(-1) >= 0 {
		return metadata.Lease{}, errors.New("test: lease acquisition timed out")
	}
	return l, err
}

// A take that fails after acquiring the lease (its catalog read timed out, or the acquisition's
// answer was lost) leaves the node's own log the truth: the next take, two epochs past the
// checkpoint of the last term that served, must keep the acknowledged, never tiered tail. It
// discarded it before keepEpochChain.
func TestFailedTakeKeepsLocalTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(st *timeouts)
	}{
		{"catalog read fails", func(st *timeouts) { st.failCatalog.Store(1) }},
		{"acquisition answer lost", func(st *timeouts) { st.loseAcquire.Store(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, clk := newMemStore(t)
			st := &timeouts{Store: mem}
			ctx := context.Background()
			dir := t.TempDir()
			tp := metadata.TopicPartition{Topic: "keep"}
			first := crashWithTail(t, st, clk, dir, tp, 5)

			tc.fail(st) // the first take of the next incarnation fails after the lease moved
			b := startNode(t, st, 1, dir)
			if b.Leads(tp) {
				t.Fatal("the failing take led the partition")
			}
			if err := b.reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if !b.Leads(tp) || b.Epoch(tp) != first+2 {
				t.Fatalf("leads %v at epoch %d, want epoch %d (one failed take between)", b.Leads(tp), b.Epoch(tp), first+2)
			}
			if _, hw, err := b.Offsets(ctx, tp); err != nil || hw != 5 {
				t.Fatalf("high watermark %d %v after a failed take, want the 5 acknowledged records kept", hw, err)
			}
		})
	}
}

// A node that returns after another node led the partition discards its fenced tail: first when
// it sees the other leader's lease (reconcile), and at the latest when it takes the partition.
func TestReturningNodeDiscardsFencedTail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		otherStays  bool // the other leader still holds the lease when node 1 returns
		wantLogGone bool
	}{
		{"other leader alive", true, true},
		{"other leader gone too", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, clk := newMemStore(t)
			ctx := context.Background()
			dir1, dir2 := t.TempDir(), t.TempDir()
			tp := metadata.TopicPartition{Topic: "fence"}
			b1 := startNode(t, st, 1, dir1)
			if _, err := adminOf(t, b1).CreateTopic(ctx, topics.Spec{Name: "fence", Partitions: 1, ReplicationFactor: 1}); err != nil {
				t.Fatal(err)
			}
			stale := batch(5, -1, -1, -1)
			if _, err := b1.Append(ctx, tp, stale); err != nil {
				t.Fatal(err)
			}
			if err := b1.WaitDurable(ctx, tp, b1.Epoch(tp), 5); err != nil {
				t.Fatal(err)
			}
			e1 := b1.Epoch(tp)
			crash(b1, clk) // local durability: offsets 0..4 were never rolled to the catalog

			b2 := startNode(t, st, 2, dir2)
			if got := b2.Epoch(tp); got != e1+1 {
				t.Fatalf("node 2 epoch %d, want %d", got, e1+1)
			}
			if _, hw, _ := b2.Offsets(ctx, tp); hw != 0 {
				t.Fatalf("node 2 starts at %d, want the tiered end 0", hw)
			}
			fresh := batch(2, -1, -1, -1)
			if r, err := b2.Append(ctx, tp, fresh); err != nil || r.BaseOffset != 0 {
				t.Fatalf("node 2 append: %+v %v", r, err)
			}
			if !tc.otherStays {
				crash(b2, clk)
			}

			b1 = startNode(t, st, 1, dir1)
			names := b1.dir.Names()
			if tc.wantLogGone {
				if len(names) != 0 || b1.Leads(tp) {
					t.Fatalf("fenced log still on node 1: %v (leads %v)", names, b1.Leads(tp))
				}
				return
			}
			if !b1.Leads(tp) || b1.Epoch(tp) != e1+2 {
				t.Fatalf("node 1 leads %v at epoch %d, want epoch %d", b1.Leads(tp), b1.Epoch(tp), e1+2)
			}
			_, hw, err := b1.Offsets(ctx, tp)
			if err != nil || hw != 0 {
				t.Fatalf("node 1 high watermark %d %v; its fenced tail must be gone", hw, err)
			}
			if recs := valuesAt(t, b1, tp); len(recs) != 0 {
				t.Fatalf("node 1 serves %d bytes of fenced data", len(recs))
			}
		})
	}
}

func TestEpochCheckpointRoundTrip(t *testing.T) {
	for _, e := range []int32{0, 1, 7, 1<<31 - 1} {
		got, err := decodeEpoch(encodeEpoch(e))
		if err != nil || got != e {
			t.Fatalf("epoch %d: got %d %v", e, got, err)
		}
	}
	bad := encodeEpoch(5)
	bad[12] ^= 1
	if _, err := decodeEpoch(bad); err == nil {
		t.Fatal("flipped bit not detected")
	}
}

func FuzzDecodeEpoch(f *testing.F) {
	f.Add(encodeEpoch(3))
	f.Add(legacyEpoch(3))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEpoch(b)
		if err != nil && !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		if err == nil && !bytes.Equal(encodeEpoch(e), b) && !bytes.Equal(legacyEpoch(e), b) {
			t.Fatalf("accepted %x, which re-encodes differently", b)
		}
	})
}

// Group coordinators spread over live nodes, and a departure moves only the leaver's groups.
func TestCoordinatorSpread(t *testing.T) {
	nodes := []metadata.Node{{ID: 1}, {ID: 2}, {ID: 3}}
	count := map[int32]int{}
	before := map[string]int32{}
	for i := 0; i < 3000; i++ {
		g := fmt.Sprintf("group-%d", i)
		n := CoordinatorOf(g, nodes).ID
		before[g] = n
		count[n]++
	}
	for _, n := range nodes {
		if c := count[n.ID]; c < 800 || c > 1200 {
			t.Fatalf("node %d coordinates %d of 3000 groups: %v", n.ID, c, count)
		}
	}
	for g, was := range before {
		now := CoordinatorOf(g, nodes[:2]).ID
		if was != 3 && now != was {
			t.Fatalf("group %s moved from %d to %d though node %d stayed", g, was, now, was)
		}
	}
}
