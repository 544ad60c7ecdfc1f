package tier

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// Sealed segments are uploaded byte for byte under their keys and registered in order.
func TestUploadRegistersSealedSegments(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("orders")
	epoch := e.lead(tp, 1)
	produce(t, l, 40, 4, 100, 1000) // 8 KiB segments: several roll
	end := sealedEnd(l)
	if end <= 0 {
		t.Fatalf("no sealed segment (segments %+v)", l.Segments())
	}
	// Copy the sealed files before tracking: local retention may delete them once tiered.
	want := map[int64][]byte{}
	for _, s := range l.Segments() {
		if s.Sealed {
			b, err := os.ReadFile(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			want[s.BaseOffset] = b
		}
	}
	u := e.uploader(nil)
	if got := u.TieredEnd(tp); got != -1 {
		t.Fatalf("TieredEnd of an untracked partition = %d", got)
	}
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, end)
	if got := u.TieredEnd(tp); got != end {
		t.Fatalf("TieredEnd = %d, want %d", got, end)
	}
	if got := u.LatestTiered(tp); got != end-1 {
		t.Fatalf("LatestTiered = %d, want %d", got, end-1)
	}
	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Segments) != len(want) {
		t.Fatalf("catalog has %d segments, want %d", len(c.Segments), len(want))
	}
	next := int64(0)
	for _, s := range c.Segments {
		if s.BaseOffset != next || s.Epoch != epoch || s.Records != s.NextOffset-s.BaseOffset {
			t.Fatalf("segment %+v: want base %d, epoch %d, one record per offset", s, next, epoch)
		}
		if wantKey := ObjectKey("cluster", id, 0, s.BaseOffset, epoch); s.Key != wantKey {
			t.Fatalf("key %q, want %q", s.Key, wantKey)
		}
		if got := objstoretest.Get(t, e.bucket, s.Key); !bytes.Equal(got, want[s.BaseOffset]) {
			t.Fatalf("object %s differs from the sealed file", s.Key)
		}
		next = s.NextOffset
	}
	if testutil.ToFloat64(u.m.uploads) < float64(len(want)) || testutil.ToFloat64(u.m.backlogSegments) != 0 {
		t.Fatalf("uploads %v, backlog %v", testutil.ToFloat64(u.m.uploads), testutil.ToFloat64(u.m.backlogSegments))
	}
	var catBytes int64
	for _, s := range c.Segments {
		catBytes += s.Size
	}
	if got := testutil.ToFloat64(u.m.catalogBytes); got != float64(catBytes) {
		t.Fatalf("catalog bytes gauge %v, want %d", got, catBytes)
	}
	// The active segment is not uploaded in local durability.
	if c.TieredEnd() >= l.EndOffset() {
		t.Fatalf("tiered end %d reached the log end %d: the active segment was uploaded", c.TieredEnd(), l.EndOffset())
	}
	u.Untrack(tp)
	if got := testutil.ToFloat64(u.m.catalogBytes); got != 0 {
		t.Fatalf("catalog bytes gauge %v after untracking the only partition", got)
	}
}

