package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A node restarted on the same hot-log directory and metadata store serves everything acked
// before the stop, and new records continue the offsets.
func TestRestartKeepsAckedData(t *testing.T) {
	st := startNode(t, nodeOpts{}) // only for its NATS store
	store := st.store
	st.stop()

	n1 := startNode(t, nodeOpts{store: store})
	n1.createTopic(t, "durable", 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(n *testNode, from, to int) {
		cl := n.client(t, kgo.DefaultProduceTopic("durable"), kgo.RequiredAcks(kgo.AllISRAcks()))
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	produce(n1, 0, 50)
	n1.stop()

	n2 := startNode(t, nodeOpts{store: store, dataDir: n1.dir})
	produce(n2, 50, 100)
	got := consumeAll(t, n2, "durable", 2, 100)
	seen := map[string]bool{}
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		seen[string(r.Value)] = true
	}
	for i := 0; i < 100; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Fatalf("record %d lost across the restart", i)
		}
	}
}
