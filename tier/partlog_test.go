package tier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment"
)

// plogOf is the partition log an Uploader tracks: the hot log l over the catalog in store.
func plogOf(tb testing.TB, store CatalogStore, tp metadata.TopicPartition, id metadata.TopicID, l *hotlog.Log) *PartitionLog {
	tb.Helper()
	pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Catalog: store})
	if err != nil {
		tb.Fatal(err)
	}
	return pl
}

// splitTiers makes a partition whose first batches are only in object storage and whose last ones
// are only in the hot log, led by node 1 through the returned PartitionLog (tracked by u).
func splitTiers(t *testing.T, e *env, u *Uploader, r *Reader, name string, cold, hot int) (*PartitionLog, int32, [][]byte) {
	t.Helper()
	tp, id, l := e.topic(name)
	epoch := e.lead(tp, 1)
	pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: r, Catalog: e.store, Tiered: u})
	if err != nil {
		t.Fatal(err)
	}
	pol := DefaultPolicy()
	pol.LocalRetentionBytes = 0
	if err := u.Track(pl, epoch, pol); err != nil {
		t.Fatal(err)
	}
	want := produce(t, l, cold, 3, 200, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, l.EndOffset())
	eventually(t, "hot copies deleted", func() bool { return l.StartOffset() == l.EndOffset() })
	want = append(want, produce(t, l, hot, 3, 200, int64(cold))...)
	return pl, epoch, want
}

// readLog reads pl from offset from to its high watermark, maxBytes at a time.
func readLog(t *testing.T, pl *PartitionLog, from int64, maxBytes int) (batches [][]byte, tiered int) {
	t.Helper()
	for off := from; off < pl.HighWatermark(); {
		res, err := pl.Read(context.Background(), nil, off, maxBytes)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		bs := splitBatches(t, res.Records)
		if len(bs) == 0 {
			t.Fatalf("read at %d below the high watermark %d returned nothing", off, pl.HighWatermark())
		}
		if res.Tiered {
			tiered += len(bs)
		}
		for _, b := range bs {
			info, _ := segment.ParseBatch(b)
			off = info.NextOffset()
		}
		batches = append(batches, bs...)
	}
	return batches, tiered
}

// A consumer reading from offset 0 crosses from object storage into the hot log without a gap or a
// duplicate, whatever the read size, and the offsets that bound the tiers line up.
func TestPartitionLogReadsAcrossTiers(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	pl, _, want := splitTiers(t, e, u, r, "across", 40, 7)

	o := pl.Offsets()
	if o.LocalStart != 40*3 || o.End != 47*3 || o.HighWatermark != o.End {
		t.Fatalf("offsets %+v: want local start 120, end and high watermark 141", o)
	}
	if start, err := pl.Earliest(context.Background()); err != nil || start != 0 {
		t.Fatalf("Earliest = %d, %v; want 0", start, err)
	}
	if o := pl.Offsets(); o.LogStart != 0 {
		t.Fatalf("log start %d after Earliest read the catalog, want 0", o.LogStart)
	}
	for _, maxBytes := range []int{1, 5000, 1 << 20} {
		got, tiered := readLog(t, pl, 0, maxBytes)
		sameBatches(t, got, want)
		if tiered < 40 || tiered == len(want) {
			t.Fatalf("maxBytes %d: %d of %d batches came from object storage; want the first 40 and no hot ones", maxBytes, tiered, len(want))
		}
	}
	// At the high watermark: nothing, no error. Past the end: out of range.
	if res, err := pl.Read(context.Background(), nil, o.End, 1<<20); err != nil || len(res.Records) != 0 {
		t.Fatalf("read at the end: %d bytes, %v", len(res.Records), err)
	}
	if _, err := pl.Read(context.Background(), nil, o.End+1, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the end: %v, want ErrOffsetOutOfRange", err)
	}
}

// A leader whose view of the catalog predates its first registration (a new partition, taken
// before anything was tiered) learns where tiered data starts from the Uploader's registrations,
// without a catalog read: a log start taken from the hot log alone would hide the tiered offsets
// from ListOffsets and make DeleteRecords below the hot log a no-op.
func TestPartitionLogLearnsTieredStartFromRegistrations(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	pl, _, _ := splitTiers(t, e, u, r, "learns", 10, 0)
	pl.NoteCatalog(metadata.PartitionCatalog{TopicID: pl.TopicID()}) // as read before any upload
	if o := pl.Offsets(); o.LogStart != o.LocalStart {
		t.Fatalf("offsets %+v after noting an empty catalog: want the hot log's start", o)
	}
	produce(t, pl.Hot(), 10, 3, 200, 10)
	if err := pl.Hot().Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, pl.Partition(), pl.Hot().EndOffset())
	eventually(t, "hot copies deleted", func() bool { return pl.Hot().StartOffset() == pl.Hot().EndOffset() })
	if o := pl.Offsets(); o.LogStart != 0 {
		t.Fatalf("offsets %+v after registrations: want log start 0, where tiered data starts", o)
	}
}