// A newer leader's epoch fences the old one: its registration fails, it stops and reports it.
func TestFencedRegistrationStopsPartition(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("fenced")
	epoch := e.lead(tp, 1)
	var fenced atomic.Int32
	fencedCh := make(chan metadata.TopicPartition, 1)
	u := e.uploader(func(c *Config) {
		c.OnFenced = func(tp metadata.TopicPartition) { fenced.Add(1); fencedCh <- tp }
	})
	// A newer epoch reaches the catalog first (another node took over and wrote under epoch+1).
	if _, err := e.store.SetLogStartOffset(context.Background(), tp, epoch+1, 0); err != nil {
		t.Fatal(err)
	}
	produce(t, l, 40, 4, 100, 1000)
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := u.WaitTiered(ctx, tp, sealedEnd(l))
	if !errors.Is(err, metadata.ErrFenced) || !errors.Is(err, ErrNotTracked) {
		t.Fatalf("WaitTiered = %v, want fenced and not tracked", err)
	}
	select {
	case got := <-fencedCh:
		if got != tp {
			t.Fatalf("OnFenced(%v)", got)
		}
	case <-ctx.Done():
		t.Fatal("OnFenced not called")
	}
	if u.Tracked(tp) || fenced.Load() != 1 {
		t.Fatalf("still tracked %v, fenced %d times", u.Tracked(tp), fenced.Load())
	}
	c, _ := e.store.GetCatalog(context.Background(), tp)
	if len(c.Segments) != 0 {
		t.Fatalf("a fenced leader registered %d segments", len(c.Segments))
	}
	if err := u.WaitTiered(ctx, tp, 1); !errors.Is(err, ErrNotTracked) {
		t.Fatalf("WaitTiered after fence = %v", err)
	}
}

// Local retention deletes hot copies only once they are tiered, and never past the tiered end.
func TestLocalRetentionDeletesOnlyTieredCopies(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("local")
	epoch := e.lead(tp, 1)
	fb := objstoretest.NewFaultBucket(e.bucket)
	u := e.uploader(func(c *Config) { c.Bucket = fb })
	pol := DefaultPolicy()
	pol.LocalRetentionBytes = 0 // keep no tiered copy locally
	produce(t, l, 40, 4, 100, 1000)
	// Uploads fail: nothing may be deleted locally while nothing is tiered.
	fb.FailNext(1<<30, errors.New("injected outage"), objstoretest.OpPut)
	sealed := len(l.Segments()) - 1
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, pol); err != nil {
		t.Fatal(err)
	}
	eventually(t, "upload attempts", func() bool { return fb.Calls(objstoretest.OpPut) >= 3 })
	if got := len(l.Segments()) - 1; got != sealed || l.StartOffset() != 0 {
		t.Fatalf("with uploads failing, %d of %d sealed segments left, start %d", got, sealed, l.StartOffset())
	}
	if testutil.ToFloat64(u.m.backlogSegments) != float64(sealed) || testutil.ToFloat64(u.m.errors.WithLabelValues("put")) == 0 {
		t.Fatalf("backlog %v (want %d), put errors %v", testutil.ToFloat64(u.m.backlogSegments), sealed,
			testutil.ToFloat64(u.m.errors.WithLabelValues("put")))
	}
	fb.FailNext(0, nil, objstoretest.OpPut)
	end := sealedEnd(l)
	waitTiered(t, u, tp, end)
	eventually(t, "local copies deleted", func() bool { return l.StartOffset() == end })
	segs := l.Segments()
	if len(segs) != 1 || segs[0].Sealed {
		t.Fatalf("left %+v, want only the active segment", segs)
	}
	if l.EndOffset() <= end {
		t.Fatal("the active segment has no data; the test proves nothing")
	}
}

func TestRemoteStorageDisabledNeverUploads(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("noremote")
	epoch := e.lead(tp, 1)
	fb := objstoretest.NewFaultBucket(e.bucket)
	u := e.uploader(func(c *Config) { c.Bucket = fb })
	pol := DefaultPolicy()
	pol.RemoteStorage = false
	pol.RetentionBytes = 20 << 10 // plain retention keeps about 20 KiB
	produce(t, l, 80, 4, 100, 1000)
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, pol); err != nil {
		t.Fatal(err)
	}
	eventually(t, "plain retention", func() bool { return l.StartOffset() > 0 })
	var size int64
	for _, s := range l.Segments() {
		size += s.Size
	}
	if size < 20<<10 {
		t.Fatalf("retention kept %d bytes, below retention.bytes", size)
	}
	if n := fb.Calls(objstoretest.OpPut); n != 0 {
		t.Fatalf("%d puts with remote storage off", n)
	}
	if got := u.TieredEnd(tp); got != 0 {
		t.Fatalf("TieredEnd = %d", got)
	}
}

