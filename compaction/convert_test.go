package compaction

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
)

// parquetTopic is e.topic with topic configs.
func (e *env) topicWith(name string, configs map[string]string) *partition {
	e.t.Helper()
	ctx := context.Background()
	top, err := e.store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1, Configs: configs})
	if err != nil {
		e.t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: name}
	l, err := e.store.AcquireLease(ctx, tp, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return &partition{tp: tp, id: top.ID, lease: l}
}

func parquetKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, ".parquet") {
			out = append(out, k)
		}
	}
	return out
}

func TestPlanConversions(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	old, fresh := now.Add(-time.Hour), now
	segs := []metadata.SegmentRef{
		{Key: "big", BaseOffset: 0, NextOffset: 10, Size: 9 << 20, CreatedAt: fresh},
		{Key: "small-old", BaseOffset: 10, NextOffset: 20, Size: 100, CreatedAt: old},
		{Key: "small-fresh", BaseOffset: 20, NextOffset: 30, Size: 100, CreatedAt: fresh},
		{Key: "merging", BaseOffset: 30, NextOffset: 40, Size: 100, CreatedAt: old},
		{Key: "done.parquet", BaseOffset: 40, NextOffset: 50, Size: 100, CreatedAt: old, Format: metadata.FormatParquet},
	}
	got := PlanConversions(segs, []Merge{{Inputs: segs[3:4]}}, Policy{}, now.UnixMilli(), time.Minute.Milliseconds())
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	if strings.Join(keys, ",") != "big,small-old" {
		t.Fatalf("planned %v", keys)
	}
	if m := PlanMerges([]metadata.SegmentRef{segs[1], segs[2], segs[3], segs[4]}, Policy{MinInputs: 2}); len(m) != 1 || len(m[0].Inputs) != 3 {
		t.Fatalf("merges %+v: a Parquet entry must end a run and never be an input", m)
	}
}

