package hotlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/strata-log/strata/tier/localfs"
	"github.com/strata-log/strata/tier/segment"
)

// fill appends n batches of 2 records and returns the bytes as stored.
func fill(t *testing.T, l *Log, n int) []byte {
	t.Helper()
	var all []byte
	for i := range n {
		b := batch(2, int64(i))
		mustAppend(t, l, b)
		all = append(all, b...)
	}
	return all
}

func readAll(t *testing.T, l *Log, from int64) []byte {
	t.Helper()
	b, err := l.Read(from, 1<<30, -1)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reopen(t *testing.T, root string, d *Dir, cfg Config) (*Dir, *Log) {
	t.Helper()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := openTestDir(t, root, cfg)
	l, err := d2.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	return d2, l
}

func TestTruncateTo(t *testing.T) {
	cases := []struct {
		name     string
		to       int64
		wantEnd  int64
		wantSegs int
	}{
		{"inside the active segment", 37, 36, -1},
		{"at a batch boundary in a sealed segment", 10, 10, 0},
		{"inside a sealed segment's batch", 11, 10, 0},
		{"at the end", 40, 40, -1},
		{"beyond the end", 99, 40, -1},
		{"to zero resets", 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			cfg := Config{SegmentBytes: 1000}
			d := openTestDir(t, root, cfg)
			l, _ := d.Log("p0")
			all := fill(t, l, 20) // offsets [0, 40)
			before := len(l.Segments())
			if err := l.TruncateTo(tc.to); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log) {
				t.Helper()
				// A real cut is fsynced; a no-op leaves the durable offset where it was.
				if l.EndOffset() != tc.wantEnd || (tc.to < 40 && l.DurableOffset() != tc.wantEnd) {
					t.Fatalf("end %d durable %d, want %d", l.EndOffset(), l.DurableOffset(), tc.wantEnd)
				}
				got := readAll(t, l, l.StartOffset())
				if !bytes.Equal(got, all[:len(got)]) || len(got) != len(all)*int(tc.wantEnd)/40 {
					t.Fatalf("kept %d bytes, want a prefix of %d", len(got), len(all)*int(tc.wantEnd)/40)
				}
				if tc.wantSegs == 0 && len(l.Segments()) >= before {
					t.Fatalf("no segment dropped: %d", len(l.Segments()))
				}
				if tc.wantSegs > 0 && len(l.Segments()) != tc.wantSegs {
					t.Fatalf("%d segments, want %d", len(l.Segments()), tc.wantSegs)
				}
			}
			check(l)
			d, l = reopen(t, root, d, cfg)
			check(l)
			if res := mustAppend(t, l, batch(1, 0)); res.BaseOffset != tc.wantEnd {
				t.Fatalf("append after truncate at %d", res.BaseOffset)
			}
			_ = d
		})
	}
}

func TestResetAndStartOffsetPersist(t *testing.T) {
	root := t.TempDir()
	cfg := Config{SegmentBytes: 1000}
	d := openTestDir(t, root, cfg)
	l, _ := d.Log("p0")
	fill(t, l, 10)
	if err := l.SetStartOffset(7); err != nil {
		t.Fatal(err)
	}
	if err := l.SetStartOffset(3); err != nil || l.StartOffset() != 7 {
		t.Fatalf("start went back: %d %v", l.StartOffset(), err)
	}
	if err := l.SetStartOffset(21); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("start beyond end: %v", err)
	}
	d, l = reopen(t, root, d, cfg)
	if l.StartOffset() != 7 || l.EndOffset() != 20 {
		t.Fatalf("after reopen start %d end %d", l.StartOffset(), l.EndOffset())
	}
	if err := l.Reset(1000); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 1000 || l.EndOffset() != 1000 || len(l.Segments()) != 1 {
		t.Fatalf("after reset start %d end %d segs %d", l.StartOffset(), l.EndOffset(), len(l.Segments()))
	}
	if got, err := l.Read(1000, 100, -1); err != nil || len(got) != 0 {
		t.Fatalf("read at end after reset: %v", err)
	}
	mustAppend(t, l, batch(3, 0))
	d, l = reopen(t, root, d, cfg)
	if l.StartOffset() != 1000 || l.EndOffset() != 1003 {
		t.Fatalf("after reopen start %d end %d", l.StartOffset(), l.EndOffset())
	}
	_ = d
}

// A crash after a Reset persisted its start but before it removed the old files: recovery finishes
// the reset.
func TestRecoverInterruptedReset(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{})
	l, _ := d.Log("p0")
	fill(t, l, 5)
	if err := localfs.WriteFileAtomic(filepath.Join(root, "p0"), stateFile, encodeState(logState{Start: 500, PendingTruncate: -1})); err != nil {
		t.Fatal(err)
	}
	_, l = reopen(t, root, d, Config{})
	if l.StartOffset() != 500 || l.EndOffset() != 500 || len(l.Segments()) != 1 {
		t.Fatalf("start %d end %d segs %d", l.StartOffset(), l.EndOffset(), len(l.Segments()))
	}
}

