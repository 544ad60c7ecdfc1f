package hotlog

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// gatedSync is a Config.Sync hook whose first fsync blocks until released and then returns
// first; later fsyncs go through at once. entered counts the fsyncs begun.
type gatedSync struct {
	mu      sync.Mutex
	calls   int
	entered chan int // receives each call's number as it begins
	release chan struct{}
	once    sync.Once
	first   error // what the first fsync returns once released
}

func newGatedSync(first error) *gatedSync {
	return &gatedSync{entered: make(chan int, 16), release: make(chan struct{}), first: first}
}

func (g *gatedSync) open() { g.once.Do(func() { close(g.release) }) }

func (g *gatedSync) sync(f *os.File) error {
	g.mu.Lock()
	g.calls++
	n := g.calls
	g.mu.Unlock()
	g.entered <- n
	if n == 1 {
		<-g.release
		if g.first != nil {
			return g.first
		}
	}
	return f.Sync()
}

func (g *gatedSync) waitEntered(t *testing.T, want int) {
	t.Helper()
	select {
	case n := <-g.entered:
		if n != want {
			t.Fatalf("fsync %d began, want %d", n, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("fsync %d never began", want)
	}
}

type waitResult struct{ err error }

func waitAsync(l *Log, upTo int64) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() { ch <- waitResult{l.WaitDurable(context.Background(), upTo)} }()
	return ch
}

// A batch appended while a group commit is in the kernel gets an fsync of its own at once rather
// than after that commit; it is credited only after the earlier one, whose outcome decides both.
func TestOverlappingCommitWaitsForTheEarlierOne(t *testing.T) {
	g := newGatedSync(nil)
	d := openTestDir(t, t.TempDir(), Config{Sync: g.sync})
	t.Cleanup(g.open) // before the Dir closes (cleanups run last first): Close waits for the fsync
	l, err := d.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	first := mustAppend(t, l, batch(2, 0))
	firstDone := waitAsync(l, first.LastOffset+1)
	g.waitEntered(t, 1) // the first commit is in the kernel, held there

	second := mustAppend(t, l, batch(3, 0))
	secondDone := waitAsync(l, second.LastOffset+1)
	g.waitEntered(t, 2) // the second began while the first is still running

	// The second fsync has returned, but the first has not: nothing is durable yet.
	time.Sleep(50 * time.Millisecond)
	select {
	case r := <-secondDone:
		t.Fatalf("the second commit was credited before the first ended (err %v)", r.err)
	case r := <-firstDone:
		t.Fatalf("the first commit was credited while its fsync ran (err %v)", r.err)
	default:
	}
	if got := l.DurableOffset(); got != 0 {
		t.Fatalf("durable %d while the first commit runs, want 0", got)
	}

	g.open()
	for name, ch := range map[string]<-chan waitResult{"first": firstDone, "second": secondDone} {
		if r := <-ch; r.err != nil {
			t.Fatalf("%s WaitDurable: %v", name, r.err)
		}
	}
	if got := l.DurableOffset(); got != 5 {
		t.Fatalf("durable %d, want 5", got)
	}
}

// When the earlier of two overlapping commits fails, the later one's success counts for nothing:
// two fsyncs of one file may share a writeback error that only one of them reports. Every waiter
// of both commits gets the error, the log fails, and no offset of either becomes durable.
func TestFailedCommitFailsTheOverlappingOne(t *testing.T) {
	boom := errors.New("injected EIO")
	g := newGatedSync(boom)
	d := openTestDir(t, t.TempDir(), Config{Sync: g.sync})
	t.Cleanup(g.open) // before the Dir closes (cleanups run last first): Close waits for the fsync
	l, err := d.Log("p0")
	if err != nil {
		t.Fatal(err)
	}
	first := mustAppend(t, l, batch(2, 0))
	firstDone := waitAsync(l, first.LastOffset+1)
	g.waitEntered(t, 1)
	second := mustAppend(t, l, batch(3, 0))
	secondDone := waitAsync(l, second.LastOffset+1)
	g.waitEntered(t, 2)

	g.open()
	for name, ch := range map[string]<-chan waitResult{"first": firstDone, "second": secondDone} {
		if r := <-ch; !errors.Is(r.err, boom) {
			t.Fatalf("%s WaitDurable: %v, want the injected error", name, r.err)
		}
	}
	<-l.Failed()
	if got := l.DurableOffset(); got != 0 {
		t.Fatalf("durable %d after the first commit failed, want 0", got)
	}
}
