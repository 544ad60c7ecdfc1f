package hotlog

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// strata_hotlog_bytes sums the open logs' files and forgets a closed log.
func TestHotlogBytesGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	d := openTestDir(t, t.TempDir(), Config{Metrics: m})
	a, err := d.Log("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Log("b")
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, a, batch(3, 1000))
	mustAppend(t, b, batch(2, 1000))
	if err := a.Roll(); err != nil { // sealed: the index and footer count too
		t.Fatal(err)
	}
	size := func(l *Log) float64 {
		var n int64
		for _, s := range l.Segments() {
			n += s.Size
		}
		return float64(n)
	}
	if got, want := testutil.ToFloat64(m.Live), size(a)+size(b); got != want || got == 0 {
		t.Fatalf("gauge %v, want %v", got, want)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := testutil.ToFloat64(m.Live), size(a); got != want {
		t.Fatalf("after closing b: gauge %v, want %v", got, want)
	}
	if n, err := testutil.GatherAndCount(reg, "strata_hotlog_bytes"); err != nil || n != 1 {
		t.Fatalf("strata_hotlog_bytes gathered %d times: %v", n, err)
	}
}
