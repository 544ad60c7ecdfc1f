package hotlog

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/tier/segment"
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

// Unrolled reports what the next roll will carry: since when, the oldest producer timestamp, and
// its bytes.
func TestUnrolled(t *testing.T) {
	_, l := openTestLog(t, Config{})
	if _, _, _, ok := l.Unrolled(); ok {
		t.Fatal("an empty log reports unrolled data")
	}
	before := time.Now()
	var size int64
	for _, ts := range []int64{5000, 3000, 4000} {
		b := batch(2, ts)
		size += int64(len(b))
		mustAppend(t, l, b)
	}
	first, oldest, bytes, ok := l.Unrolled()
	if !ok || oldest != 3000 || bytes != size || first.Before(before) || first.After(time.Now()) {
		t.Fatalf("unrolled since %v (test began %v), oldest %d, %d bytes, ok %v; want the first append's time, 3000 and %d",
			first, before, oldest, bytes, ok, size)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := l.Unrolled(); ok {
		t.Fatal("unrolled data reported right after a roll")
	}
	mustAppend(t, l, batch(1, 7000))
	if _, oldest, _, ok := l.Unrolled(); !ok || oldest != 7000 {
		t.Fatalf("after the roll: oldest %d ok %v, want 7000", oldest, ok)
	}
}

// Take hands the active segment's batches over without sealing it: Unrolled then starts after
// them, Segments reports the part taken, reads still see every batch, and a truncation below the
// taken part takes the taken part back with it.
func TestTake(t *testing.T) {
	_, l := openTestLog(t, Config{})
	mustAppend(t, l, batch(2, 5000))
	b := batch(3, 1000)
	mustAppend(t, l, b)
	if end := l.Take(); end != 5 {
		t.Fatalf("Take returned %d, want the end 5", end)
	}
	if _, _, _, ok := l.Unrolled(); ok {
		t.Fatal("unrolled data reported right after a take")
	}
	segs := l.Segments()
	act := segs[len(segs)-1]
	if len(segs) != 1 || act.Sealed || act.TakenNext != 5 || act.TakenSize != act.Size {
		t.Fatalf("after a take: %+v; want one active segment taken whole", segs)
	}
	before := time.Now()
	later := batch(1, 9000)
	mustAppend(t, l, later)
	first, oldest, bytes, ok := l.Unrolled()
	if !ok || oldest != 9000 || bytes != int64(len(later)) || first.Before(before) {
		t.Fatalf("after a take and an append: since %v, oldest %d, %d bytes, ok %v; want now, 9000, %d", first, oldest, bytes, ok, len(later))
	}
	got, err := l.Read(0, 1<<20, -1)
	n := 0
	for sp := segment.NewSplitter(got); sp.Next(); {
		n++
	}
	if err != nil || n != 3 {
		t.Fatalf("read after a take: %d batches, %v; want all 3", n, err)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	segs = l.Segments()
	if act := segs[len(segs)-1]; act.TakenNext != 2 || act.TakenSize != act.Size {
		t.Fatalf("after truncating to 2: %+v; want taken up to 2, the whole segment", act)
	}
	if _, _, _, ok := l.Unrolled(); ok {
		t.Fatal("unrolled data reported after truncating below the taken part")
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
