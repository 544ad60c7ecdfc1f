package hotlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openTestDir(t *testing.T, path string, cfg Config) *Dir {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	d, err := OpenDir(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func openTestLog(t *testing.T, cfg Config) (*Dir, *Log) {
	t.Helper()
	d := openTestDir(t, t.TempDir(), cfg)
	l, err := d.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	return d, l
}

// batch returns a batch of n records whose timestamps start at ts.
func batch(n int, ts int64) []byte { return segmenttest.Records(0, ts, n, 100) }

func mustAppend(t *testing.T, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAppendReadAcrossRolls(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 4096, IndexIntervalBytes: 1000})
	var want []byte
	next := int64(0)
	for i := range 100 {
		n := 1 + i%5
		b := batch(n, int64(1000+i))
		res := mustAppend(t, l, b)
		if res.BaseOffset != next || res.LastOffset != next+int64(n)-1 {
			t.Fatalf("append %d: got %+v, want base %d", i, res, next)
		}
		next += int64(n)
		want = append(want, b...) // Append rewrote b's base offset in place
	}
	if got := l.EndOffset(); got != next {
		t.Fatalf("EndOffset = %d, want %d", got, next)
	}
	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("expected several rolls, got %d segments", len(segs))
	}
	for i, s := range segs {
		if s.Sealed != (i < len(segs)-1) {
			t.Fatalf("segment %d sealed=%v", i, s.Sealed)
		}
		if i > 0 && segs[i-1].NextOffset != s.BaseOffset {
			t.Fatalf("segments not contiguous: %+v then %+v", segs[i-1], s)
		}
	}
	got, err := l.Read(0, 1<<30, -1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d identical", len(got), len(want))
	}
	// Every sealed file opens as a segment and matches its info.
	for _, s := range segs[:len(segs)-1] {
		f, err := os.Open(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := segment.OpenReader(f, s.Size)
		if err == nil {
			err = r.Verify()
		}
		_ = f.Close()
		if err != nil {
			t.Fatalf("%s: %v", s.Path, err)
		}
		if ix := r.Index(); ix.BaseOffset != s.BaseOffset || ix.NextOffset != s.NextOffset {
			t.Fatalf("%s: index [%d,%d), info [%d,%d)", s.Path, ix.BaseOffset, ix.NextOffset, s.BaseOffset, s.NextOffset)
		}
	}
	// Reopen: same data.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{SegmentBytes: 2048})
	l, err := d.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range 30 {
		b := batch(3, int64(i))
		mustAppend(t, l, b)
		want = append(want, b...)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := openTestDir(t, root, Config{SegmentBytes: 2048})
	l2, err := d2.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	if l2.EndOffset() != 90 || l2.DurableOffset() != 90 || l2.StartOffset() != 0 {
		t.Fatalf("after reopen: start %d end %d durable %d", l2.StartOffset(), l2.EndOffset(), l2.DurableOffset())
	}
	got, err := l2.Read(0, 1<<30, -1)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read after reopen: %d bytes, err %v", len(got), err)
	}
	if names := d2.Names(); len(names) != 1 || names[0] != "p0" {
		t.Fatalf("Names = %v", names)
	}
	res := mustAppend(t, l2, batch(1, 5))
	if res.BaseOffset != 90 {
		t.Fatalf("append after reopen at %d", res.BaseOffset)
	}
}

func TestLockHeldTwice(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{})
	if _, err := OpenDir(root, Config{Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenDir: %v, want ErrLocked", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	d2, err := OpenDir(root, Config{Logger: quiet})
	if err != nil {
		t.Fatalf("OpenDir after Close: %v", err)
	}
	_ = d2.Close()
}

func TestReadSemantics(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 1500})
	// Batches of 5 records: offsets [0,5) [5,10) ... [45,50).
	var batches [][]byte
	for i := range 10 {
		b := batch(5, int64(i*10))
		mustAppend(t, l, b)
		batches = append(batches, b)
	}
	size := len(batches[0])
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int
		limit     int64
		wantBases []int64
		wantErr   error
	}{
		{"from zero, all", 0, 1 << 20, -1, []int64{0, 5, 10, 15, 20, 25, 30, 35, 40, 45}, nil},
		{"offset inside a batch", 7, 1 << 20, -1, []int64{5, 10, 15, 20, 25, 30, 35, 40, 45}, nil},
		{"maxBytes smaller than a batch", 12, 10, -1, []int64{10}, nil},
		{"maxBytes two batches", 0, 2*size + size/2, -1, []int64{0, 5}, nil},
		{"limit cuts", 3, 1 << 20, 15, []int64{0, 5, 10}, nil},
		{"limit inside a batch keeps it", 3, 1 << 20, 12, []int64{0, 5, 10}, nil},
		{"offset == limit", 20, 1 << 20, 20, nil, nil},
		{"offset == end", 50, 1 << 20, -1, nil, nil},
		{"limit beyond end", 45, 1 << 20, 1000, []int64{45}, nil},
		{"offset past end", 51, 1 << 20, -1, nil, ErrOffsetOutOfRange},
		{"negative offset", -1, 1 << 20, -1, nil, ErrOffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Read(tc.offset, tc.maxBytes, tc.limit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var bases []int64
			for _, info := range segmenttest.Infos(t, got) {
				bases = append(bases, info.BaseOffset)
			}
			if fmt.Sprint(bases) != fmt.Sprint(tc.wantBases) {
				t.Fatalf("bases = %v, want %v", bases, tc.wantBases)
			}
		})
	}
	// Start offset moves forward; reads below it are out of range.
	if err := l.SetStartOffset(17); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(16, 100, -1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if got, err := l.Read(17, 10, -1); err != nil || segmenttest.Infos(t, got)[0].BaseOffset != 15 {
		t.Fatalf("read at start: %v", err)
	}
}

