package tier

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

const (
	benchSegBytes = 8 << 20
	benchSegs     = 6
	benchBatch    = 16 << 10 // bytes of record values per batch
	benchRange    = 1 << 20  // fetch size and block size
	benchParallel = 8
	// benchWholeParallel is the bench harness's MinIO baseline: whole objects, 4 GETs at a time.
	benchWholeParallel = 4
)

// benchObjects puts benchSegs sealed segments of about benchSegBytes each into b and registers
// them; it returns the partition, its topic ID, the catalog and the total data bytes.
func benchObjects(b *testing.B, bucket objstore.Bucket, st metadata.Store) (metadata.TopicPartition, metadata.TopicID, []metadata.SegmentRef, int64) {
	ctx := context.Background()
	top, err := st.CreateTopic(ctx, metadata.Topic{Name: "bench", Partitions: 1})
	if err != nil {
		b.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "bench"}
	l, err := st.AcquireLease(ctx, tp, 1)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	off := int64(0)
	for range benchSegs {
		var buf bytes.Buffer
		w := segment.NewWriter(&buf, off, 0)
		base := off
		for w.Size() < benchSegBytes {
			batch := segmenttest.Records(off, time.Now().UnixMilli(), 16, benchBatch/16)
			if _, err := w.Append(batch); err != nil {
				b.Fatal(err)
			}
			off += 16
		}
		ix, err := w.Seal()
		if err != nil {
			b.Fatal(err)
		}
		total += ix.DataSize
		key := ObjectKey("", top.ID, 0, base, l.Epoch)
		if err := bucket.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
			b.Fatal(err)
		}
		ref := metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: off, Size: int64(buf.Len()), MinTimestamp: -1, MaxTimestamp: ix.MaxTimestamp, Epoch: l.Epoch}
		if err := st.RegisterSegment(ctx, tp, l.Epoch, ref); err != nil {
			b.Fatal(err)
		}
	}
	c, err := st.GetCatalog(ctx, tp)
	if err != nil {
		b.Fatal(err)
	}
	return tp, top.ID, c.Segments, total
}

// BenchmarkColdSequentialRead reads a partition's tiered data from offset 0 to the end, cold,
// through the Reader (1 MiB fetches as a consumer makes them, the Reader's default block size and
// read-ahead), through a plain reader that GETs the same objects in 1 MiB ranges, benchParallel at
// a time, and through whole-object GETs, benchWholeParallel at a time (the bench harness's raw
// MinIO baseline). Each iteration times all three back to back, so that load from other processes
// hits them alike; the metrics are each one's MB/s and the Reader's ratio to both.
func BenchmarkColdSequentialRead(b *testing.B) {
	m := objstoretest.StartMinIO(b)
	raw := m.Open(b, m.S3URL("bench"))
	st := natsmetatest.Store(b)
	tp, id, segs, total := benchObjects(b, raw, st)
	end := segs[len(segs)-1].NextOffset
	ctx := context.Background()
	readerGets := objstoretest.NewFaultBucket(raw)
	plainGets := objstoretest.NewFaultBucket(raw)
	var readerTime, plainTime, wholeTime time.Duration

	b.SetBytes(total)
	for b.Loop() {
		began := time.Now()
		r, err := NewReader(ReaderConfig{Bucket: readerGets, Store: st, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		for off := int64(0); off < end; {
			out, err := r.Read(ctx, tp, id, off, benchRange)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(out))
			var info segment.BatchInfo
			for p := 0; p < len(out); p += info.Size() {
				if info, err = segment.ParseBatch(out[p:]); err != nil {
					b.Fatal(err)
				}
			}
			off = info.NextOffset()
		}
		r.Close()
		readerTime += time.Since(began)
		if n != total {
			b.Fatalf("reader read %d bytes, want %d", n, total)
		}

		began = time.Now()
		n = 0
		for _, s := range segs {
			got, err := parallelGet(ctx, plainGets, s.Key, s.Size)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(got))
		}
		plainTime += time.Since(began)
		if n != sumSizes(segs) {
			b.Fatalf("plain read %d bytes", n)
		}

		began = time.Now()
		if n, err = wholeGets(ctx, raw, segs); err != nil || n != sumSizes(segs) {
			b.Fatalf("whole-object read %d bytes: %v", n, err)
		}
		wholeTime += time.Since(began)
	}
	mbs := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() / 1e6 }
	gib := float64(total) * float64(b.N) / (1 << 30)
	b.ReportMetric(mbs(readerTime), "reader-MB/s")
	b.ReportMetric(mbs(plainTime), "plain-MB/s")
	b.ReportMetric(mbs(wholeTime), "whole-MB/s")
	b.ReportMetric(mbs(readerTime)/mbs(plainTime), "reader/plain")
	b.ReportMetric(mbs(readerTime)/mbs(wholeTime), "reader/whole")
	b.ReportMetric(float64(readerGets.Calls(objstoretest.OpGetRange))/gib, "reader-GETs/GiB")
	b.ReportMetric(float64(plainGets.Calls(objstoretest.OpGetRange))/gib, "plain-GETs/GiB")
}

