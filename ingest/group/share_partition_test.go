package group

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func spans(ranges ...[2]int64) []BatchSpan {
	var out []BatchSpan
	for _, r := range ranges {
		out = append(out, BatchSpan{First: r[0], Last: r[1]})
	}
	return out
}

func TestSharePartitionLifecycle(t *testing.T) {
	now := time.Unix(1000, 0)
	lock := 30 * time.Second
	p := newSharePartition(0)
	log := spans([2]int64{0, 4}, [2]int64{5, 9})

	a := p.acquire(now, "a", log, 4, lock, 100)
	if want := []AcquiredRange{{0, 3, 1}}; !slices.Equal(a, want) {
		t.Fatalf("a acquired %v, want %v", a, want)
	}
	off, ok := p.fetchOffset(100)
	if !ok || off != 4 {
		t.Fatalf("fetch offset %d %v, want 4", off, ok)
	}
	b := p.acquire(now, "b", log, 100, lock, 100)
	if want := []AcquiredRange{{4, 9, 1}}; !slices.Equal(b, want) {
		t.Fatalf("b acquired %v, want %v (disjoint from a's)", b, want)
	}
	if _, ok := p.fetchOffset(100); ok && p.next() != 10 {
		t.Fatalf("nothing should be available")
	}
	// b may not acknowledge a's records; nothing of the batch is applied.
	if c := p.acknowledge(now, "b", 3, 4, []int8{AckAccept}, lock, 5); c != kerr.InvalidRecordState.Code {
		t.Fatalf("ack of another member's record: %d", c)
	}
	if c := p.acknowledge(now, "a", 0, 3, []int8{AckRelease, AckAccept, AckReject, AckAccept}, lock, 5); c != 0 {
		t.Fatalf("ack: %d", c)
	}
	if p.spso != 0 {
		t.Fatalf("spso %d, want 0 (offset 0 released)", p.spso)
	}
	// The released record comes back with a higher delivery count.
	got := p.acquire(now, "b", log, 100, lock, 100)
	if want := []AcquiredRange{{0, 0, 2}}; !slices.Equal(got, want) {
		t.Fatalf("redelivery %v, want %v", got, want)
	}
	if c := p.acknowledge(now, "b", 0, 0, []int8{AckAccept}, lock, 5); c != 0 {
		t.Fatalf("ack: %d", c)
	}
	if p.spso != 4 {
		t.Fatalf("spso %d, want 4", p.spso)
	}
	// b's lock on 4..9 expires: they are redelivered to a.
	later := now.Add(lock)
	p.expire(later, 5)
	got = p.acquire(later, "a", log, 100, lock, 100)
	if want := []AcquiredRange{{4, 9, 2}}; !slices.Equal(got, want) {
		t.Fatalf("after expiry %v, want %v", got, want)
	}
	// b's acknowledgement after its lock expired is refused.
	if c := p.acknowledge(later, "b", 4, 4, []int8{AckAccept}, lock, 5); c != kerr.InvalidRecordState.Code {
		t.Fatalf("ack after expiry: %d", c)
	}
	if c := p.acknowledge(later, "a", 4, 9, []int8{AckAccept}, lock, 5); c != 0 {
		t.Fatalf("ack: %d", c)
	}
	if p.spso != 10 || len(p.recs) != 0 {
		t.Fatalf("spso %d with %d tracked, want 10 and none", p.spso, len(p.recs))
	}
}

func TestSharePartitionDeliveryLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newSharePartition(0)
	log := spans([2]int64{0, 1})
	for dc := int16(1); dc <= 3; dc++ {
		got := p.acquire(now, "m", log, 1, time.Second, 100)
		if want := []AcquiredRange{{0, 0, dc}}; !slices.Equal(got, want) {
			t.Fatalf("delivery %d: %v, want %v", dc, got, want)
		}
		if c := p.acknowledge(now, "m", 0, 0, []int8{AckRelease}, time.Second, 3); c != 0 {
			t.Fatalf("release: %d", c)
		}
	}
	// The third release reached the limit: offset 0 is archived, offset 1 is next.
	got := p.acquire(now, "m", log, 10, time.Second, 100)
	if want := []AcquiredRange{{1, 1, 1}}; !slices.Equal(got, want) || p.spso != 1 {
		t.Fatalf("after the limit %v (spso %d), want %v", got, p.spso, want)
	}
}

func TestSharePartitionGapsControlAndWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newSharePartition(0)
	// Offsets 2..4 were compacted away; 5 is a transaction marker.
	log := []BatchSpan{{First: 0, Last: 1}, {First: 5, Last: 5, Control: true}, {First: 6, Last: 9}}
	got := p.acquire(now, "m", log, 100, time.Second, 8)
	if want := []AcquiredRange{{0, 1, 1}, {6, 7, 1}}; !slices.Equal(got, want) {
		t.Fatalf("acquired %v, want %v (the window ends at 8 offsets)", got, want)
	}
	if c := p.acknowledge(now, "m", 0, 1, []int8{AckAccept}, time.Second, 5); c != 0 {
		t.Fatalf("ack: %d", c)
	}
	if p.spso != 6 {
		t.Fatalf("spso %d, want 6 (gaps and the marker archived)", p.spso)
	}
	p.trim(8)
	if p.spso != 8 || len(p.recs) != 0 {
		t.Fatalf("after trim: spso %d, %d tracked", p.spso, len(p.recs))
	}
	if c := p.acknowledge(now, "m", 6, 7, []int8{AckAccept}, time.Second, 5); c != kerr.InvalidRecordState.Code {
		t.Fatalf("ack below the spso: %d", c)
	}
	if c := p.acknowledge(now, "m", 9, 8, []int8{AckAccept}, time.Second, 5); c != kerr.InvalidRequest.Code {
		t.Fatalf("inverted range: %d", c)
	}
	if c := p.acknowledge(now, "m", 8, 9, []int8{AckAccept, AckAccept, AckAccept}, time.Second, 5); c != kerr.InvalidRequest.Code {
		t.Fatalf("types not matching the range: %d", c)
	}
}
