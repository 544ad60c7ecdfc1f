package hotlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// faultFS opens real files wrapped to record how much of each was fsynced and to fail syncs on
// demand. crash() freezes the synced sizes; cutToSynced then drops what a power loss would.
type faultFS struct {
	mu       sync.Mutex
	files    map[string]*faultFile
	crashed  bool
	failSync error
}

type faultFile struct {
	*os.File
	fs     *faultFS
	path   string
	synced int64
}

func newFaultFS() *faultFS { return &faultFS{files: make(map[string]*faultFile)} }

func (fs *faultFS) open(path string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: f, fs: fs, path: path, synced: st.Size()}
	fs.mu.Lock()
	fs.files[path] = ff
	fs.mu.Unlock()
	return ff, nil
}

func (f *faultFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.failSync != nil {
		return f.fs.failSync
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	if !f.fs.crashed {
		st, err := f.File.Stat()
		if err != nil {
			return err
		}
		f.synced = st.Size()
	}
	return nil
}

func (fs *faultFS) crash() {
	fs.mu.Lock()
	fs.crashed = true
	fs.mu.Unlock()
}

// cutToSynced truncates every file that still exists to its synced size plus keep of the unsynced
// tail (a crash may persist some unsynced pages, possibly cutting a batch).
func (fs *faultFS) cutToSynced(t *testing.T, keep func(unsynced int64) int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.files {
		// The file may have been renamed (.log → .seg) after it was opened.
		for _, p := range []string{f.path, f.path[:len(f.path)-len(filepath.Ext(f.path))] + sealedExt} {
			st, err := os.Stat(p)
			if err != nil {
				continue
			}
			if unsynced := st.Size() - f.synced; unsynced > 0 {
				if err := os.Truncate(p, f.synced+keep(unsynced)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// Every offset WaitDurable acknowledged survives a crash that loses all unsynced bytes, under
// concurrent appenders and rolls; recovery cuts any torn batch.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(int64) int64
	}{
		{"drop unsynced", func(int64) int64 { return 0 }},
		{"keep half of unsynced", func(n int64) int64 { return n / 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			ffs := newFaultFS()
			d := openTestDir(t, root, Config{SegmentBytes: 8 << 10, openFile: ffs.open})
			l, err := d.Log("p0")
			if err != nil {
				t.Fatal(err)
			}
			type acked struct {
				res   AppendResult
				bytes []byte
			}
			var mu sync.Mutex
			var acks []acked
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 40 {
						b := batch(1+(w+i)%4, int64(i))
						res, err := l.Append(b)
						if err != nil {
							t.Error(err)
							return
						}
						if i%3 == 0 { // only some appenders wait: the rest may be lost
							continue
						}
						if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acks = append(acks, acked{res, b})
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			// The power fails now: appends after this point never reach the disk's synced state.
			// (No roll after it: a roll's rename would be an operation after the crash.)
			if _, err := d.LogConfig("p0", Config{SegmentBytes: 1 << 30}); err != nil {
				t.Fatal(err)
			}
			ffs.crash()
			for range 5 {
				mustAppend(t, l, batch(3, 0))
			}
			endBefore := l.EndOffset()
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			ffs.cutToSynced(t, tc.keep)

			d2 := openTestDir(t, root, Config{SegmentBytes: 8 << 10})
			l2, err := d2.Log("p0")
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64][]byte{}
			all, err := l2.Read(0, 1<<30, -1)
			if err != nil {
				t.Fatal(err)
			}
			s := segment.NewSplitter(all)
			for s.Next() {
				got[s.Info().BaseOffset] = s.Batch()
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			for _, a := range acks {
				if !bytes.Equal(got[a.res.BaseOffset], a.bytes) {
					t.Fatalf("acknowledged batch at %d lost or changed (end after recovery %d)", a.res.BaseOffset, l2.EndOffset())
				}
			}
			if len(acks) == 0 || l2.EndOffset() >= endBefore {
				t.Fatalf("%d acknowledged; end %d after the crash, %d before: the crash lost nothing", len(acks), l2.EndOffset(), endBefore)
			}
		})
	}
}

// A failed fsync is sticky: waiters get the error, later appends are refused, and reopening
// recovers what reached the disk.
func TestFsyncFailureIsSticky(t *testing.T) {
	root := t.TempDir()
	ffs := newFaultFS()
	d := openTestDir(t, root, Config{openFile: ffs.open})
	l, _ := d.Log("p0")
	res := mustAppend(t, l, batch(2, 0))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected EIO")
	ffs.mu.Lock()
	ffs.failSync = boom
	ffs.mu.Unlock()
	res = mustAppend(t, l, batch(2, 0))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); !errors.Is(err, boom) {
		t.Fatalf("WaitDurable after failed fsync: %v", err)
	}
	if _, err := l.Append(batch(1, 0)); !errors.Is(err, boom) {
		t.Fatalf("Append after failed fsync: %v", err)
	}
	if err := l.Roll(); !errors.Is(err, boom) {
		t.Fatalf("Roll after failed fsync: %v", err)
	}
	if l.DurableOffset() != 2 {
		t.Fatalf("durable moved to %d", l.DurableOffset())
	}
	ffs.mu.Lock()
	ffs.failSync = nil
	ffs.mu.Unlock()
	_, l = reopen(t, root, d, Config{})
	if l.EndOffset() != 4 {
		t.Fatalf("recovered end %d, want 4 (the bytes did reach the file)", l.EndOffset())
	}
}

// Config.Sync fails the fsyncs of one log: that log fails (Failed fires, Err says why) while a
// sibling in the same Dir keeps working; the failed log, closed and reopened, is cut back to the
// offset it had made durable and serves again.
func TestSyncHookFailsOneLog(t *testing.T) {
	boom := errors.New("injected EIO")
	var mu sync.Mutex
	armed := false
	syncHook := func(f *os.File) error {
		mu.Lock()
		fail := armed && filepath.Base(filepath.Dir(f.Name())) == "bad"
		mu.Unlock()
		if fail {
			return boom
		}
		return f.Sync()
	}
	d := openTestDir(t, t.TempDir(), Config{Sync: syncHook})
	ctx := context.Background()
	bad, err := d.Log("bad")
	if err != nil {
		t.Fatal(err)
	}
	good, err := d.Log("good")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Log{bad, good} {
		res := mustAppend(t, l, batch(2, 0))
		if err := l.WaitDurable(ctx, res.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-bad.Failed():
		t.Fatal("Failed closed on a healthy log")
	default:
	}

	mu.Lock()
	armed = true
	mu.Unlock()
	res := mustAppend(t, bad, batch(3, 0))
	if err := bad.WaitDurable(ctx, res.LastOffset+1); !errors.Is(err, boom) {
		t.Fatalf("WaitDurable on the failing log: %v", err)
	}
	<-bad.Failed()
	if err := bad.Err(); !errors.Is(err, boom) {
		t.Fatalf("Err: %v", err)
	}
	durable := bad.DurableOffset()
	if durable != 2 || bad.EndOffset() != 5 {
		t.Fatalf("durable %d end %d, want 2 and 5", durable, bad.EndOffset())
	}
	res = mustAppend(t, good, batch(1, 0))
	if err := good.WaitDurable(ctx, res.LastOffset+1); err != nil {
		t.Fatalf("sibling log: %v", err)
	}
	if good.Err() != nil {
		t.Fatalf("sibling failed: %v", good.Err())
	}

	if err := bad.Close(); err != nil {
		t.Fatalf("Close of a failed log: %v", err)
	}
	mu.Lock()
	armed = false
	mu.Unlock()
	again, err := d.Log("bad")
	if err != nil {
		t.Fatal(err)
	}
	if again == bad {
		t.Fatal("Dir returned the closed, failed Log")
	}
	if err := again.TruncateTo(durable); err != nil {
		t.Fatal(err)
	}
	if again.EndOffset() != durable || again.DurableOffset() != durable {
		t.Fatalf("after reopen and truncation: end %d durable %d, want %d", again.EndOffset(), again.DurableOffset(), durable)
	}
	res = mustAppend(t, again, batch(4, 0))
	if res.BaseOffset != durable {
		t.Fatalf("append after recovery at %d, want %d", res.BaseOffset, durable)
	}
	if err := again.WaitDurable(ctx, res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if n := len(segmenttest.Infos(t, readAll(t, again, 0))); n != 2 {
		t.Fatalf("%d batches after recovery, want 2 (the durable one and the new one)", n)
	}

	if err := good.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-good.Failed():
		t.Fatal("a clean Close closed Failed")
	default:
	}
	if good.Err() != nil {
		t.Fatalf("Err after a clean Close: %v", good.Err())
	}
}
