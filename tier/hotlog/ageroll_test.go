package hotlog

import (
	"context"
	"testing"
	"time"
)

// An idle log rolls its active segment once it is SegmentAge old, with no append or reader to
// wake it: the flusher arms an age timer when the segment gets its first batch.
func TestAgeRollWithoutFurtherAppends(t *testing.T) {
	_, l := openTestLog(t, Config{SegmentAge: 50 * time.Millisecond})
	mustAppend(t, l, batch(1, 0))
	deadline := time.Now().Add(30 * time.Second)
	for {
		segs := l.Segments()
		if len(segs) >= 2 && segs[0].Sealed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no roll by age: segments %+v", segs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The new active segment is empty: no further rolls.
	time.Sleep(200 * time.Millisecond)
	if segs := l.Segments(); len(segs) != 2 {
		t.Fatalf("an empty active segment rolled: %+v", segs)
	}
}

// A shorter segment age set on an open log (segment.ms altered) applies to the active segment at
// once: an idle log that holds data rolls by the new age, not the one its timer was armed with.
func TestAgeRollAfterSegmentAgeShortened(t *testing.T) {
	d, l := openTestLog(t, Config{SegmentAge: time.Hour})
	mustAppend(t, l, batch(1, 0))
	if err := l.WaitDurable(context.Background(), l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the flusher has armed its timer for an hour
	if _, err := d.LogConfig("p0", Config{SegmentAge: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		segs := l.Segments()
		if len(segs) >= 2 && segs[0].Sealed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no roll by the new age: segments %+v", segs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
