package tier

import (
	"testing"
	"time"
)

// The flusher's decisions, without its goroutine: when to roll, when to PUT, how long to wait.
func TestFlusherNext(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a, b := &partition{}, &partition{}
	ms := func(n int) time.Time { return now.Add(time.Duration(n) * time.Millisecond) }
	cases := []struct {
		name    string
		due     map[*partition]flushWant
		subs    []*submission
		expect  map[*partition]bool
		collect time.Time
		step    flushStep
		wait    time.Duration
	}{
		{name: "nothing pending waits for a kick", step: flushWait, wait: -1},
		{name: "earliest deadline ahead", due: map[*partition]flushWant{a: {ms(80), 10}, b: {ms(30), 10}}, step: flushWait, wait: 30 * time.Millisecond},
		{name: "a deadline reached rolls everyone", due: map[*partition]flushWant{a: {ms(80), 10}, b: {ms(0), 10}}, step: flushRoll},
		{name: "enough bytes roll before the deadline", due: map[*partition]flushWant{a: {ms(80), 60}, b: {ms(90), 40}}, step: flushRoll},
		{name: "a late image alone waits for its due time", subs: []*submission{{image: make([]byte, 5), due: ms(20)}}, step: flushWait, wait: 20 * time.Millisecond},
		{name: "images count toward the bytes", due: map[*partition]flushWant{a: {ms(80), 60}}, subs: []*submission{{image: make([]byte, 40), due: ms(50)}}, step: flushRoll},
		{name: "collecting waits for the rolled partitions", expect: map[*partition]bool{a: true}, collect: ms(150), step: flushWait, wait: 150 * time.Millisecond},
		{name: "collecting ends when all handed in", expect: map[*partition]bool{}, collect: ms(150), step: flushPut},
		{name: "collecting ends at the window", expect: map[*partition]bool{a: true}, collect: ms(0), step: flushPut},
		{name: "deadlines wait while collecting", due: map[*partition]flushWant{b: {ms(-5), 10}}, expect: map[*partition]bool{a: true}, collect: ms(10), step: flushWait, wait: 10 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &flusher{u: &Uploader{cfg: Config{SharedObjectBytes: 100}}, due: tc.due, subs: tc.subs, expect: tc.expect, collect: tc.collect}
			for _, w := range tc.due {
				f.dueBytes += w.bytes
			}
			step, wait := f.next(now)
			if step != tc.step || (step == flushWait && wait != tc.wait) {
				t.Fatalf("next = %v, %v; want %v, %v", step, wait, tc.step, tc.wait)
			}
		})
	}
}

// The floor keeps a node's flushes at most 1.5 per interval, however early deadlines come, and 2
// for an expedited partition (a full pipeline); after a flush of at least half an object, one per
// interval, expedited or not (objects fill to the size instead).
func TestSharedFloor(t *testing.T) {
	last := time.Unix(100, 0)
	ms := time.Millisecond
	for _, tc := range []struct {
		lastBytes int64
		expedited bool
		want      time.Duration
	}{{0, false, 200 * ms}, {4<<20 - 1, false, 200 * ms}, {4 << 20, false, 300 * ms}, {9 << 20, false, 300 * ms},
		{0, true, 150 * ms}, {4<<20 - 1, true, 150 * ms}, {4 << 20, true, 300 * ms}} {
		if got := sharedFloor(last, tc.lastBytes, 8<<20, 300*ms, tc.expedited); !got.Equal(last.Add(tc.want)) {
			t.Fatalf("after a flush of %d bytes (expedited %v): floor %v after it, want %v", tc.lastBytes, tc.expedited, got.Sub(last), tc.want)
		}
	}
}

// A partition's deadline only moves earlier until it is rolled: an expedited note is not undone by
// the partition's next ordinary one; no data takes it out.
func TestFlusherNoteKeepsEarliest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := &flusher{u: &Uploader{cfg: Config{SharedObjectBytes: 100}}, kick: make(chan struct{}, 1),
		due: map[*partition]flushWant{}, expect: map[*partition]bool{}}
	p := &partition{}
	f.note(p, now.Add(time.Hour), 10)
	f.note(p, now.Add(time.Second), 20) // expedited
	f.note(p, now.Add(time.Hour), 30)   // the next ordinary note
	if w := f.due[p]; !w.at.Equal(now.Add(time.Second)) || w.bytes != 30 || f.dueBytes != 30 {
		t.Fatalf("due %+v (sum %d), want the expedited deadline and the latest bytes", w, f.dueBytes)
	}
	f.note(p, time.Time{}, 0)
	if _, ok := f.due[p]; ok || f.dueBytes != 0 {
		t.Fatalf("a partition without data still due: %+v, sum %d", f.due, f.dueBytes)
	}
}

// last sums the bytes of the flushes within the interval up to the latest one, so that a small
// flush right after big ones still counts as fast data (the floor stays a whole interval).
func TestFlusherLastCountsTheInterval(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	f := &flusher{}
	if at, b := f.last(time.Second); !at.IsZero() || b != 0 {
		t.Fatalf("before any flush: %v, %d", at, b)
	}
	ms := time.Millisecond
	for _, r := range []struct {
		at    time.Duration
		bytes int64
	}{{0, 8 << 20}, {10 * ms, 8 << 20}, {105 * ms, 3 << 20}} {
		f.record(t0.Add(r.at), r.bytes)
	}
	for _, tc := range []struct {
		interval time.Duration
		want     int64
	}{{50 * ms, 3 << 20}, {100 * ms, 11 << 20}, {200 * ms, 19 << 20}} {
		if at, b := f.last(tc.interval); !at.Equal(t0.Add(105*ms)) || b != tc.want {
			t.Errorf("last(%v) = %v, %d; want the latest flush and %d bytes", tc.interval, at.Sub(t0), b, tc.want)
		}
	}
	// The floor after the 3 MiB tail: a whole interval, as the interval's flushes rolled 11 MiB.
	at, b := f.last(100 * ms)
	if floor := sharedFloor(at, b, 8<<20, 100*ms, false); !floor.Equal(t0.Add(205 * ms)) {
		t.Errorf("floor after the tail %v, want a whole interval after it", floor.Sub(at))
	}
	// Only the latest 8 flushes are kept: 20 more of 1 byte each within the interval sum to 8.
	for i := range 20 {
		f.record(t0.Add(time.Second+time.Duration(i)*ms), 1)
	}
	if _, b := f.last(time.Second); b != 8 {
		t.Errorf("last over 20 recent flushes of 1 byte: %d, want 8 (the ring's)", b)
	}
}
