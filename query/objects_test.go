package query

import (
	"bytes"
	"context"
	"testing"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
)

// newStoreAndBucket is an in-memory metadata store and a bucket in a temporary directory, both
// closed with tb.
func newStoreAndBucket(tb testing.TB) (*memmeta.Store, objstore.Bucket) {
	tb.Helper()
	store, err := memmeta.New(memmeta.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	bucket, err := objstore.NewFile(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return store, bucket
}

// toParquet converts a sealed segment holding offsets [0, next) into a Parquet object.
func toParquet(tb testing.TB, seg []byte, next int64, opts columnar.Options) ([]byte, columnar.Stats) {
	tb.Helper()
	cw := columnar.NewWriter(0, opts)
	if _, _, err := cw.AddSegment(seg); err != nil {
		tb.Fatal(err)
	}
	var obj bytes.Buffer
	st, err := cw.WriteTo(&obj, 0, next)
	if err != nil {
		tb.Fatal(err)
	}
	return obj.Bytes(), st
}

// putObject creates the one-partition topic name, puts data (an object of the given format
// holding offsets [0, next), with st's timestamps) into bucket under the key tier would give it,
// and registers it in the partition's catalog under a lease of node 1, whose epoch it returns.
func putObject(tb testing.TB, store *memmeta.Store, bucket objstore.Bucket, name string, format metadata.SegmentFormat,
	data []byte, next int64, st columnar.Stats) (metadata.SegmentRef, int32) {
	tb.Helper()
	ctx := context.Background()
	topic, err := store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: name}
	lease, err := store.AcquireLease(ctx, tp, 1)
	if err != nil {
		tb.Fatal(err)
	}
	key := tier.ObjectKey("", topic.ID, 0, 0, lease.Epoch)
	if format == metadata.FormatParquet {
		key = tier.ParquetObjectKey("", topic.ID, 0, 0, next)
	}
	if err := bucket.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		tb.Fatal(err)
	}
	ref := metadata.SegmentRef{Key: key, BaseOffset: 0, NextOffset: next, Size: int64(len(data)), MinTimestamp: st.MinTimestamp,
		MaxTimestamp: st.MaxTimestamp, Epoch: lease.Epoch, Records: next, Format: format}
	if err := store.RegisterSegment(ctx, tp, lease.Epoch, ref); err != nil {
		tb.Fatal(err)
	}
	return ref, lease.Epoch
}
