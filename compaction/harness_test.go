package compaction

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

const prefix = "cluster"

// env is one test's real world: MinIO and an embedded NATS metadata store.
type env struct {
	t      testing.TB
	minio  *objstoretest.MinIO
	bucket objstore.Bucket
	store  metadata.Store
	reg    *prometheus.Registry
}

func newEnv(t testing.TB) *env {
	t.Helper()
	m := objstoretest.StartMinIO(t)
	e := &env{t: t, minio: m, bucket: m.Open(t, m.S3URL("compaction")), store: natsmetatest.Store(t),
		reg: prometheus.NewRegistry()}
	registerNodes(t, e.store, 1, 2)
	return e
}

// registerNodes registers the nodes for an hour: a lease is live only while its holder is
// registered.
func registerNodes(t testing.TB, s metadata.Store, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := s.RegisterNode(context.Background(), metadata.Node{ID: id}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

// with returns e reporting to t (a subtest).
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// partition is a topic's first partition led by node 1, with segments registered in its catalog.
type partition struct {
	tp      metadata.TopicPartition
	id      metadata.TopicID
	lease   metadata.Lease
	batches [][]byte // every batch, in offset order
	end     int64
}

func (e *env) topic(name string) *partition {
	e.t.Helper()
	ctx := context.Background()
	top, err := e.store.CreateTopic(ctx, metadata.Topic{Name: name, Partitions: 1})
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

// addSegments writes n segments of batchesPer batches (recs records of size bytes each), PUTs them
// under uploader keys and registers them, as a leader's Uploader would.
func (e *env) addSegments(p *partition, n, batchesPer, recs, size int) {
	e.t.Helper()
	ctx := context.Background()
	ts := time.Now().UnixMilli()
	for range n {
		var buf bytes.Buffer
		base := p.end
		w := segment.NewWriter(&buf, base, 0)
		for range batchesPer {
			b := segmenttest.Records(p.end, ts+p.end, recs, size)
			info, err := w.Append(b)
			if err != nil {
				e.t.Fatal(err)
			}
			p.batches = append(p.batches, b)
			p.end = info.NextOffset()
		}
		if _, err := w.Seal(); err != nil {
			e.t.Fatal(err)
		}
		key := tier.ObjectKey(prefix, p.id, 0, base, p.lease.Epoch)
		objstoretest.Put(e.t, e.bucket, key, buf.Bytes())
		ref := metadata.SegmentRef{Key: key, BaseOffset: base, NextOffset: p.end, Size: int64(buf.Len()),
			MinTimestamp: ts + base, MaxTimestamp: ts + p.end, Epoch: p.lease.Epoch, Records: p.end - base,
			CreatedAt: time.Now()}
		if err := e.store.RegisterSegment(ctx, p.tp, p.lease.Epoch, ref); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) worker(mod func(*Config)) *Worker {
	e.t.Helper()
	cfg := Config{Bucket: e.bucket, Store: e.store, NodeID: 1, Prefix: prefix, Interval: time.Hour,
		DeleteGrace: time.Hour, Registerer: e.reg, Logger: objstoretest.QuietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	w, err := NewWorker(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { w.Close() })
	return w
}

func (e *env) catalog(tp metadata.TopicPartition) metadata.PartitionCatalog {
	e.t.Helper()
	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// keys lists the bucket's objects of a topic.
func (e *env) keys(id metadata.TopicID) []string {
	e.t.Helper()
	var out []string
	err := e.bucket.List(context.Background(), prefix+"/topics/"+id.String()+"/", func(a objstore.Attrs) error {
		out = append(out, a.Key)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) exists(key string) bool {
	e.t.Helper()
	_, err := e.bucket.Head(context.Background(), key)
	if errors.Is(err, objstore.ErrNotFound) {
		return false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return true
}

// checkCatalog asserts the catalog covers exactly [0, end) with consecutive segments whose objects
// exist with the registered sizes (but for the keys in damaged), and returns the segments.
func (e *env) checkCatalog(tp metadata.TopicPartition, end int64, damaged ...string) []metadata.SegmentRef {
	e.t.Helper()
	c := e.catalog(tp)
	next := int64(0)
	var records int64
	for _, s := range c.Segments {
		if s.BaseOffset != next || s.NextOffset <= s.BaseOffset {
			e.t.Fatalf("segment %s covers [%d, %d), want it to start at %d", s.Key, s.BaseOffset, s.NextOffset, next)
		}
		a, err := e.bucket.Head(context.Background(), s.Key)
		fits := a.Size == s.Size
		if tier.IsSharedKey(s.Key) { // a range of a shared object
			fits = a.Size >= s.Position+s.Size
		}
		if err != nil || (!fits && !slices.Contains(damaged, s.Key)) {
			e.t.Fatalf("object %s: %+v, %v; catalog size %d", s.Key, a, err, s.Size)
		}
		next = s.NextOffset
		records += s.Records
	}
	if next != end || records != end {
		e.t.Fatalf("catalog ends at %d with %d records, want %d", next, records, end)
	}
	return c.Segments
}

// readBack reads [from, end) through a fresh tier.Reader and asserts every batch is byte-identical.
func (e *env) readBack(p *partition, want [][]byte, from, end int64) {
	e.readBackBy(p, want, from, end, 64<<10)
}

// readBackBy is readBack with maxBytes per read (a read may go on into later objects).
func (e *env) readBackBy(p *partition, want [][]byte, from, end int64, maxBytes int) {
	e.t.Helper()
	r, err := tier.NewReader(tier.ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(),
		Registerer: prometheus.NewRegistry()})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	var got [][]byte
	for off := from; off < end; {
		b, err := r.Read(context.Background(), p.tp, p.id, off, maxBytes)
		if err != nil {
			e.t.Fatalf("read at %d: %v", off, err)
		}
		s := segment.NewSplitter(b)
		n := 0
		for s.Next() {
			got = append(got, bytes.Clone(s.Batch()))
			off = s.Info().NextOffset()
			n++
		}
		if s.Err() != nil || n == 0 {
			e.t.Fatalf("read at %d: %d batches, %v", off, n, s.Err())
		}
	}
	if len(got) != len(want) {
		e.t.Fatalf("read %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			e.t.Fatalf("batch %d differs", i)
		}
	}
}

func mergedKeys(segs []metadata.SegmentRef) []string {
	var out []string
	for _, s := range segs {
		if k, err := tier.ParseObjectKey(s.Key); err == nil && k.Merged() {
			out = append(out, s.Key)
		}
	}
	return out
}

func isMergedKey(key string) bool {
	return strings.Count(key[strings.LastIndex(key, "/")+1:], "-") == 2
}

// eventually polls cond (state no notification exposes, such as a bucket's contents) until it holds
// or the test's patience runs out. It asserts nothing about timing.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
