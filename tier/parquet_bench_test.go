package tier

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// BenchmarkColdReplayParquet replays the same records (1 KiB values, 64 per uncompressed batch,
// four 8 MiB segments) cold from MinIO through the Reader, once from segment objects and once from
// the Parquet objects converted from them, 1 MiB reads as a consumer's fetches; each iteration
// times both back to back. Metrics: each one's MB/s of batch bytes returned and their ratio.
func BenchmarkColdReplayParquet(b *testing.B) {
	m := objstoretest.StartMinIO(b)
	bucket := m.Open(b, m.S3URL("bench"))
	st := natsmetatest.Store(b)
	ctx := context.Background()
	topic := func(name string) (metadata.TopicPartition, metadata.TopicID, int32) {
		top, err := st.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1})
		if err != nil {
			b.Fatal(err)
		}
		tp := metadata.TopicPartition{Topic: name}
		l, err := st.AcquireLease(ctx, tp, 1)
		if err != nil {
			b.Fatal(err)
		}
		return tp, top.ID, l.Epoch
	}
	segTP, segID, segEpoch := topic("seg")
	pqTP, pqID, pqEpoch := topic("pq")
	put := func(tp metadata.TopicPartition, epoch int32, ref metadata.SegmentRef, body []byte) {
		ref.Size = int64(len(body))
		if err := bucket.Put(ctx, ref.Key, bytes.NewReader(body), ref.Size); err != nil {
			b.Fatal(err)
		}
		if err := st.RegisterSegment(ctx, tp, epoch, ref); err != nil {
			b.Fatal(err)
		}
	}
	var total int64
	off := int64(0)
	for range 4 {
		var buf bytes.Buffer
		w := segment.NewWriter(&buf, off, 0)
		base := off
		for w.Size() < 8<<20 {
			if _, err := w.Append(segmenttest.Records(off, time.Now().UnixMilli(), 64, 1024)); err != nil {
				b.Fatal(err)
			}
			off += 64
		}
		ix, err := w.Seal()
		if err != nil {
			b.Fatal(err)
		}
		total += ix.DataSize
		put(segTP, segEpoch, metadata.SegmentRef{Key: ObjectKey("", segID, 0, base, segEpoch), BaseOffset: base, NextOffset: off,
			MinTimestamp: -1, MaxTimestamp: -1, Epoch: segEpoch}, buf.Bytes())
		cw := columnar.NewWriter(0, columnar.Options{})
		if _, _, err := cw.AddSegment(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
		var pq bytes.Buffer
		if _, err := cw.WriteTo(&pq, base, off); err != nil {
			b.Fatal(err)
		}
		put(pqTP, pqEpoch, metadata.SegmentRef{Key: ParquetObjectKey("", pqID, 0, base, off), BaseOffset: base, NextOffset: off,
			MinTimestamp: -1, MaxTimestamp: -1, Epoch: pqEpoch, Format: metadata.FormatParquet}, pq.Bytes())
	}
	replay := func(tp metadata.TopicPartition, id metadata.TopicID) time.Duration {
		began := time.Now()
		r, err := NewReader(ReaderConfig{Bucket: objstore.Bucket(bucket), Store: st, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		var n int64
		for o := int64(0); o < off; {
			out, err := r.Read(ctx, tp, id, o, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			n += int64(len(out))
			s := segment.NewSplitter(out)
			for s.Next() {
				o = s.Info().NextOffset()
			}
		}
		if n != total {
			b.Fatalf("%s: read %d bytes, want %d", tp, n, total)
		}
		return time.Since(began)
	}
	var segTime, pqTime time.Duration
	b.SetBytes(total)
	for b.Loop() {
		segTime += replay(segTP, segID)
		pqTime += replay(pqTP, pqID)
	}
	mbs := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(segTime), "segment-MB/s")
	b.ReportMetric(mbs(pqTime), "parquet-MB/s")
	b.ReportMetric(mbs(pqTime)/mbs(segTime), "parquet/segment")
}