// A new leader with object durability reads the catalog before its Uploader tracks the partition:
// from its first request on, the high watermark is the tiered end the catalog named, not the log
// start (a consumer asking for the end offsets then would have been told the partition is empty).
func TestPartitionLogObjectDurabilityHighWatermarkBeforeTracking(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	first, _, _ := splitTiers(t, e, u, r, "newleader", 10, 0)
	tp := first.Partition()
	u.Untrack(tp)
	cat, err := e.store.GetCatalog(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	end := cat.TieredEnd()
	if end != 30 {
		t.Fatalf("tiered end %d, want 30", end)
	}
	// The new leader's hot log is empty and starts at the tiered end.
	hot, err := e.dir.Log("newleader-fresh")
	if err != nil {
		t.Fatal(err)
	}
	if err := hot.Reset(end); err != nil {
		t.Fatal(err)
	}
	u2 := e.uploader(nil)
	pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: first.TopicID(), Hot: hot, Objects: r,
		Catalog: e.store, Tiered: u2, ObjectDurability: true})
	if err != nil {
		t.Fatal(err)
	}
	if hw := pl.HighWatermark(); hw != end {
		t.Logf("before the catalog was noted: high watermark %d", hw)
	}
	pl.NoteCatalog(cat)
	if hw := pl.HighWatermark(); hw != end {
		t.Fatalf("high watermark %d before the Uploader tracks the partition, want the tiered end %d", hw, end)
	}
	got, tiered := readLog(t, pl, 0, 1<<20)
	if len(got) != 10 || tiered != 10 {
		t.Fatalf("read %d batches (%d tiered), want 10 from object storage", len(got), tiered)
	}
}

// A node that does not lead the partition reads its tiered part through a PartitionLog without the
// hot log: the log ends at the tiered end.
func TestPartitionLogWithoutHotLogReadsTieredPart(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	leader := e.reader(nil)
	pl, _, want := splitTiers(t, e, u, leader, "follower", 30, 5)

	other := e.reader(nil) // another node's reader: its own cache, its own catalog reads
	fl, err := NewPartitionLog(PartitionLogConfig{Partition: pl.Partition(), TopicID: pl.TopicID(), Objects: other, Catalog: e.store})
	if err != nil {
		t.Fatal(err)
	}
	if o := fl.Offsets(); o.HighWatermark != -1 {
		t.Fatalf("offsets before any catalog read: %+v, want -1s", o)
	}
	if start, err := fl.Earliest(context.Background()); err != nil || start != 0 {
		t.Fatalf("Earliest = %d, %v", start, err)
	}
	if o := fl.Offsets(); o.LogStart != 0 || o.HighWatermark != 90 || o.End != 90 {
		t.Fatalf("offsets %+v: want start 0, high watermark and end 90 (the tiered end)", o)
	}
	got, tiered := readLog(t, fl, 0, 4000)
	sameBatches(t, got, want[:30])
	if tiered != 30 {
		t.Fatalf("%d batches marked tiered, want 30", tiered)
	}
	if res, err := fl.Read(context.Background(), nil, 90, 1<<20); err != nil || len(res.Records) != 0 || res.HighWatermark != 90 {
		t.Fatalf("read at the tiered end: %d bytes, hw %d, %v", len(res.Records), res.HighWatermark, err)
	}
	if _, err := fl.Read(context.Background(), nil, 91, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the tiered end: %v, want ErrOffsetOutOfRange", err)
	}
	// Time lookups answer from object storage alone.
	off, _, ok, err := fl.OffsetForTimestamp(context.Background(), 0)
	if err != nil || !ok || off != 0 {
		t.Fatalf("OffsetForTimestamp(0) = %d, %v, %v", off, ok, err)
	}
}

// countingCatalogs counts the catalogs read from the store.
type countingCatalogs struct {
	CatalogReader
	gets atomic.Int64
}

func (c *countingCatalogs) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	c.gets.Add(1)
	return c.CatalogReader.GetCatalog(ctx, tp)
}

