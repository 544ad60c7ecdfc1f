package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// A compacted topic refuses records without a key with INVALID_RECORD, as Kafka does, compressed
// or not, and appends nothing of such a batch; a topic that becomes compacted refuses them from
// then on, and one that is not accepts them.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	b := newBroker(t, st, 1, "")
	a := adminOf(t, b)
	if _, err := a.CreateTopic(ctx, topics.Spec{Name: "changelog", Partitions: 1, ReplicationFactor: 1,
		Configs: map[string]string{"cleanup.policy": "compact,delete"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateTopic(ctx, topics.Spec{Name: "events", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	keyed := func(keys ...[]byte) []byte {
		vals := make([][]byte, len(keys))
		for i := range vals {
			vals[i] = []byte("v")
		}
		return segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Keys: keys, Values: vals}.Encode()
	}
	tp := metadata.TopicPartition{Topic: "changelog"}
	if _, err := b.Append(ctx, tp, keyed([]byte("a"), []byte("b"))); err != nil {
		t.Fatal(err)
	}
	_, err := b.Append(ctx, tp, keyed([]byte("a"), nil))
	mustCode(t, err, kerr.InvalidRecord)
	zstd := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Keys: [][]byte{nil}, Values: [][]byte{[]byte("v")}, Codec: 4}.Encode()
	_, err = b.Append(ctx, tp, zstd)
	mustCode(t, err, kerr.InvalidRecord)
	// A tombstone has a key: accepted, right after the first batch (nothing of the refused ones
	// was appended).
	res, err := b.Append(ctx, tp, segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Keys: [][]byte{[]byte("a")},
		Values: [][]byte{nil}}.Encode())
	if err != nil || res.BaseOffset != 2 {
		t.Fatalf("tombstone appended at %d, %v; want 2", res.BaseOffset, err)
	}

	events := metadata.TopicPartition{Topic: "events"}
	if _, err := b.Append(ctx, events, keyed(nil)); err != nil {
		t.Fatalf("keyless record to a delete topic: %v", err)
	}
	if err := a.SetTopicConfigs(ctx, "events", map[string]string{"cleanup.policy": "compact"}, false); err != nil {
		t.Fatal(err)
	}
	_, err = b.Append(ctx, events, keyed(nil))
	mustCode(t, err, kerr.InvalidRecord)
}
