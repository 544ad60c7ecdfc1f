package tier

import (
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// The functions here decide; the Uploader's partition loop does the I/O. They are pure so that table
// tests pin the rules down.

// uploadStep is the next thing a partition's upload loop should do with its sealed segments.
type uploadStep int

const (
	stepIdle    uploadStep = iota // nothing sealed waits
	stepUpload                    // upload seg as it is
	stepTrim                      // upload the part of seg from the tiered end on
	stepMoveLog                   // the catalog is empty and starts below seg: move its log start to seg's base first
	stepGap                       // seg starts past the tiered end: offsets are missing, cannot register
)

// catalogView is what the upload loop knows of its catalog.
type catalogView struct {
	logStart int64
	end      int64 // tiered end (logStart when no segment)
	hasSegs  bool
	bytes    int64 // sizes of the registered segment objects
}

func viewOf(c metadata.PartitionCatalog) catalogView {
	cv := catalogView{logStart: c.LogStartOffset, end: c.TieredEnd(), hasSegs: len(c.Segments) > 0}
	for _, s := range c.Segments {
		cv.bytes += s.Size
	}
	return cv
}

// nextUpload picks the first sealed segment holding offsets at or above the tiered end and says how
// to tier it. backlog counts the sealed segments (and their bytes) not yet wholly tiered.
func nextUpload(segs []hotlog.SegmentInfo, cv catalogView) (step uploadStep, seg hotlog.SegmentInfo, backlogSegs, backlogBytes int64) {
	for _, s := range segs {
		if !s.Sealed || s.NextOffset <= cv.end || s.NextOffset <= s.BaseOffset {
			continue
		}
		backlogSegs++
		backlogBytes += s.Size
		if step != stepIdle {
			continue
		}
		seg = s
		switch {
		case !cv.hasSegs && s.BaseOffset > cv.logStart:
			step = stepMoveLog
		case !cv.hasSegs || s.BaseOffset == cv.end:
			step = stepUpload
		case s.BaseOffset < cv.end:
			step = stepTrim
		default:
			step = stepGap
		}
	}
	return step, seg, backlogSegs, backlogBytes
}

// localDeleteBelow returns the offset to pass to hotlog.Log.DeleteSegmentsBelow for local retention,
// or -1 when nothing is due. Only sealed segments wholly below tieredEnd are candidates (all sealed
// segments when remote storage is off), oldest first and as a prefix: a segment that is not due
// keeps every later one too. A segment is due when its newest timestamp (its creation time when it
// has none) is older than ms, or when the log without it is still at least bytes long (Kafka's
// rules for retention.ms and retention.bytes).
func localDeleteBelow(segs []hotlog.SegmentInfo, tieredEnd int64, p Policy, now time.Time) int64 {
	ms, bytes := p.localLimits()
	if ms < 0 && bytes < 0 {
		return -1
	}
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	below := int64(-1)
	for i, s := range segs {
		if i == len(segs)-1 || !s.Sealed || (p.RemoteStorage && s.NextOffset > tieredEnd) {
			break
		}
		if !expired(s.MaxTimestamp, s.Created, ms, now) && !(bytes >= 0 && total-s.Size >= bytes) {
			break
		}
		total -= s.Size
		below = s.NextOffset
	}
	return below
}

// retentionStart returns the new log start that retention.ms / retention.bytes ask of a catalog, or
// -1 when nothing is due. localBytes is the size of the data above the tiered end (still only in the
// hot log), which counts toward retention.bytes. Segments leave as a prefix, as in localDeleteBelow.
func retentionStart(c metadata.PartitionCatalog, localBytes int64, p Policy, now time.Time) int64 {
	if p.RetentionMs < 0 && p.RetentionBytes < 0 {
		return -1
	}
	total := localBytes
	for _, s := range c.Segments {
		total += s.Size
	}
	start := int64(-1)
	for _, s := range c.Segments {
		if !expired(s.MaxTimestamp, s.CreatedAt, p.RetentionMs, now) && !(p.RetentionBytes >= 0 && total-s.Size >= p.RetentionBytes) {
			break
		}
		total -= s.Size
		start = s.NextOffset
	}
	return start
}

// expired reports whether data whose newest record is maxTS (ms; < 0 unknown, then created counts)
// is older than ms (< 0: never).
func expired(maxTS int64, created time.Time, ms int64, now time.Time) bool {
	if ms < 0 {
		return false
	}
	t := maxTS
	if t < 0 {
		if created.IsZero() {
			return false
		}
		t = created.UnixMilli()
	}
	return now.UnixMilli()-t > ms
}

// localBytesAbove sums the sizes of the local segments holding offsets at or above end.
func localBytesAbove(segs []hotlog.SegmentInfo, end int64) int64 {
	var n int64
	for _, s := range segs {
		if s.NextOffset > end {
			n += s.Size
		}
	}
	return n
}
