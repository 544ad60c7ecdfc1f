package broker

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// TestObjectDurabilityLogPastTieredEndResets: an object-durability partition seals its segments
// without fsync, so a power cut can tear one; recovery then sets it aside with the older ones and
// the local log starts past the tiered end. On takeover the log starts again at the tiered end: it
// must not serve a hole, and what lay past the tiered end was never acknowledged.
func TestObjectDurabilityLogPastTieredEndResets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, _ := newMemStore(t)
	files, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bucket := refusingPuts{files} // nothing reaches object storage: the tiered end stays 0
	hotDir := t.TempDir()
	start := func() (*Broker, func()) {
		up, err := tier.NewUploader(tier.Config{Bucket: bucket, Store: st, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rd, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		d, err := hotlog.OpenDir(hotDir, hotlog.Config{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := New(Config{NodeID: 1, HotLog: d, Store: st, Tiering: up, TieredReader: rd})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return b, func() { b.Close(); up.Close(); rd.Close(); d.Close() }
	}
	b, stop := start()
	tp := metadata.TopicPartition{Topic: "torn"}
	// Small segments roll as data arrives; none can be uploaded.
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "torn", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"strata.durability": "object", "strata.flush.ms": "3600000", "segment.bytes": "1024",
	}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		bt := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Values: [][]byte{make([]byte, 200)}}.Encode()
		if _, err := b.Append(ctx, tp, bt); err != nil {
			t.Fatal(err)
		}
	}
	name := b.partitionForTest(t, tp).name
	stop()
	// The oldest sealed segment is lost, as a power cut may tear a segment sealed without fsync.
	sealed, err := filepath.Glob(filepath.Join(hotDir, name, "*.seg"))
	if err != nil || len(sealed) < 2 {
		t.Fatalf("sealed segments %v (%v): want at least 2", sealed, err)
	}
	sort.Strings(sealed)
	if err := os.Remove(sealed[0]); err != nil {
		t.Fatal(err)
	}

	b, stop = start()
	defer stop()
	for {
		if b.Leads(tp) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("partition not led after restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, hw, err := b.Offsets(ctx, tp); err != nil || s != 0 || hw != 0 {
		t.Fatalf("after restart: log start %d, high watermark %d (%v); want 0 and 0 (nothing was tiered)", s, hw, err)
	}
	bt := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Values: [][]byte{[]byte("x")}}.Encode()
	r, err := b.Append(ctx, tp, bt)
	if err != nil || r.BaseOffset != 0 {
		t.Fatalf("append after restart: base offset %d (%v), want 0", r.BaseOffset, err)
	}
}

// refusingPuts is a bucket whose every PUT fails.
type refusingPuts struct{ objstore.Bucket }

func (refusingPuts) Put(context.Context, string, io.ReaderAt, int64, ...objstore.PutOption) error {
	return errors.New("test: object store refuses writes")
}