// An object already under the key with the same bytes (a lost answer) counts as uploaded; one
// with other bytes and no catalog entry is replaced.
func TestUploadOverExistingObject(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("exists")
	epoch := e.lead(tp, 1)
	produce(t, l, 40, 4, 100, 1000)
	segs := l.Segments()
	first, err := os.ReadFile(segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	objstoretest.Put(t, e.bucket, ObjectKey("cluster", id, 0, segs[0].BaseOffset, epoch), first)
	objstoretest.Put(t, e.bucket, ObjectKey("cluster", id, 0, segs[1].BaseOffset, epoch), []byte("garbage"))
	u := e.uploader(nil)
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, sealedEnd(l))
	c, _ := e.store.GetCatalog(ctx, tp)
	got := objstoretest.Get(t, e.bucket, c.Segments[1].Key)
	want, err := os.ReadFile(segs[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the stale object was not replaced")
	}
}

// MinIO stops mid-stream and comes back: every segment ends up tiered, nothing lost or reordered.
func TestOutageThenRecovery(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("outage")
	epoch := e.lead(tp, 1)
	u := e.uploader(func(c *Config) {
		c.Bucket = objstore.WithRetry(e.bucket, objstore.RetryConfig{MaxAttempts: 1})
	})
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	want := produce(t, l, 20, 4, 100, 1000)
	waitTiered(t, u, tp, sealedEnd(l))
	e.minio.Stop()
	want = append(want, produce(t, l, 40, 4, 100, 5000)...)
	end := sealedEnd(l)
	eventually(t, "upload errors during the outage", func() bool { return testutil.ToFloat64(u.m.errors.WithLabelValues("put")) > 0 })
	if got := u.TieredEnd(tp); got >= end {
		t.Fatalf("tiered end %d reached %d while the object store was down", got, end)
	}
	e.minio.Start()
	waitTiered(t, u, tp, end)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, l.EndOffset())
	r := e.reader(nil)
	sameBatches(t, readAll(t, r, tp, id, 0, l.EndOffset(), 64<<10), want)
}

// A new leader whose hot segments are cut at other offsets than the tiered ones uploads the part of
// the straddling segment above the tiered end as its own object, so the catalog stays contiguous.
func TestTakeoverTrimsStraddlingSegment(t *testing.T) {
	e := newEnv(t)
	tp, id, l1 := e.topic("takeover")
	epoch := e.lead(tp, 1)
	batches := produce(t, l1, 40, 4, 100, 0)
	d2, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{SegmentBytes: 5 << 10, Logger: objstoretest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	l2, err := d2.Log("takeover-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if _, err := l2.Append(bytes.Clone(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l2.Roll(); err != nil {
		t.Fatal(err)
	}
	u1 := e.uploader(nil)
	if err := u1.Track(plogOf(t, e.store, tp, id, l1), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	first := sealedEnd(l1)
	waitTiered(t, u1, tp, first)
	u1.Untrack(tp)
	straddles := false
	for _, s := range l2.Segments() {
		straddles = straddles || (s.BaseOffset < first && first < s.NextOffset)
	}
	if !straddles {
		t.Fatalf("no segment of the second log straddles %d; the test proves nothing", first)
	}

	u2 := e.uploader(nil)
	if err := u2.Track(plogOf(t, e.store, tp, id, l2), epoch+1, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u2, tp, l2.EndOffset())
	c, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := false
	for _, s := range c.Segments {
		if s.BaseOffset == first && s.Epoch == epoch+1 {
			trimmed = true
		}
	}
	if !trimmed {
		t.Fatalf("no segment of epoch %d starts at the old tiered end %d: %+v", epoch+1, first, c.Segments)
	}
	sameBatches(t, readAll(t, e.reader(nil), tp, id, 0, l2.EndOffset(), 1<<20), batches)
}