// A crash during a roll after the new active file was created but before the old one was renamed:
// two footer-less files. Recovery seals the older one.
func TestRecoverInterruptedRoll(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{})
	l, _ := d.Log("p0")
	all := fill(t, l, 6) // [0, 12) in one active file
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "p0")
	// The old active file got its trailer but kept its name; the new active file exists, empty.
	old := filepath.Join(dir, segName(0, activeExt))
	f, _ := os.OpenFile(old, os.O_RDWR|os.O_APPEND, 0)
	rec, err := segment.Recover(f, int64(len(all)), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(rec.Index.AppendTrailer(nil))
	_ = f.Close()
	if err := os.WriteFile(filepath.Join(dir, segName(12, activeExt)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d2 := openTestDir(t, root, Config{})
	l2, err := d2.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	segs := l2.Segments()
	if len(segs) != 2 || !segs[0].Sealed || segs[1].Sealed || segs[1].BaseOffset != 12 {
		t.Fatalf("segments %+v", segs)
	}
	if got := readAll(t, l2, 0); !bytes.Equal(got, all) {
		t.Fatal("data changed")
	}
}

func TestDeleteSegmentsBelow(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 1000})
	fill(t, l, 20)
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	cut := segs[2].BaseOffset
	if err := l.DeleteSegmentsBelow(cut + 1); err != nil { // segment 2 is not wholly below
		t.Fatal(err)
	}
	after := l.Segments()
	if after[0].BaseOffset != cut || len(after) != len(segs)-2 {
		t.Fatalf("segments after delete: first %d, %d left", after[0].BaseOffset, len(after))
	}
	for _, s := range segs[:2] {
		if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still there", s.Path)
		}
	}
	if l.StartOffset() != cut {
		t.Fatalf("start %d, want %d", l.StartOffset(), cut)
	}
	if _, err := l.Read(cut-1, 100, -1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below local start: %v", err)
	}
	// The active segment always stays.
	if err := l.DeleteSegmentsBelow(1 << 40); err != nil {
		t.Fatal(err)
	}
	if s := l.Segments(); len(s) != 1 || s[0].Sealed {
		t.Fatalf("segments %+v", s)
	}
}

