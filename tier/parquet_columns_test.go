package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
)

// ParquetColumns reads a Parquet object's projected columns with ranged GETs of those columns'
// chunks only (counted as the bytes read), from its cache when asked again, and reports an object
// gone as objstore.ErrNotFound.
func TestParquetColumns(t *testing.T) {
	ctx := context.Background()
	const n = 600
	rng := rand.New(rand.NewPCG(5, 6)) // values that do not compress away
	obj := parquetImage(t, 0, n, 8_000, func(o int64) segment.Record {
		return segment.Record{Timestamp: 1_000 + o, Key: fmt.Appendf(nil, "k%d", o%5),
			Value: fmt.Appendf(nil, "value %d %x%x%x%x", o, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())}
	})
	fb, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bucket := &countGets{Bucket: fb}
	store, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := ParquetObjectKey("", metadata.TopicID{1}, 0, 0, n)
	if err := fb.Put(ctx, key, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	ref := metadata.SegmentRef{Key: key, BaseOffset: 0, NextOffset: n, Size: int64(len(obj)), Format: metadata.FormatParquet}
	r, err := NewReader(ReaderConfig{Bucket: bucket, Store: store, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	groups, err := r.ParquetRowGroups(ctx, ref)
	if err != nil || len(groups) < 4 {
		t.Fatalf("%d row groups, %v", len(groups), err)
	}
	var reads []ParquetGroupRead
	for i, g := range groups {
		to := int64(n)
		if i+1 < len(groups) {
			to = groups[i+1].FirstBase
		}
		reads = append(reads, ParquetGroupRead{Group: i, From: g.FirstBase, To: to})
	}
	read := func(p columnar.Projection) (rows int, sum int64, fetched int64, gets int64) {
		t.Helper()
		before := bucket.n.Load()
		done, fetched, err := r.ParquetColumns(ctx, ref, reads, p, func(i int, rs *columnar.Rows) bool {
			for _, j := range rs.Sel {
				rows++
				if p.Timestamp {
					sum += int64(rs.Timestamp[j])
				}
			}
			return true
		})
		if err != nil || done != len(reads) {
			t.Fatalf("%+v: %d of %d reads, %v", p, done, len(reads), err)
		}
		return rows, sum, fetched, bucket.n.Load() - before
	}
	rows, sum, tsBytes, gets := read(columnar.Projection{Timestamp: true})
	if rows != n || sum != n*1_000+n*(n-1)/2 {
		t.Fatalf("%d rows, timestamps summing to %d", rows, sum)
	}
	if gets != int64(len(groups)) || tsBytes == 0 || tsBytes*20 > int64(len(obj)) {
		t.Fatalf("timestamps: %d GETs of %d groups, %d bytes of a %d-byte object", gets, len(groups), tsBytes, len(obj))
	}
	// Asked again: the same bytes, from the cache.
	if _, _, again, gets := read(columnar.Projection{Timestamp: true}); again != tsBytes || gets != 0 {
		t.Fatalf("again: %d bytes, %d GETs", again, gets)
	}
	_, _, valBytes, _ := read(columnar.Projection{Value: true})
	if valBytes < 10*tsBytes || valBytes > int64(len(obj)) {
		t.Fatalf("values: %d bytes of a %d-byte object (timestamps %d)", valBytes, len(obj), tsBytes)
	}
	// Stopping early: done counts the reads handed over whole.
	done, _, err := r.ParquetColumns(ctx, ref, reads, columnar.Projection{Offset: true}, func(i int, rs *columnar.Rows) bool { return i < 1 })
	if err != nil || done != 1 {
		t.Fatalf("stopped in the second group: done %d, %v", done, err)
	}
	// The object gone: its cached chunks are still served; others are not found.
	if err := fb.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.ParquetColumns(ctx, ref, reads, columnar.Projection{Key: true}, func(int, *columnar.Rows) bool { return true }); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("object gone: %v", err)
	}
}

// A sequential read that comes to a Parquet object's last row group opens the next object in the
// background (its footer is cached before any read asks for it), and reads on across both
// objects with every offset once, in order.
func TestParquetReadPrefetchesNextObject(t *testing.T) {
	ctx := context.Background()
	store, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	top, err := store.CreateTopic(ctx, metadata.Topic{Name: "pq", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "pq"}
	lease, err := store.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const per, objects = 300, 2
	var refs []metadata.SegmentRef
	for base := int64(0); base < per*objects; base += per {
		obj := parquetImage(t, base, per, 2_000, func(o int64) segment.Record {
			return segment.Record{Timestamp: 1_000 + o, Value: fmt.Appendf(nil, "value %d", o)}
		})
		ref := metadata.SegmentRef{Key: ParquetObjectKey("", top.ID, 0, base, base+per), BaseOffset: base, NextOffset: base + per,
			Size: int64(len(obj)), MinTimestamp: -1, MaxTimestamp: -1, Epoch: lease.Epoch, Format: metadata.FormatParquet}
		if err := fb.Put(ctx, ref.Key, bytes.NewReader(obj), ref.Size); err != nil {
			t.Fatal(err)
		}
		if err := store.RegisterSegment(ctx, tp, lease.Epoch, ref); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	r, err := NewReader(ReaderConfig{Bucket: fb, Store: store, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	first, err := r.ParquetRowGroups(ctx, refs[0])
	if err != nil || len(first) < 4 {
		t.Fatalf("%d row groups, %v", len(first), err)
	}
	lastGroup := first[len(first)-1].FirstBase
	next := int64(0)
	prefetched := false
	for next < per*objects {
		out, err := r.Read(ctx, tp, top.ID, next, 600)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		for s := segment.NewSplitter(out); s.Next(); {
			if s.Info().BaseOffset != next {
				t.Fatalf("read a batch at %d, want %d", s.Info().BaseOffset, next)
			}
			next = s.Info().NextOffset()
		}
		if next >= lastGroup && next < per && !prefetched {
			// In the first object's last group, before any read of the second.
			deadline := time.Now().Add(10 * time.Second)
			for r.parquet.get(rangeOf(refs[1])) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("at offset %d (last group from %d): the next object was not opened ahead", next, lastGroup)
				}
				time.Sleep(time.Millisecond)
			}
			prefetched = true
		}
	}
	if !prefetched {
		t.Fatal("no read ended in the first object's last row group")
	}
}

// parquetImage writes offsets [base, base+n) of partition 0, in batches of 10 records that rec
// makes, into a segment, and returns it converted to a Parquet object of row groups of about
// rowGroupBytes.
func parquetImage(t *testing.T, base, n int64, rowGroupBytes int, rec func(offset int64) segment.Record) []byte {
	t.Helper()
	var seg bytes.Buffer
	sw := segment.NewWriter(&seg, base, 0)
	for b := base; b < base+n; b += 10 {
		var recs []segment.Record
		for o := b; o < b+10; o++ {
			recs = append(recs, rec(o))
		}
		if _, err := sw.Append(segment.AppendBatch(nil, segment.NewBatch{BaseOffset: b, FirstTimestamp: recs[0].Timestamp,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sw.Seal(); err != nil {
		t.Fatal(err)
	}
	cw := columnar.NewWriter(0, columnar.Options{RowGroupBytes: rowGroupBytes})
	if _, _, err := cw.AddSegment(seg.Bytes()); err != nil {
		t.Fatal(err)
	}
	var obj bytes.Buffer
	if _, err := cw.WriteTo(&obj, base, base+n); err != nil {
		t.Fatal(err)
	}
	return obj.Bytes()
}
