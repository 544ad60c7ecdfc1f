package hotlog

import (
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
