package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// With the tiering engine attached (file bucket, in-memory catalog): acks=all on an object-durability
// topic returns only once the data is registered in the catalog, local retention then drops the
// hot copies, and fetches and timestamp lookups below the hot log are served from object storage;
// a corrupt object fails its own reads with KAFKA_STORAGE_ERROR.
func TestTieredDurabilityAndReads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bucketDir := t.TempDir()
	b, up, bucket := newTieredBrokerIn(t, bucketDir)

	tp := metadata.TopicPartition{Topic: "obj"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "obj", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "10", "local.retention.bytes": "0",
	}}); err != nil {
		t.Fatal(err)
	}
	var batches [][]byte
	base := time.Now().UnixMilli() - 100_000 // batch i's records are stamped base+1000i, +1, +2
	for i := 0; i < 5; i++ {
		bt := segmenttest.Batch{FirstTimestamp: base + int64(i)*1000, Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}.Encode()
		batches = append(batches, append([]byte(nil), bt...))
		r, err := b.Append(ctx, tp, bt)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
		if end := up.TieredEnd(tp); end < r.LastOffset+1 {
			t.Fatalf("acks=all returned with the tiered end at %d, before %d", end, r.LastOffset+1)
		}
	}
	// Local retention (0 bytes kept once tiered) empties the hot log below the tiered end.
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	for p.log.StartOffset() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("local retention never dropped the tiered hot segments")
		case <-time.After(10 * time.Millisecond):
		}
	}
	res, err := b.Fetch(ctx, tp, 4, 1<<20) // inside the second batch
	if err != nil {
		t.Fatal(err)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(res.Records); err != nil || rb.FirstOffset != 3 || rb.NumRecords != 3 {
		t.Fatalf("tiered fetch: first batch at %d with %d records, err %v", rb.FirstOffset, rb.NumRecords, err)
	}
	if res.LogStartOffset != 0 || res.HighWatermark != 15 {
		t.Fatalf("log start %d hw %d, want 0 and 15", res.LogStartOffset, res.HighWatermark)
	}
	// The payload is what was produced (offsets and leader epoch aside, which the broker sets).
	if got, want := res.Records[21:len(batches[1])], batches[1][21:]; string(got) != string(want) {
		t.Fatal("tiered batch differs from the produced one")
	}
	cases := []struct {
		name string
		ts   int64
		want int64
	}{
		{"earliest is the tiered start", EarliestTimestamp, 0},
		{"latest tiered", LatestTieredTimestamp, 14},
		{"earliest pending upload: the tiered end", EarliestPendingUploadTimestamp, 15},
		{"latest", LatestTimestamp, 15},
	}
	for _, tc := range cases {
		off, _, err := b.ListOffset(ctx, tp, tc.ts)
		if err != nil || off != tc.want {
			t.Fatalf("%s: %d %v, want %d", tc.name, off, err, tc.want)
		}
	}
	if off, _, _ := b.ListOffset(ctx, tp, EarliestLocalTimestamp); off <= 0 {
		t.Fatalf("earliest local %d, want above 0 after local retention", off)
	}
	// A flipped byte in an object nobody has read yet (the first: the fetch above started at the
	// second) is a storage error for that read, not a crash or an unknown error.
	// (Object durability flushes into shared objects: the catalog says which object, and where in
	// it, holds offset 0.)
	c, err := b.cfg.Store.GetCatalog(ctx, tp)
	if err != nil || len(c.Segments) == 0 || c.Segments[0].BaseOffset != 0 {
		t.Fatalf("segment of offset 0 not in the catalog %+v (%v)", c.Segments, err)
	}
	first := c.Segments[0]
	if _, err := bucket.Head(ctx, first.Key); err != nil {
		t.Fatalf("object of offset 0: %v", err)
	}
	flipByte(t, filepath.Join(bucketDir, filepath.FromSlash(first.Key)), first.Position+64) // inside the first record
	_, err = b.Fetch(ctx, tp, 0, 1<<20)
	mustCode(t, err, kerr.KafkaStorageError)
	if _, err := b.Fetch(ctx, tp, 4, 1<<20); err != nil {
		t.Fatalf("a read of intact objects after the corrupt one: %v", err)
	}
	// Timestamp lookups find records that are only in object storage; one whose answer lies in the
	// corrupt object cannot be answered.
	for _, tc := range []struct{ ts, want int64 }{{base + 1002, 5}, {base + 1500, 6}, {base + 2002, 8}, {base + 4002, 14}} {
		if off, at, err := b.ListOffset(ctx, tp, tc.ts); err != nil || off != tc.want || at != base+(tc.want/3)*1000+tc.want%3 {
			t.Fatalf("offset for timestamp base%+d: %d@base%+d %v, want %d", tc.ts-base, off, at-base, err, tc.want)
		}
	}
	_, _, err = b.ListOffset(ctx, tp, base-5)
	mustCode(t, err, kerr.KafkaStorageError)
	if off, _, err := b.ListOffset(ctx, tp, base+4003); err != nil || off != -1 {
		t.Fatalf("offset for a timestamp after every record: %d %v, want -1", off, err)
	}

	low, err := b.DeleteRecords(ctx, tp, 6)
	if err != nil || low != 6 {
		t.Fatalf("delete records in the tiered range: %d %v", low, err)
	}
	_, err = b.Fetch(ctx, tp, 2, 1<<20)
	mustCode(t, err, kerr.OffsetOutOfRange)
}

// flipByte inverts the byte at off in the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}
