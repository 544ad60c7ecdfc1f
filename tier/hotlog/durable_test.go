package hotlog

import (
	"context"
	"testing"
	"time"
)

// A reader bounded by DurableOffset needs no producer waiting for durability: holding
// DurableChanged makes the flusher fsync what is appended, and the channel fires when it has.
func TestDurableChangedWakesOnFsync(t *testing.T) {
	_, l := openTestLog(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cases := []struct {
		name        string
		takeFirst   bool // take the channel before the append (a waiting long poll) or after
		appendCount int
	}{
		{"taken before the append", true, 1},
		{"taken after the appends", false, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ch <-chan struct{}
			if tc.takeFirst {
				ch = l.DurableChanged()
			}
			for i := 0; i < tc.appendCount; i++ {
				mustAppend(t, l, batch(2, 1000))
			}
			if !tc.takeFirst {
				ch = l.DurableChanged()
			}
			end := l.EndOffset()
			for l.DurableOffset() < end {
				select {
				case <-ch:
					ch = l.DurableChanged()
				case <-ctx.Done():
					t.Fatalf("durable offset stuck at %d below the end %d", l.DurableOffset(), end)
				}
			}
		})
	}
}

// The channel also fires on truncation and close, so no reader waits forever on a dead log.
func TestDurableChangedFiresOnTruncateAndClose(t *testing.T) {
	_, l := openTestLog(t, Config{})
	mustAppend(t, l, batch(2, 1000))
	if err := l.WaitDurable(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	ch := l.DurableChanged()
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	<-ch // a hang here fails the test by its timeout
	if got := l.DurableOffset(); got != 0 {
		t.Fatalf("durable offset %d after truncation to 0", got)
	}
	ch = l.DurableChanged()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	<-ch
}

// Unrolled reports what the next roll will carry: since when, and the oldest producer timestamp.
func TestUnrolled(t *testing.T) {
	_, l := openTestLog(t, Config{})
	if _, _, ok := l.Unrolled(); ok {
		t.Fatal("an empty log reports unrolled data")
	}
	before := time.Now()
	mustAppend(t, l, batch(2, 5000))
	mustAppend(t, l, batch(2, 3000))
	mustAppend(t, l, batch(2, 4000))
	first, oldest, ok := l.Unrolled()
	if !ok || oldest != 3000 || first.Before(before) || first.After(time.Now()) {
		t.Fatalf("unrolled since %v (test began %v), oldest %d, ok %v; want the first append's time and 3000", first, before, oldest, ok)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := l.Unrolled(); ok {
		t.Fatal("unrolled data reported right after a roll")
	}
	mustAppend(t, l, batch(1, 7000))
	if _, oldest, ok := l.Unrolled(); !ok || oldest != 7000 {
		t.Fatalf("after the roll: oldest %d ok %v, want 7000", oldest, ok)
	}
}
