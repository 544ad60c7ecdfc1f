package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A share partition is KIP-932's per-(group, partition) delivery state, a state machine without
// I/O: the driver reads the log and passes in the batches it read; the machine decides which
// records of them the asking member acquires. Records in [spso, next) are tracked one by one:
//
//	          acquire (deliveries++)           accept
//	available ─────────────────────▶ acquired ───────────▶ acknowledged
//	    ▲                              │  │    reject, gap
//	    └── release, lock expiry ──────┘  └──────────────▶ archived
//	        (archived instead once deliveries reach the limit)
//
// The share-partition start offset (SPSO) moves past every leading acknowledged or archived
// record; offsets at or past next (the SPEO plus one) have never been acquired. At most
// maxLocks offsets are tracked, so a record held at the SPSO bounds how far ahead members read.

// Acknowledge types (KIP-932, KIP-1222's renew).
const (
	AckGap     int8 = 0
	AckAccept  int8 = 1
	AckRelease int8 = 2
	AckReject  int8 = 3
	AckRenew   int8 = 4
)

type recState uint8

const (
	recAvailable recState = iota
	recAcquired
	recAcknowledged
	recArchived
)

type shareRec struct {
	state      recState
	deliveries int16
	owner      string
	until      time.Time // the acquisition lock's expiry while acquired
}

// BatchSpan is one record batch the driver read: its offsets and whether it holds control
// records (transaction markers), which are never delivered.
type BatchSpan struct {
	First, Last int64
	Control     bool
}

// AcquiredRange is a run of consecutive offsets acquired with the same delivery count.
type AcquiredRange struct {
	First, Last   int64
	DeliveryCount int16
}

type sharePartition struct {
	spso int64
	recs []shareRec // recs[i] is offset spso+i; len(recs) = next - spso
}

func newSharePartition(start int64) *sharePartition { return &sharePartition{spso: start} }

func (p *sharePartition) next() int64 { return p.spso + int64(len(p.recs)) }

// expire returns records whose acquisition lock passed to available (or archived at the limit)
// and counts them.
func (p *sharePartition) expire(now time.Time, limit int16) int {
	n := 0
	for i := range p.recs {
		r := &p.recs[i]
		if r.state == recAcquired && !r.until.After(now) {
			p.releaseRec(r, limit)
			n++
		}
	}
	p.advance()
	return n
}

func (p *sharePartition) releaseRec(r *shareRec, limit int16) {
	r.owner, r.until = "", time.Time{}
	if r.deliveries >= limit {
		r.state = recArchived
	} else {
		r.state = recAvailable
	}
}

// advance moves the SPSO past leading finished records.
func (p *sharePartition) advance() {
	n := 0
	for n < len(p.recs) && (p.recs[n].state == recAcknowledged || p.recs[n].state == recArchived) {
		n++
	}
	if n > 0 {
		p.spso += int64(n)
		p.recs = append(p.recs[:0], p.recs[n:]...)
	}
}

// trim moves the SPSO up to logStart: records no longer in the log cannot be delivered.
func (p *sharePartition) trim(logStart int64) {
	if logStart <= p.spso {
		return
	}
	drop := min(logStart-p.spso, int64(len(p.recs)))
	p.recs = append(p.recs[:0], p.recs[drop:]...)
	p.spso = logStart
}

// fetchOffset is where the driver should read from: the first available record, else next. ok is
// false when there is nothing to acquire (every tracked record is held and the window is full).
func (p *sharePartition) fetchOffset(maxLocks int) (int64, bool) {
	for i := range p.recs {
		if p.recs[i].state == recAvailable {
			return p.spso + int64(i), true
		}
	}
	return p.next(), len(p.recs) < maxLocks
}

// acquire gives member up to maxRecs available records of batches (ascending, as read from the log
// at fetchOffset or below), locked until now+lock.
func (p *sharePartition) acquire(now time.Time, member string, batches []BatchSpan, maxRecs int, lock time.Duration, maxLocks int) []AcquiredRange {
	var out []AcquiredRange
	add := func(o int64, dc int16) {
		if n := len(out); n > 0 && out[n-1].Last == o-1 && out[n-1].DeliveryCount == dc {
			out[n-1].Last = o
			return
		}
		out = append(out, AcquiredRange{First: o, Last: o, DeliveryCount: dc})
	}
	taken := 0
batches:
	for _, b := range batches {
		for o := max64(b.First, p.spso); o <= b.Last && taken < maxRecs; o++ {
			if o >= p.next() {
				// Offsets between the tracked end and this batch are not in the log (compacted away).
				for p.next() < o && len(p.recs) < maxLocks {
					p.recs = append(p.recs, shareRec{state: recArchived})
				}
				if p.next() < o || len(p.recs) >= maxLocks {
					break batches
				}
				p.recs = append(p.recs, shareRec{state: recAvailable})
			}
			r := &p.recs[o-p.spso]
			if r.state != recAvailable {
				continue
			}
			if b.Control {
				r.state = recArchived
				continue
			}
			r.state, r.owner, r.until = recAcquired, member, now.Add(lock)
			r.deliveries++
			add(o, r.deliveries)
			taken++
		}
	}
	p.advance()
	return out
}

// acknowledge applies one acknowledgement batch of member: types has one entry for the whole
// range or one per offset. Every offset must be acquired by member under a live lock, or nothing
// is applied (INVALID_RECORD_STATE).
func (p *sharePartition) acknowledge(now time.Time, member string, first, last int64, types []int8, lock time.Duration, limit int16) int16 {
	if first > last || len(types) != 1 && int64(len(types)) != last-first+1 {
		return kerr.InvalidRequest.Code
	}
	for _, t := range types {
		if t < AckGap || t > AckRenew {
			return kerr.InvalidRequest.Code
		}
	}
	if first < p.spso || last >= p.next() {
		return kerr.InvalidRecordState.Code
	}
	for o := first; o <= last; o++ {
		r := &p.recs[o-p.spso]
		if r.state != recAcquired || r.owner != member || !r.until.After(now) {
			return kerr.InvalidRecordState.Code
		}
	}
	for o := first; o <= last; o++ {
		t := types[0]
		if len(types) > 1 {
			t = types[o-first]
		}
		r := &p.recs[o-p.spso]
		switch t {
		case AckAccept:
			r.state, r.owner = recAcknowledged, ""
		case AckGap, AckReject:
			r.state, r.owner = recArchived, ""
		case AckRelease:
			p.releaseRec(r, limit)
		case AckRenew:
			r.until = now.Add(lock)
		}
	}
	p.advance()
	return 0
}

// releaseMember returns every record member holds (its session closed or it left the group).
func (p *sharePartition) releaseMember(member string, limit int16) {
	for i := range p.recs {
		if r := &p.recs[i]; r.state == recAcquired && r.owner == member {
			p.releaseRec(r, limit)
		}
	}
	p.advance()
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