func sumSizes(segs []metadata.SegmentRef) int64 {
	var n int64
	for _, s := range segs {
		n += s.Size
	}
	return n
}

// wholeGets reads every object with one GET each, benchWholeParallel at a time.
func wholeGets(ctx context.Context, bucket objstore.Bucket, segs []metadata.SegmentRef) (int64, error) {
	var total atomic.Int64
	var firstErr error
	var mu sync.Mutex
	sem := make(chan struct{}, benchWholeParallel)
	var wg sync.WaitGroup
	for _, s := range segs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rc, err := bucket.Get(ctx, s.Key)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, rc)
				rc.Close()
				total.Add(n)
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total.Load(), firstErr
}

// parallelGet fetches a whole object in benchRange pieces, benchParallel GETs at a time.
func parallelGet(ctx context.Context, bucket objstore.Bucket, key string, size int64) ([]byte, error) {
	out := make([]byte, size)
	sem := make(chan struct{}, benchParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for off := int64(0); off < size; off += benchRange {
		n := min(benchRange, size-off)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rc, err := bucket.GetRange(ctx, key, off, n)
			if err == nil {
				_, err = io.ReadFull(rc, out[off:off+n])
				rc.Close()
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// BenchmarkUpload tiers sealed 8 MiB segments through the Uploader (put + register) and reports
// MB/s and PUTs per GiB.
func BenchmarkUpload(b *testing.B) {
	m := objstoretest.StartMinIO(b)
	raw := m.Open(b, m.S3URL("upload"))
	fb := objstoretest.NewFaultBucket(raw)
	st := natsmetatest.Store(b)
	u, err := NewUploader(Config{Bucket: fb, Store: st, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry(),
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	dir := newBenchDir(b)
	var bytesUp int64
	i := 0
	for b.Loop() {
		i++
		ctx := context.Background()
		name := fmt.Sprintf("up-%d", i)
		top, err := st.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1})
		if err != nil {
			b.Fatal(err)
		}
		tp := metadata.TopicPartition{Topic: name}
		lease, err := st.AcquireLease(ctx, tp, 1)
		if err != nil {
			b.Fatal(err)
		}
		l, err := dir.Log(name)
		if err != nil {
			b.Fatal(err)
		}
		for w := int64(0); w < 2*benchSegBytes; w += benchBatch {
			if _, err := l.Append(segmenttest.Records(0, time.Now().UnixMilli(), 16, benchBatch/16)); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
		pol := DefaultPolicy()
		pol.LocalRetentionMs = -1
		if err := u.Track(plogOf(b, st, tp, top.ID, l), lease.Epoch, pol); err != nil {
			b.Fatal(err)
		}
		if err := u.WaitTiered(ctx, tp, l.EndOffset()); err != nil {
			b.Fatal(err)
		}
		for _, s := range l.Segments() {
			if s.Sealed {
				bytesUp += s.Size
			}
		}
		u.Untrack(tp)
	}
	b.SetBytes(bytesUp / int64(b.N))
	b.ReportMetric(float64(fb.Calls(objstoretest.OpPut))/(float64(bytesUp)/(1<<30)), "PUTs/GiB")
}

func newBenchDir(b *testing.B) *hotlog.Dir {
	d, err := hotlog.OpenDir(b.TempDir(), hotlog.Config{SegmentBytes: benchSegBytes, Logger: objstoretest.QuietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}
