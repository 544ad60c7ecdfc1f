package kafka

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// An unmodified franz-go client asks for offsets by time (kadm's ListOffsetsAfterMilli, and a
// consumer reset to AfterMilli) over batches of three records stamped t, t+10, t+20, compressed
// with each codec, in the hot log and in object storage only: a time between the first and second
// record answers the second record with its timestamp, and the consumer's first record is that one,
// not the batch's first.
func TestListOffsetsByRecordTimestamp(t *testing.T) {
	ctx := testCtx(t)
	bucket, err := objstore.Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var up *tier.Uploader
	var rd *tier.Reader
	n := startNode(t, nodeOpts{brokerCfg: func(c *broker.Config) {
		if up, err = tier.NewUploader(tier.Config{Bucket: bucket, Store: c.Store, PollInterval: 20 * time.Millisecond,
			CheckInterval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if rd, err = tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: c.Store}); err != nil {
			t.Fatal(err)
		}
		c.Tiering, c.TieredReader = up, rd
	}})
	t.Cleanup(func() { _ = up.Close(); _ = rd.Close() })
	obj, flush, zero := "object", "10", "0"
	n.createTopic(t, "ts-hot", 1, nil)
	n.createTopic(t, "ts-tiered", 1, map[string]*string{"strata.durability": &obj, "strata.flush.ms": &flush,
		"local.retention.bytes": &zero})

	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(),
		kgo.Lz4Compression(), kgo.ZstdCompression()}
	base := time.Now().Add(-time.Hour).UnixMilli()
	stamp := func(i int) int64 { return base + int64(i)*60_000 } // batch i: stamp(i) + {0, 10, 20}
	for _, topic := range []string{"ts-hot", "ts-tiered"} {
		for i, codec := range codecs {
			// Manual flushing puts the three records in one batch.
			cl := n.client(t, kgo.DefaultProduceTopic(topic), kgo.ManualFlushing(), kgo.ProducerBatchCompression(codec))
			for j := range int64(3) {
				// Compressible values: franz-go stores a batch uncompressed when that is smaller.
				v := fmt.Appendf(nil, "%d.%d %s", i, j, strings.Repeat("compressible ", 20))
				cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: time.UnixMilli(stamp(i) + 10*j)},
					func(_ *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce to %s: %v", topic, err)
						}
					})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			cl.Close()
		}
	}
	// The tiered topic's records are in object storage only once local retention drops them.
	eventually(t, "local retention of ts-tiered", func() bool {
		off, _, err := n.b.ListOffset(ctx, topicPartition("ts-tiered", 0), broker.EarliestLocalTimestamp)
		return err == nil && off == 15
	})
	if off, _, err := n.b.ListOffset(ctx, topicPartition("ts-hot", 0), broker.EarliestLocalTimestamp); err != nil || off != 0 {
		t.Fatalf("ts-hot earliest local %d %v, want 0", off, err)
	}
	// Each codec's three records are one batch, stored compressed.
	for _, topic := range []string{"ts-hot", "ts-tiered"} {
		for i := range codecs {
			res, err := n.b.Fetch(ctx, topicPartition(topic, 0), int64(3*i), 1)
			if err != nil {
				t.Fatal(err)
			}
			info, err := segment.ParseBatch(res.Records)
			if err != nil || info.BaseOffset != int64(3*i) || info.NumRecords != 3 || info.Compression() != i {
				t.Fatalf("%s batch %d: %+v %v, want 3 records at %d with codec %d", topic, i, info, err, 3*i, i)
			}
			if res.Release != nil {
				res.Release()
			}
		}
	}

	adm := n.admin(t)
	for _, tc := range []struct {
		ts, off, at int64 // at -1: none
	}{
		{stamp(0) + 5, 1, stamp(0) + 10},
		{stamp(0) + 11, 2, stamp(0) + 20},
		{stamp(0) + 21, 3, stamp(1)},
		{stamp(3) + 15, 11, stamp(3) + 20},
		{stamp(4) + 10, 13, stamp(4) + 10},
	} {
		listed, err := adm.ListOffsetsAfterMilli(ctx, tc.ts, "ts-hot", "ts-tiered")
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{"ts-hot", "ts-tiered"} {
			o, ok := listed.Lookup(topic, 0)
			if !ok || o.Err != nil || o.Offset != tc.off || o.Timestamp != tc.at {
				t.Fatalf("%s after base%+d: offset %d timestamp base%+d err %v, want %d at base%+d",
					topic, tc.ts-base, o.Offset, o.Timestamp-base, o.Err, tc.off, tc.at-base)
			}
		}
	}

	// A consumer reset to a time inside the first batch starts at the record, not the batch.
	for _, topic := range []string{"ts-hot", "ts-tiered"} {
		cl := n.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(stamp(0)+5)))
		fs := cl.PollRecords(ctx, 1)
		if err := fs.Err0(); err != nil {
			t.Fatalf("%s: poll: %v", topic, err)
		}
		recs := fs.Records()
		if len(recs) == 0 || recs[0].Offset != 1 || !strings.HasPrefix(string(recs[0].Value), "0.1 ") || recs[0].Timestamp.UnixMilli() != stamp(0)+10 {
			t.Fatalf("%s: first record consumed after base+5: %+v", topic, recs)
		}
		cl.Close()
	}
}