func TestScanBatchesAndChanged(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 1000})
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("changed before any append")
	default:
	}
	fill(t, l, 10)
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by append")
	}
	var bases []int64
	if err := l.ScanBatches(5, func(info segment.BatchInfo) error {
		bases = append(bases, info.BaseOffset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(bases) != 8 || bases[0] != 4 || bases[7] != 18 {
		t.Fatalf("scanned %v", bases)
	}
	stop := errors.New("stop")
	if err := l.ScanBatches(0, func(segment.BatchInfo) error { return stop }); err != stop {
		t.Fatalf("scan error not returned: %v", err)
	}
}

func TestWaitDurableEdges(t *testing.T) {
	_, l := openTestLog(t, Config{})
	res := mustAppend(t, l, batch(2, 0))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	// Waiting beyond the end blocks until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, 100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait beyond end: %v", err)
	}
	// A truncation below the awaited offset fails the waiter.
	done := make(chan error, 1)
	go func() { done <- l.WaitDurable(context.Background(), 100) }()
	for l.waiting() == 0 {
		runtime.Gosched()
	}
	if err := l.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrTruncated) {
		t.Fatalf("waiter after truncation: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), 1000); !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after close: %v", err)
	}
	if _, err := l.Append(batch(1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func (l *Log) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters
}

func TestDirLogsAndRemove(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{})
	a, err := d.Log("a")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := d.LogConfig("a", Config{SegmentBytes: 5000})
	if again != a || a.cfg.SegmentBytes != 5000 {
		t.Fatal("LogConfig must return the open log and apply settings")
	}
	if _, err := d.Log("b"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", ".", "..", "x/y", "LOCK", ".hidden"} {
		if _, err := d.Log(bad); err == nil {
			t.Fatalf("name %q accepted", bad)
		}
	}
	mustAppend(t, a, batch(1, 0))
	if err := d.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if names := d.Names(); len(names) != 1 || names[0] != "b" {
		t.Fatalf("Names = %v", names)
	}
	if _, err := a.Append(batch(1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to removed log: %v", err)
	}
	a2, err := d.Log("a")
	if err != nil || a2.EndOffset() != 0 {
		t.Fatalf("recreated log: end %d, %v", a2.EndOffset(), err)
	}
	// Closing a log directly lets Log open it again.
	_ = a2.Close()
	a3, err := d.Log("a")
	if err != nil || a3 == a2 {
		t.Fatalf("reopen after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Log("c"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Log after Dir.Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"set", Config{SegmentBytes: 1, SegmentAge: time.Second, IndexIntervalBytes: 1}, true},
		{"negative bytes", Config{SegmentBytes: -1}, false},
		{"negative ms", Config{SegmentAge: -time.Second}, false},
		{"negative interval", Config{IndexIntervalBytes: -1}, false},
	}
	for _, tc := range cases {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestRollBySegmentMs(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentAge: time.Millisecond})
	mustAppend(t, l, batch(1, 0))
	time.Sleep(5 * time.Millisecond)
	mustAppend(t, l, batch(1, 0)) // the first segment is older than SegmentAge: this append rolls
	// (The flusher's timer may roll as well; either way offset 0 sits alone in a sealed segment.)
	if segs := l.Segments(); len(segs) < 2 || !segs[0].Sealed || segs[0].NextOffset != 1 || segs[1].BaseOffset != 1 {
		t.Fatalf("segments %+v", segs)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil { // empty active: no-op
		t.Fatal(err)
	}
	segs := l.Segments()
	if act, last := segs[len(segs)-1], segs[len(segs)-2]; act.Size != 0 || act.Sealed || act.BaseOffset != 2 || !last.Sealed || last.NextOffset != 2 {
		t.Fatalf("segments %+v", segs)
	}
}

func TestAppendRejectsBadBatches(t *testing.T) {
	_, l := openTestLog(t, Config{})
	good := batch(2, 0)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	for name, b := range map[string][]byte{
		"crc":      bad,
		"trailing": append(append([]byte(nil), good...), 0),
		"two":      append(append([]byte(nil), good...), batch(1, 0)...),
		"short":    good[:30],
	} {
		if _, err := l.Append(b); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if l.EndOffset() != 0 {
		t.Fatalf("end moved to %d", l.EndOffset())
	}
}

func FuzzState(f *testing.F) {
	f.Add(encodeState(logState{Start: 0, PendingTruncate: -1}))
	f.Add(encodeState(logState{Start: 1 << 40, PendingTruncate: 1 << 41}))
	f.Add([]byte{})
	f.Add(make([]byte, 26))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeState(st), b) {
			t.Fatalf("accepted a non-canonical frame")
		}
	})
}

// TruncateTo at every offset, segment boundaries included, leaves exactly the whole batches below
// it, and the result survives a reopen.
func TestTruncateToEveryOffset(t *testing.T) {
	for to := int64(0); to <= 41; to++ {
		root := t.TempDir()
		cfg := Config{SegmentBytes: 700}
		d := openTestDir(t, root, cfg)
		l, _ := d.Log("p0")
		all := fill(t, l, 20) // 2 records per batch: offsets [0, 40)
		if err := l.TruncateTo(to); err != nil {
			t.Fatalf("TruncateTo(%d): %v", to, err)
		}
		want := min(to-to%2, 40)
		for round := range 2 {
			if l.EndOffset() != want {
				t.Fatalf("TruncateTo(%d) round %d: end %d, want %d", to, round, l.EndOffset(), want)
			}
			got := readAll(t, l, l.StartOffset())
			if int64(len(got)) != int64(len(all))*want/40 || !bytes.Equal(got, all[:len(got)]) {
				t.Fatalf("TruncateTo(%d) round %d: %d bytes kept", to, round, len(got))
			}
			d, l = reopen(t, root, d, cfg)
		}
		if res := mustAppend(t, l, batch(1, 0)); res.BaseOffset != want {
			t.Fatalf("TruncateTo(%d): next append at %d", to, res.BaseOffset)
		}
		_ = d.Close()
	}
}

// A crash after TruncateTo persisted its intent but before it cut the files: recovery finishes the
// truncation once, and forgets it (later appends survive the next reopen).
func TestRecoverInterruptedTruncate(t *testing.T) {
	root := t.TempDir()
	cfg := Config{SegmentBytes: 700}
	d := openTestDir(t, root, cfg)
	l, _ := d.Log("p0")
	all := fill(t, l, 20) // [0, 40)
	if err := localfs.WriteFileAtomic(filepath.Join(root, "p0"), stateFile, encodeState(logState{Start: 0, PendingTruncate: 13})); err != nil {
		t.Fatal(err)
	}
	d, l = reopen(t, root, d, cfg)
	if l.EndOffset() != 12 {
		t.Fatalf("end %d after recovery, want 12", l.EndOffset())
	}
	if got := readAll(t, l, 0); !bytes.Equal(got, all[:len(all)*12/40]) {
		t.Fatal("kept data differs")
	}
	mustAppend(t, l, batch(4, 0))
	_, l = reopen(t, root, d, cfg)
	if l.EndOffset() != 16 {
		t.Fatalf("end %d after second reopen, want 16: the truncation was replayed", l.EndOffset())
	}
}