// Earliest reads the catalog through the Reader, which keeps it: the replay that follows a
// consumer's ListOffsets starts without another catalog read.
func TestPartitionLogEarliestPrimesReaderCatalog(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, want := tierAll(t, e, u, "prime", 40)
	cs := &countingCatalogs{CatalogReader: e.store}
	r := e.reader(func(c *ReaderConfig) { c.Store = cs })
	eventually(t, "catalog watch running", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.watching
	})
	for _, hot := range []bool{false, true} {
		cfg := PartitionLogConfig{Partition: tp, TopicID: id, Objects: r, Catalog: e.store}
		if hot { // the partition's hot log, emptied by tierAll
			l, err := e.dir.Log(fmt.Sprintf("%s-0", id))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Hot = l
		}
		pl, err := NewPartitionLog(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r.invalidate(tp)
		start, err := pl.Earliest(context.Background())
		if err != nil || start != 0 {
			t.Fatalf("hot log %v: Earliest = %d, %v", hot, start, err)
		}
		gets := cs.gets.Load()
		res, err := pl.Read(context.Background(), nil, start, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		sameBatches(t, splitBatches(t, res.Records), want[:len(splitBatches(t, res.Records))])
		if !res.Tiered || len(res.Records) == 0 {
			t.Fatalf("hot log %v: read at the log start: %d bytes, tiered %v", hot, len(res.Records), res.Tiered)
		}
		if n := cs.gets.Load() - gets; n != 0 {
			t.Fatalf("hot log %v: the read after Earliest read the catalog %d more times", hot, n)
		}
	}
}

// Moving the log start moves it in the catalog, for every node, then in the hot log; reads below it
// are out of range and report the new start; a stale epoch is fenced and moves nothing.
func TestPartitionLogMoveLogStart(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	pl, epoch, want := splitTiers(t, e, u, r, "move", 20, 10)
	ctx := context.Background()

	dropped, err := pl.MoveLogStart(ctx, epoch, 46) // inside the tiered part, past its first segment
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) == 0 {
		t.Fatal("no segment left the catalog")
	}
	for _, s := range dropped {
		if s.NextOffset > 46 {
			t.Fatalf("dropped %+v, which holds offsets at or above the new start 46", s)
		}
	}
	if o := pl.Offsets(); o.LogStart != 46 {
		t.Fatalf("log start %d, want 46", o.LogStart)
	}
	res, err := pl.Read(ctx, nil, 30, 1<<20)
	if !errors.Is(err, ErrOffsetOutOfRange) || res.LogStart != 46 {
		t.Fatalf("read below the start: log start %d, %v; want 46 and ErrOffsetOutOfRange", res.LogStart, err)
	}
	got, _ := readLog(t, pl, 46, 1<<20)
	sameBatches(t, got, want[15:]) // offset 46 is inside batch 15 (3 records each)

	// Into the hot part: the hot log's start moves too.
	if _, err := pl.MoveLogStart(ctx, epoch, 66); err != nil {
		t.Fatal(err)
	}
	if o := pl.Offsets(); o.LogStart != 66 || o.LocalStart != 66 {
		t.Fatalf("offsets %+v after moving into the hot part, want log and local start 66", o)
	}
	if c, err := e.store.GetCatalog(ctx, pl.Partition()); err != nil || c.LogStartOffset != 66 {
		t.Fatalf("catalog log start %d, %v; want 66", c.LogStartOffset, err)
	}

	// A stale epoch is fenced before anything moves.
	if _, err := pl.MoveLogStart(ctx, epoch-1, 80); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("stale epoch: %v, want ErrFenced", err)
	}
	if o := pl.Offsets(); o.LogStart != 66 {
		t.Fatalf("log start %d after a fenced move, want 66", o.LogStart)
	}
}

// Time lookups find the first record at or after a time in whichever tier holds it: the answer is
// the one a walk over every record in offset order gives.
func TestPartitionLogOffsetForTimestampAcrossTiers(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	pl, _, want := splitTiers(t, e, u, r, "times", 10, 10)
	ctx := context.Background()
	walk := func(ts int64) (int64, int64, bool) {
		for _, b := range want {
			info, _ := segment.ParseBatch(b)
			off, at, ok, err := segment.RecordForTimestamp(b, info, ts)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				return off, at, true
			}
		}
		return -1, -1, false
	}
	var targets []int64
	for _, i := range []int{0, 4, 9, 10, 15, 19} {
		info, _ := segment.ParseBatch(want[i])
		targets = append(targets, info.FirstTimestamp, info.MaxTimestamp)
	}
	last, _ := segment.ParseBatch(want[len(want)-1])
	targets = append(targets, last.MaxTimestamp+1)
	tieredSeen, hotSeen := false, false
	for _, ts := range targets {
		wantOff, wantTS, wantOK := walk(ts)
		off, at, ok, err := pl.OffsetForTimestamp(ctx, ts)
		if err != nil || ok != wantOK || off != wantOff || at != wantTS {
			t.Fatalf("ts %d: got offset %d ts %d found %v err %v; want %d %d %v", ts, off, at, ok, err, wantOff, wantTS, wantOK)
		}
		tieredSeen = tieredSeen || (ok && off < 30)
		hotSeen = hotSeen || (ok && off >= 30)
	}
	if !tieredSeen || !hotSeen {
		t.Fatalf("answers in object storage %v, in the hot log %v: the test must cover both", tieredSeen, hotSeen)
	}
}

