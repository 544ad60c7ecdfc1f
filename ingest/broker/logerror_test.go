package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// Hot-log failures reach clients as errors they retry, never UNKNOWN_SERVER_ERROR.
func TestLogErrorCodes(t *testing.T) {
	tp := metadata.TopicPartition{Topic: "t", Partition: 0}
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{hotlog.ErrClosed, kerr.NotLeaderForPartition.Code},
		{fmt.Errorf("wrapped: %w", hotlog.ErrTruncated), kerr.NotLeaderForPartition.Code},
		{errors.New("fsync: input/output error"), kerr.KafkaStorageError.Code},
	} {
		if got := Code(logError(tp, "append", tc.err)); got != tc.want {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.want)
		}
	}
}

// An acks=all wait answers success only for the epoch that appended the data.
func TestWaitDurableChecksEpoch(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	tp := metadata.TopicPartition{Topic: "ep"}
	b := startNode(t, st, 1, t.TempDir())
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "ep", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Append(ctx, tp, batch(3, -1, -1, -1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch != b.Epoch(tp) || r.Epoch < 1 {
		t.Fatalf("append epoch %d, partition epoch %d", r.Epoch, b.Epoch(tp))
	}
	for _, other := range []int32{r.Epoch - 1, r.Epoch + 1} {
		if err := b.WaitDurable(ctx, tp, other, r.LastOffset+1); Code(err) != kerr.NotLeaderForPartition.Code {
			t.Errorf("wait under epoch %d (appended under %d): %v, want NOT_LEADER_OR_FOLLOWER", other, r.Epoch, err)
		}
	}
	if err := b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
		t.Fatalf("wait under the append's epoch: %v", err)
	}
}
