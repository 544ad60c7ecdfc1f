package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// fakeLocal leads every partition; each partition's first writes fail as scripted.
type fakeLocal struct {
	mu      sync.Mutex
	fails   map[metadata.TopicPartition][]error
	written map[metadata.TopicPartition]int
	// coordinatorEpochs are the coordinator epochs of the markers written.
	coordinatorEpochs []int32
}

func (f *fakeLocal) Leads(metadata.TopicPartition) bool { return true }

func (f *fakeLocal) WriteTxnMarker(_ context.Context, tp metadata.TopicPartition, _ int64, _ int16, _ bool, coordinatorEpoch int32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if errs := f.fails[tp]; len(errs) > 0 {
		f.fails[tp] = errs[1:]
		return errs[0]
	}
	f.written[tp]++
	f.coordinatorEpochs = append(f.coordinatorEpochs, coordinatorEpoch)
	return nil
}

func TestNodeMarkers(t *testing.T) {
	gone, moving, fenced := metadata.TopicPartition{Topic: "gone"}, metadata.TopicPartition{Topic: "moving"}, metadata.TopicPartition{Topic: "fenced"}
	local := &fakeLocal{written: map[metadata.TopicPartition]int{}, fails: map[metadata.TopicPartition][]error{
		gone:   {kerr.UnknownTopicOrPartition},
		moving: {kerr.NotLeaderForPartition, kerr.NotLeaderForPartition},
	}}
	m := &NodeMarkers{Local: local}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.WriteMarkers(ctx, 1, 0, true, 7, []metadata.TopicPartition{gone, moving, tp0}); err != nil {
		t.Fatal(err)
	}
	if local.written[moving] != 1 || local.written[tp0] != 1 || local.written[gone] != 0 {
		t.Fatalf("written %v: want moving retried until written once, tp0 once, the deleted partition skipped", local.written)
	}
	if fmt.Sprint(local.coordinatorEpochs) != "[7 7]" {
		t.Fatalf("markers written with coordinator epochs %v, want the transaction's 7 on each", local.coordinatorEpochs)
	}
	local.fails[fenced] = []error{kerr.InvalidProducerEpoch}
	if err := m.WriteMarkers(ctx, 1, 0, true, 1, []metadata.TopicPartition{fenced}); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("a marker older than the partition's epoch: %v, want INVALID_PRODUCER_EPOCH at once", err)
	}
	local.fails[tp1] = []error{kerr.NotLeaderForPartition, kerr.NotLeaderForPartition, kerr.NotLeaderForPartition}
	short, scancel := context.WithTimeout(ctx, 60*time.Millisecond)
	defer scancel()
	if err := m.WriteMarkers(short, 1, 0, true, 1, []metadata.TopicPartition{tp1}); err == nil {
		t.Fatal("markers reported written while the partition kept refusing them")
	}
}
