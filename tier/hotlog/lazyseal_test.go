package hotlog

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
)

// TestLazySeal: with LazySeal neither a roll nor the group-commit flusher fsyncs anything (no one
// waits for the log's durability); the segments it sealed are fsynced when
// LazySeal is turned off (before the log's fsync acknowledges anything again) and not again after;
// without LazySeal every roll fsyncs its sealed segment.
func TestLazySeal(t *testing.T) {
	var syncs atomic.Int64
	d := openTestDir(t, t.TempDir(), Config{Sync: func(f *os.File) error { syncs.Add(1); return f.Sync() }})
	l, err := d.LogConfig("p0", Config{LazySeal: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustAppend(t, l, batch(5, 1000))
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d fsyncs during three lazy rolls, want none", n)
	}
	if got := len(l.Segments()); got != 4 {
		t.Fatalf("%d segments, want 3 sealed and the active one", got)
	}
	if _, err := d.LogConfig("p0", Config{LazySeal: false}); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 3 {
		t.Fatalf("turning LazySeal off fsynced %d segments, want the 3 sealed lazily", n)
	}
	res := mustAppend(t, l, batch(5, 1000))
	if err := l.WaitDurable(context.Background(), res.LastOffset+1); err != nil { // a group commit
		t.Fatal(err)
	}
	before := syncs.Load()
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != before+1 {
		t.Fatalf("%d fsyncs in an ordinary roll, want 1 (the sealed segment's)", n-before)
	}
	if _, err := d.LogConfig("p0", Config{LazySeal: false}); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != before+1 {
		t.Fatalf("%d fsyncs after applying the same config again, want none", n-before-1)
	}
}

// TestLazySealSyncedOnClose: segments sealed lazily are fsynced when the log closes, and the log
// reopens with every record.
func TestLazySealSyncedOnClose(t *testing.T) {
	var syncs atomic.Int64
	dir := t.TempDir()
	cfg := Config{Sync: func(f *os.File) error { syncs.Add(1); return f.Sync() }, Logger: quiet}
	d, err := OpenDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := d.LogConfig("p0", Config{LazySeal: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		mustAppend(t, l, batch(5, 1000))
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n < 2 {
		t.Fatalf("%d fsyncs at close, want the 2 lazily sealed segments", n)
	}
	d2 := openTestDir(t, dir, Config{})
	l2, err := d2.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	if end := l2.EndOffset(); end != 10 {
		t.Fatalf("reopened log ends at %d, want 10", end)
	}
}