func TestTimestamps(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 3000, IndexIntervalBytes: 700})
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty MaxTimestamp = %d,%d", ts, off)
	}
	if _, _, ok, err := l.OffsetForTimestamp(0); ok || err != nil {
		t.Fatal("timestamp found in empty log", err)
	}
	// Batch i (offsets [2i, 2i+2)) has max timestamp tsOf(i); not monotonic.
	tsOf := func(i int) int64 { return int64(100*i + 50*(i%3)) }
	for i := range 40 {
		mustAppend(t, l, segmenttest.Batch{FirstTimestamp: tsOf(i) - 1, Values: [][]byte{[]byte("a"), []byte("b")}}.Encode())
	}
	// Offset 2i has timestamp tsOf(i)-1, offset 2i+1 tsOf(i): the answer is the first record.
	for _, q := range []int64{-5, 0, 48, 49, 50, 51, 149, 150, 1000, 2345, 3950, 3951, 3999, 4000} {
		want, wantTS, wantOK := int64(-1), int64(-1), false
		for o := range int64(80) {
			if ts := tsOf(int(o/2)) - 1 + o%2; ts >= q {
				want, wantTS, wantOK = o, ts, true
				break
			}
		}
		got, ts, ok, err := l.OffsetForTimestamp(q)
		if err != nil || ok != wantOK || got != want || ts != wantTS {
			t.Errorf("OffsetForTimestamp(%d) = %d@%d,%v,%v, want %d@%d,%v", q, got, ts, ok, err, want, wantTS, wantOK)
		}
	}
	maxI := 0
	for i := range 40 {
		if tsOf(i) > tsOf(maxI) {
			maxI = i
		}
	}
	if ts, off := l.MaxTimestamp(); ts != tsOf(maxI) || off != int64(2*maxI) {
		t.Fatalf("MaxTimestamp = %d@%d, want %d@%d", ts, off, tsOf(maxI), 2*maxI)
	}
}

