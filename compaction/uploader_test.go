package compaction

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// TestMergeWithUploader runs the real leader path: an Uploader with object durability rolls and
// registers a small segment every few milliseconds while the worker merges the registered ones.
// Registrations and swaps race on the same catalog entry (compare-and-swap retries); nothing may
// be lost, duplicated or reordered.
func TestMergeWithUploader(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.topic("busy")
	dir, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{SegmentBytes: 8 << 10, Logger: objstoretest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	l, err := dir.Log(fmt.Sprintf("%s-0", p.id))
	if err != nil {
		t.Fatal(err)
	}
	fenced := make(chan struct{}, 1)
	u, err := tier.NewUploader(tier.Config{Bucket: e.bucket, Store: e.store, Prefix: prefix,
		RetryBaseDelay: 10 * time.Millisecond, RetryMaxDelay: 100 * time.Millisecond, PollInterval: 10 * time.Millisecond,
		CheckInterval: time.Hour, Logger: objstoretest.QuietLogger(), Registerer: prometheus.NewRegistry(),
		OnFenced: func(metadata.TopicPartition) { fenced <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	pol := tier.DefaultPolicy()
	pol.Durability = tier.DurabilityObject
	pol.FlushInterval = 5 * time.Millisecond
	pl, err := tier.NewPartitionLog(tier.PartitionLogConfig{Partition: p.tp, TopicID: p.id, Hot: l, Catalog: e.store})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Track(pl, p.lease.Epoch, pol); err != nil {
		t.Fatal(err)
	}

	// Every segment counts as small, however large a loaded machine lets the flushes grow: a
	// SmallBytes near their size left runs of one small segment between large ones, and no merge.
	w := e.worker(func(c *Config) { c.Policy = Policy{SmallBytes: 1 << 20, TargetBytes: 4 << 20, MinInputs: 2} })

	var (
		wg      sync.WaitGroup
		batches [][]byte
		perr    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ts := time.Now().UnixMilli()
		for i := range 400 {
			b := segmenttest.Records(0, ts+int64(i), 4, 200)
			if _, err := l.Append(b); err != nil { // assigns the base offset in place
				perr = err
				return
			}
			batches = append(batches, b)
			if i%20 == 19 {
				time.Sleep(5 * time.Millisecond) // let flushes roll small segments in between
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var total Result
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		res, err := w.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total.Merges += res.Merges
		total.Inputs += res.Inputs
	}
	if perr != nil {
		t.Fatal(perr)
	}
	end := l.EndOffset()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := u.WaitTiered(wctx, p.tp, end); err != nil {
		t.Fatal(err)
	}
	res, err := w.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total.Merges += res.Merges
	total.Inputs += res.Inputs
	t.Logf("merges %d of %d inputs; catalog %d segments", total.Merges, total.Inputs, len(e.catalog(p.tp).Segments))
	if total.Merges == 0 {
		t.Fatal("no merge happened")
	}
	select {
	case <-fenced:
		t.Fatal("the uploader was fenced")
	default:
	}
	if !u.Tracked(p.tp) {
		t.Fatal("the uploader stopped tracking the partition")
	}
	p.end = end
	e.checkCatalog(p.tp, end)
	e.readBack(p, batches, 0, end)
}