// A parquet topic's segments, once merged, become one Parquet object per range: the catalog names
// it in the segments' place, reads through tier.Reader return every batch byte for byte, the
// segment objects go after the grace, and a topic of the segment format is left alone.
func TestConvertParquet(t *testing.T) {
	e := newEnv(t)
	p := e.topicWith("pq", map[string]string{ColdFormatConfig: "parquet", ValueFormatConfig: "json"})
	plain := e.topicWith("plain", nil)
	e.addSegments(p, 6, 4, 5, 200)
	e.addSegments(plain, 6, 4, 5, 200)
	w := e.worker(func(c *Config) { c.ConvertAfter = time.Millisecond; c.DeleteGrace = 50 * time.Millisecond })
	ctx := context.Background()
	res, err := w.RunOnce(ctx) // merges first
	if err != nil || res.Merges != 2 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	time.Sleep(5 * time.Millisecond)
	res, err = w.RunOnce(ctx) // then converts the merged range
	if err != nil || res.Converted != 1 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
	segs := e.checkCatalog(p.tp, p.end)
	if len(segs) != 1 || segs[0].Format != metadata.FormatParquet || segs[0].Key != tier.ParquetObjectKey(prefix, p.id, 0, 0, p.end) {
		t.Fatalf("catalog %+v, want one Parquet entry", segs)
	}
	if s := e.checkCatalog(plain.tp, plain.end); s[0].Format != metadata.FormatSegment {
		t.Fatal("a segment-format topic was converted")
	}
	e.readBack(p, p.batches, 0, p.end)
	e.readBackBy(p, p.batches, 0, p.end, 1)
	e.readBack(p, p.batches[7:], p.batches7Base(), p.end)
	eventually(t, "segment objects deleted after the grace", func() bool { return len(e.keys(p.id)) == 1 })
	if pk := parquetKeys(e.keys(p.id)); len(pk) != 1 {
		t.Fatalf("Parquet objects %v", pk)
	}
	// A further pass changes nothing.
	if res, err := w.RunOnce(ctx); err != nil || res.Converted != 0 || res.Merges != 0 {
		t.Fatalf("third pass: %+v, %v", res, err)
	}
	// ListOffsets by timestamp over the Parquet entry.
	r, err := tier.NewReader(tier.ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ts := segs[0].MinTimestamp + 30
	off, at, found, err := r.OffsetForTimestamp(ctx, p.tp, p.id, ts, 0, p.end)
	if err != nil || !found || at < ts {
		t.Fatalf("OffsetForTimestamp(%d) = %d@%d %v %v", ts, off, at, found, err)
	}
	if prev, _, found, _ := r.OffsetForTimestamp(ctx, p.tp, p.id, ts, 0, off); found {
		t.Fatalf("a record before %d (%d) has a timestamp ≥ %d", off, prev, ts)
	}
}

// batches7Base is the base offset of the eighth batch.
func (p *partition) batches7Base() int64 { return int64(7 * 5) }

// A conversion killed between its PUT and its swap (the object left behind, as after kill -9 or
// with the bucket failing) leaves the catalog naming the segment only; the next pass converts the
// same range under the same key, and the bucket then holds one Parquet object, named by the catalog.
func TestConvertInterrupted(t *testing.T) {
	e := newEnv(t)
	fb := objstoretest.NewFaultBucket(e.bucket)
	p := e.topicWith("pq", map[string]string{ColdFormatConfig: "parquet"})
	e.addSegments(p, 1, 4, 5, 200)
	w := e.worker(func(c *Config) { c.Bucket = fb; c.ConvertAfter = time.Millisecond })
	time.Sleep(5 * time.Millisecond)

	// The bucket is down: nothing is converted, nothing changes.
	fb.FailNext(1, errors.New("minio down"), objstoretest.OpPut)
	if res, _ := w.RunOnce(context.Background()); res.Converted != 0 {
		t.Fatalf("converted with the bucket down: %+v", res)
	}
	if s := e.checkCatalog(p.tp, p.end); s[0].Format != metadata.FormatSegment || len(parquetKeys(e.keys(p.id))) != 0 {
		t.Fatalf("after a failed PUT: catalog %+v, keys %v", s, e.keys(p.id))
	}

	// The converter dies right after its PUT: the pass ends, its cleanup cannot delete.
	ctx, cancel := context.WithCancel(context.Background())
	fb.AfterCall(func(op string, err error) {
		if op == objstoretest.OpPut && err == nil {
			fb.FailNext(1, errors.New("killed"), objstoretest.OpDelete, objstoretest.OpHead)
			cancel()
		}
	})
	w.RunOnce(ctx)
	fb.AfterCall(nil)
	if s := e.checkCatalog(p.tp, p.end); s[0].Format != metadata.FormatSegment {
		t.Fatalf("catalog names an object whose swap never happened: %+v", s)
	}
	left := parquetKeys(e.keys(p.id))
	if len(left) != 1 {
		t.Fatalf("keys after the kill: %v", e.keys(p.id))
	}

	res, err := w.RunOnce(context.Background())
	if err != nil || res.Converted != 1 {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	segs := e.checkCatalog(p.tp, p.end)
	if segs[0].Format != metadata.FormatParquet || segs[0].Key != left[0] {
		t.Fatalf("catalog %+v, want the Parquet object %s", segs, left[0])
	}
	if pk := parquetKeys(e.keys(p.id)); len(pk) != 1 {
		t.Fatalf("Parquet objects %v after the retry", pk)
	}
	e.readBack(p, p.batches, 0, p.end)
}

// A corrupt Parquet object gives reads of its range an error wrapping segment.ErrCorrupt that
// names its key (KAFKA_STORAGE_ERROR for a Fetch), never a panic.
func TestConvertedObjectCorrupt(t *testing.T) {
	e := newEnv(t)
	p := e.topicWith("pq", map[string]string{ColdFormatConfig: "parquet"})
	e.addSegments(p, 1, 4, 5, 200)
	w := e.worker(func(c *Config) { c.ConvertAfter = time.Millisecond })
	time.Sleep(5 * time.Millisecond)
	if res, err := w.RunOnce(context.Background()); err != nil || res.Converted != 1 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	seg := e.checkCatalog(p.tp, p.end)[0]
	ctx := context.Background()
	rc, err := e.bucket.Get(ctx, seg.Key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	body[100] ^= 0xff // inside the first row group
	objstoretest.Put(t, e.bucket, seg.Key, body)
	r, err := tier.NewReader(tier.ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.Read(ctx, p.tp, p.id, 0, 1<<20)
	if !errors.Is(err, segment.ErrCorrupt) || !strings.Contains(err.Error(), seg.Key) {
		t.Fatalf("read of a corrupt Parquet object: %v", err)
	}
}
