package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// TestListOffsetByRecordTimestamp: ListOffsets for a time names the first record whose timestamp
// reaches it, with that record's timestamp, whether the record is in the hot log or only in object
// storage, for every codec; LogAppendTime topics answer with the append time.
func TestListOffsetByRecordTimestamp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, _ := newTieredBroker(t)

	specs := map[string]map[string]string{
		"hot":    nil,
		"tiered": {"strata.durability": "object", "strata.flush.ms": "10", "local.retention.bytes": "0"},
		"append": {"message.timestamp.type": "LogAppendTime"},
	}
	for name, configs := range specs {
		if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: configs}); err != nil {
			t.Fatal(err)
		}
	}
	// Batch i of each topic: offsets [3i, 3i+3), records stamped t_i, t_i+10, t_i+20 with
	// t_i = base + 1000i, compressed with codec i (0 none ... 4 zstd).
	base := time.Now().UnixMilli() - 100_000
	stamp := func(i int) int64 { return base + int64(i)*1000 }
	appendTimes := map[int]int64{}
	for name := range specs {
		tp := metadata.TopicPartition{Topic: name}
		for i := range 5 {
			bt := segmenttest.Batch{FirstTimestamp: stamp(i), Timestamps: []int64{stamp(i), stamp(i) + 10, stamp(i) + 20},
				Codec: int16(i), Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}.Encode()
			r, err := b.Append(ctx, tp, bt)
			if err != nil {
				t.Fatal(err)
			}
			if r.BaseOffset != int64(3*i) {
				t.Fatalf("%s batch %d at %d", name, i, r.BaseOffset)
			}
			if err := b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
				t.Fatal(err)
			}
			if name == "append" {
				appendTimes[i] = r.LogAppendTime
			}
		}
	}
	// The tiered topic's records are only in object storage once local retention drops them; the
	// hot topic's never left the hot log.
	b.mu.RLock()
	tiered := b.parts[metadata.TopicPartition{Topic: "tiered"}]
	b.mu.RUnlock()
	waitFor(t, "local retention of the tiered topic", func() bool { return tiered.log.StartOffset() == 15 })
	for _, name := range []string{"hot", "append"} {
		if off, _, err := b.ListOffset(ctx, metadata.TopicPartition{Topic: name}, EarliestLocalTimestamp); err != nil || off != 0 {
			t.Fatalf("%s: earliest local %d %v, want 0", name, off, err)
		}
	}

	for _, name := range []string{"hot", "tiered"} {
		tp := metadata.TopicPartition{Topic: name}
		for _, tc := range []struct {
			ts, off, at int64 // ts and at relative to base; off -1: none
		}{
			{-5, 0, 0},
			{0, 0, 0},
			{5, 1, 10},    // the brief's case: between the first and second record
			{10, 1, 10},   // exactly the second
			{11, 2, 20},   // the third
			{21, 3, 1000}, // past batch 0: the first record of batch 1
			{2015, 8, 2020},
			{4005, 13, 4010},
			{4020, 14, 4020},
			{4021, -1, 0},
		} {
			t.Run(fmt.Sprintf("%s/base%+d", name, tc.ts), func(t *testing.T) {
				wantAt := base + tc.at
				if tc.off < 0 {
					wantAt = -1
				}
				off, at, err := b.ListOffset(ctx, tp, base+tc.ts)
				if err != nil || off != tc.off || at != wantAt {
					t.Fatalf("ListOffset(base%+d) = %d@base%+d %v, want %d@base%+d", tc.ts, off, at-base, err, tc.off, wantAt-base)
				}
			})
		}
	}

	// A log start inside a batch (DeleteRecords) bounds the answer, in either tier.
	for _, name := range []string{"hot", "tiered"} {
		tp := metadata.TopicPartition{Topic: name}
		if low, err := b.DeleteRecords(ctx, tp, 4); err != nil || low != 4 {
			t.Fatalf("%s: delete records below 4: %d %v", name, low, err)
		}
		for _, q := range []int64{base + 5, base + 1005} {
			if off, at, err := b.ListOffset(ctx, tp, q); err != nil || off != 4 || at != stamp(1)+10 {
				t.Fatalf("%s: ListOffset(base%+d) after the start moved to 4 = %d@base%+d %v, want 4@base+1010", name, q-base, off, at-base, err)
			}
		}
	}

	// LogAppendTime: every record of a batch carries the batch's append time, so a lookup lands on
	// the first record of the first batch appended at or after it.
	tp := metadata.TopicPartition{Topic: "append"}
	for i := range 5 {
		if appendTimes[i] < base {
			t.Fatalf("batch %d: append time %d", i, appendTimes[i])
		}
	}
	off, at, err := b.ListOffset(ctx, tp, base+5)
	if err != nil || off != 0 || at != appendTimes[0] {
		t.Fatalf("append time topic: %d@%d %v, want 0@%d", off, at, err, appendTimes[0])
	}
	for i := 1; i < 5; i++ {
		if appendTimes[i] == appendTimes[i-1] {
			continue // same millisecond: the earlier batch answers
		}
		off, at, err := b.ListOffset(ctx, tp, appendTimes[i-1]+1)
		if err != nil || off != int64(3*i) || at != appendTimes[i] {
			t.Fatalf("after batch %d's append time: %d@%d %v, want %d@%d", i-1, off, at, err, 3*i, appendTimes[i])
		}
	}
	if off, at, err := b.ListOffset(ctx, tp, appendTimes[4]+1); err != nil || off != -1 || at != -1 {
		t.Fatalf("after the last append time: %d@%d %v", off, at, err)
	}
}
