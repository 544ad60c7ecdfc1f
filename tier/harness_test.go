package tier

import (
	"bytes"
	"context"
	"fmt"
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

// env is one test's real world: MinIO, an embedded NATS metadata store, a hot-log dir.
type env struct {
	t       *testing.T
	minio   *objstoretest.MinIO
	bucket  objstore.Bucket // the raw MinIO bucket (one attempt per call)
	store   metadata.Store
	dir     *hotlog.Dir
	dirPath string // dir's root
	reg     *prometheus.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := objstoretest.StartMinIO(t)
	e := &env{t: t, minio: m, store: natsmetatest.Store(t), reg: prometheus.NewRegistry()}
	for id := int32(1); id <= 3; id++ { // a lease is live only while its holder is registered
		if err := e.store.RegisterNode(context.Background(), metadata.Node{ID: id}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	e.bucket = m.Open(t, m.S3URL("tier"))
	e.dirPath = t.TempDir()
	d, err := hotlog.OpenDir(e.dirPath, hotlog.Config{SegmentBytes: 8 << 10, Logger: objstoretest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e.dir = d
	return e
}

// topic creates a topic and returns its first partition, its ID and a hot log for it.
func (e *env) topic(name string) (metadata.TopicPartition, metadata.TopicID, *hotlog.Log) {
	e.t.Helper()
	top, err := e.store.CreateTopic(context.Background(), metadata.Topic{Name: name, Partitions: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := e.dir.Log(fmt.Sprintf("%s-0", top.ID))
	if err != nil {
		e.t.Fatal(err)
	}
	return metadata.TopicPartition{Topic: name}, top.ID, l
}

// lead takes the partition's lease and returns its epoch.
func (e *env) lead(tp metadata.TopicPartition, node int32) int32 {
	e.t.Helper()
	l, err := e.store.AcquireLease(context.Background(), tp, node)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Epoch
}

func (e *env) uploader(mod func(*Config)) *Uploader {
	e.t.Helper()
	cfg := Config{
		Bucket: objstore.WithRetry(e.bucket, objstore.RetryConfig{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond}),
		Store:  e.store, Prefix: "cluster", RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 200 * time.Millisecond,
		CheckInterval: time.Hour, PollInterval: 50 * time.Millisecond, Logger: objstoretest.QuietLogger(), Registerer: e.reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	u, err := NewUploader(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { u.Close() })
	return u
}

func (e *env) reader(mod func(*ReaderConfig)) *Reader {
	e.t.Helper()
	cfg := ReaderConfig{Bucket: e.bucket, Store: e.store, Logger: objstoretest.QuietLogger(), Registerer: e.reg}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewReader(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

// produce appends n batches of recs records with values of size bytes, timestamps from now+ts ms,
// and returns each batch's bytes as stored (base offset assigned).
func produce(t *testing.T, l *hotlog.Log, n, recs, size int, ts int64) [][]byte {
	t.Helper()
	ts += time.Now().UnixMilli()
	var out [][]byte
	for i := range n {
		// Timestamps differ per batch, so no two batches have the same bytes.
		b := segmenttest.Records(0, ts+int64(i), recs, size)
		if _, err := l.Append(b); err != nil { // rewrites b's base offset in place
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := l.WaitDurable(context.Background(), l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	return out
}

// splitBatches validates and splits a Read result.
func splitBatches(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	s := segment.NewSplitter(b)
	for s.Next() {
		out = append(out, s.Batch())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("read result: %v", err)
	}
	return out
}

// readAll reads tp from offset from up to end through r, returning the batches.
func readAll(t *testing.T, r *Reader, tp metadata.TopicPartition, id metadata.TopicID, from, end int64, maxBytes int) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < end; {
		b, err := r.Read(context.Background(), tp, id, off, maxBytes)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		bs := splitBatches(t, b)
		if len(bs) == 0 {
			t.Fatalf("read at %d returned nothing", off)
		}
		for _, x := range bs {
			info, _ := segment.ParseBatch(x)
			off = info.NextOffset()
		}
		out = append(out, bs...)
	}
	return out
}

func sameBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func waitTiered(t *testing.T, u *Uploader, tp metadata.TopicPartition, upTo int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := u.WaitTiered(ctx, tp, upTo); err != nil {
		t.Fatal(err)
	}
}

// sealedEnd is the end of the last sealed segment of l.
func sealedEnd(l *hotlog.Log) int64 {
	end := int64(-1)
	for _, s := range l.Segments() {
		if s.Sealed {
			end = s.NextOffset
		}
	}
	return end
}

// eventually polls cond (state that no notification exposes, e.g. a bucket's contents) until it
// holds or the test's patience runs out. It asserts nothing about timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