func TestPartitionLogConfigValidate(t *testing.T) {
	e := newEnv(t)
	tp, id, l := e.topic("config")
	r := e.reader(nil)
	cases := []struct {
		name string
		cfg  PartitionLogConfig
		ok   bool
	}{
		{"hot only", PartitionLogConfig{Partition: tp, TopicID: id, Hot: l}, true},
		{"objects only", PartitionLogConfig{Partition: tp, TopicID: id, Objects: r, Catalog: e.store}, true},
		{"both", PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: r, Catalog: e.store}, true},
		{"neither", PartitionLogConfig{Partition: tp, TopicID: id}, false},
		{"objects without catalog", PartitionLogConfig{Partition: tp, TopicID: id, Objects: r}, false},
		{"object durability without hot log", PartitionLogConfig{Partition: tp, TopicID: id, Objects: r, Catalog: e.store, ObjectDurability: true}, false},
	}
	for _, tc := range cases {
		_, err := NewPartitionLog(tc.cfg)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// Under disk pressure a tiered partition rolls what its active segment holds, tiers it and keeps
// no local copy of anything in object storage; a partition that is not tiered keeps everything.
func TestDiskPressureDropsTieredLocalCopies(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	tp, id, l := e.topic("pressure")
	epoch := e.lead(tp, 1)
	if err := u.Track(plogOf(t, e.store, tp, id, l), epoch, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	produce(t, l, 10, 3, 200, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	produce(t, l, 5, 3, 200, 10) // left in the active segment
	waitTiered(t, u, tp, 30)
	if l.StartOffset() != 0 {
		t.Fatalf("local copies dropped before any pressure (start %d)", l.StartOffset())
	}

	ntp, nid, nl := e.topic("pressure-local")
	nepoch := e.lead(ntp, 1)
	local := DefaultPolicy()
	local.RemoteStorage = false
	if err := u.Track(plogOf(t, e.store, ntp, nid, nl), nepoch, local); err != nil {
		t.Fatal(err)
	}
	produce(t, nl, 4, 3, 200, 0)
	if err := nl.Roll(); err != nil {
		t.Fatal(err)
	}

	u.SetDiskPressure(true)
	waitTiered(t, u, tp, 45)
	eventually(t, "every tiered local copy dropped", func() bool { return l.StartOffset() == 45 && l.EndOffset() == 45 })
	if nl.StartOffset() != 0 || nl.EndOffset() != 12 {
		t.Fatalf("untiered partition's log is [%d, %d), want [0, 12): its only copy", nl.StartOffset(), nl.EndOffset())
	}

	// Without pressure local retention applies again: new data keeps its local copy once tiered.
	u.SetDiskPressure(false)
	produce(t, l, 2, 3, 200, 20)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, 51)
	time.Sleep(100 * time.Millisecond)
	if l.StartOffset() != 45 {
		t.Fatalf("log start %d after the pressure ended, want 45 (the new segment kept)", l.StartOffset())
	}
}

// A hot segment that cannot be read (here: its file cut short underneath the log, as a failing
// disk might) is served from its tiered copy, byte for byte.
func TestPartitionLogReadsTieredCopyWhenHotReadFails(t *testing.T) {
	e := newEnv(t)
	u := e.uploader(nil)
	r := e.reader(nil)
	tp, id, l := e.topic("eio")
	epoch := e.lead(tp, 1)
	pl, err := NewPartitionLog(PartitionLogConfig{Partition: tp, TopicID: id, Hot: l, Objects: r, Catalog: e.store, Tiered: u})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Track(pl, epoch, DefaultPolicy()); err != nil { // local copies kept
		t.Fatal(err)
	}
	want := produce(t, l, 10, 3, 200, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	waitTiered(t, u, tp, 30)
	if l.StartOffset() != 0 {
		t.Fatalf("hot start %d, want the local copy kept", l.StartOffset())
	}
	seg := filepath.Join(e.dirPath, fmt.Sprintf("%s-0", id), fmt.Sprintf("%020d.seg", 0))
	if err := os.Truncate(seg, 10); err != nil {
		t.Fatal(err)
	}
	got, tiered := readLog(t, pl, 0, 1<<20)
	sameBatches(t, got, want)
	if tiered == 0 {
		t.Fatal("nothing came from object storage")
	}
}