func TestConcurrentAppendWaitDurable(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentBytes: 64 << 10})
	const workers, per = 8, 50
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				res, err := l.Append(batch(1+i%3, int64(w*1000+i)))
				if err == nil {
					err = l.WaitDurable(ctx, res.LastOffset+1)
				}
				if err == nil && l.DurableOffset() <= res.LastOffset {
					err = fmt.Errorf("durable %d after waiting for %d", l.DurableOffset(), res.LastOffset+1)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// A reader polls concurrently.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		off := int64(0)
		for {
			select {
			case <-stop:
				return
			case <-l.Changed():
			}
			b, err := l.Read(off, 1<<20, -1)
			if err != nil {
				errs <- err
				return
			}
			s := segment.NewSplitter(b)
			for s.Next() {
				off = s.Info().NextOffset()
			}
			if s.Err() != nil {
				errs <- s.Err()
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	end := l.EndOffset()
	if l.DurableOffset() != end {
		t.Fatalf("durable %d != end %d", l.DurableOffset(), end)
	}
	got, err := l.Read(0, 1<<30, -1)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	for _, info := range segmenttest.Infos(t, got) {
		if info.BaseOffset != next {
			t.Fatalf("gap: batch at %d, want %d", info.BaseOffset, next)
		}
		next = info.NextOffset()
	}
	if next != end {
		t.Fatalf("read up to %d, end %d", next, end)
	}
}

func TestCrashRecovery(t *testing.T) {
	cases := []struct {
		name    string
		mangle  func(t *testing.T, path string, size int64)
		keepOff int64 // offsets expected to survive
	}{
		{"garbage appended", func(t *testing.T, p string, _ int64) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			_, _ = f.Write(bytes.Repeat([]byte{0xAB}, 500))
			_ = f.Close()
		}, 30},
		{"cut mid-batch", func(t *testing.T, p string, size int64) {
			if err := os.Truncate(p, size-40); err != nil {
				t.Fatal(err)
			}
		}, 27},
		{"cut mid-header", func(t *testing.T, p string, size int64) {
			if err := os.Truncate(p, size-int64(len(batch(3, 0)))+10); err != nil {
				t.Fatal(err)
			}
		}, 27},
		{"flipped byte in last batch", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			_, _ = f.WriteAt([]byte{0xFF}, size-5)
			_ = f.Close()
		}, 27},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			d := openTestDir(t, root, Config{SegmentBytes: 1 << 20})
			l, err := d.Log("p0")
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for i := range 10 {
				b := batch(3, int64(i))
				mustAppend(t, l, b)
				want = append(want, b...)
			}
			segs := l.Segments()
			active := segs[len(segs)-1]
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			tc.mangle(t, active.Path, active.Size)

			d2 := openTestDir(t, root, Config{})
			l2, err := d2.Log("p0")
			if err != nil {
				t.Fatal(err)
			}
			if got := l2.EndOffset(); got != tc.keepOff {
				t.Fatalf("end after recovery %d, want %d", got, tc.keepOff)
			}
			got, err := l2.Read(0, 1<<30, -1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want[:len(got)]) || len(segmenttest.Infos(t, got)) != int(tc.keepOff/3) {
				t.Fatalf("recovered prefix differs (%d bytes)", len(got))
			}
			st, _ := os.Stat(active.Path)
			if st.Size() != int64(len(got)) {
				t.Fatalf("file not truncated: %d bytes, %d valid", st.Size(), len(got))
			}
			if res := mustAppend(t, l2, batch(1, 0)); res.BaseOffset != tc.keepOff {
				t.Fatalf("next append at %d", res.BaseOffset)
			}
		})
	}
}

func TestCorruptSealedSegmentSetAside(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{SegmentBytes: 1000})
	l, _ := d.Log("p0")
	for i := range 12 {
		mustAppend(t, l, batch(2, int64(i)))
	}
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	_ = d.Close()
	// Corrupt the newest sealed segment's footer: everything older is cut off by the gap.
	bad := segs[len(segs)-2]
	f, _ := os.OpenFile(bad.Path, os.O_RDWR, 0)
	_, _ = f.WriteAt([]byte("XX"), bad.Size-3)
	_ = f.Close()

	d2 := openTestDir(t, root, Config{SegmentBytes: 1000})
	l2, err := d2.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bad.Path + corruptExt); err != nil {
		t.Fatalf("corrupt segment not set aside: %v", err)
	}
	if got := l2.StartOffset(); got != segs[len(segs)-1].BaseOffset {
		t.Fatalf("start %d, want the active segment's base %d", got, segs[len(segs)-1].BaseOffset)
	}
	if got := l2.EndOffset(); got != 24 {
		t.Fatalf("end %d, want 24", got)
	}
	matches, _ := filepath.Glob(filepath.Join(root, "p0", "*"+corruptExt))
	if len(matches) != len(segs)-1 {
		t.Fatalf("set aside %d files, want %d", len(matches), len(segs)-1)
	}
}

func TestDirParallelOpen(t *testing.T) {
	root := t.TempDir()
	d := openTestDir(t, root, Config{})
	const names, callers = 6, 4
	got := make([][]*Log, names)
	for i := range got {
		got[i] = make([]*Log, callers)
	}
	var wg sync.WaitGroup
	for i := range names {
		for j := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := d.Log(fmt.Sprintf("p%d", i))
				if err != nil {
					t.Error(err)
				}
				got[i][j] = l
			}()
		}
	}
	wg.Wait()
	for i := range got {
		for j := range got[i] {
			if got[i][j] == nil || got[i][j] != got[i][0] {
				t.Fatalf("log %d: caller %d got a different *Log", i, j)
			}
		}
	}
	// Log does not undo LogConfig's settings; LogConfig applies new ones.
	l, _ := d.LogConfig("p0", Config{SegmentBytes: 777})
	if l2, _ := d.Log("p0"); l2 != l || l.cfg.SegmentBytes != 777 {
		t.Fatalf("Log reset the per-log config to %d", l.cfg.SegmentBytes)
	}
}
