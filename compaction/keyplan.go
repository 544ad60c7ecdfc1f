package compaction

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// Topic configs of key compaction, with Kafka's names and defaults.
const (
	ConfigCleanupPolicy          = "cleanup.policy"
	ConfigMinCleanableDirtyRatio = "min.cleanable.dirty.ratio"
	ConfigMinCompactionLagMs     = "min.compaction.lag.ms"
	ConfigMaxCompactionLagMs     = "max.compaction.lag.ms"
	ConfigDeleteRetentionMs      = "delete.retention.ms"
	ConfigSegmentBytes           = "segment.bytes"
)

// KeyPolicy is a compacted topic's configs, as key compaction reads them.
type KeyPolicy struct {
	MinCleanableDirtyRatio float64 // default 0.5
	MinCompactionLagMs     int64   // default 0
	MaxCompactionLagMs     int64   // default math.MaxInt64 (never forces a cleaning)
	DeleteRetentionMs      int64   // default 86400000 (1 day)
	// SegmentBytes caps the inputs of one rewritten object (with Policy.TargetBytes); 0: unset.
	SegmentBytes int64
}

// DefaultKeyPolicy is Kafka's defaults.
var DefaultKeyPolicy = KeyPolicy{MinCleanableDirtyRatio: 0.5, MaxCompactionLagMs: math.MaxInt64,
	DeleteRetentionMs: 24 * 60 * 60 * 1000}

// KeyPolicyFromConfigs reads a topic's explicitly set configs. compact is whether cleanup.policy
// names compact (alone or with delete); the other values are defaulted as in Kafka. A bad value is
// ErrConfig (the broker refuses them with INVALID_CONFIG before they are stored, so this is for
// configs written by other means).
func KeyPolicyFromConfigs(cfgs map[string]string) (p KeyPolicy, compact bool, err error) {
	p = DefaultKeyPolicy
	for _, item := range strings.Split(cfgs[ConfigCleanupPolicy], ",") {
		if strings.TrimSpace(item) == "compact" {
			compact = true
		}
	}
	long := func(name string, lo int64, dst *int64) {
		v, ok := cfgs[name]
		if !ok || err != nil {
			return
		}
		n, perr := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if perr != nil || n < lo {
			err = fmt.Errorf("%w: %s=%q: want a long of at least %d", ErrConfig, name, v, lo)
			return
		}
		*dst = n
	}
	long(ConfigMinCompactionLagMs, 0, &p.MinCompactionLagMs)
	long(ConfigMaxCompactionLagMs, 1, &p.MaxCompactionLagMs)
	long(ConfigDeleteRetentionMs, 0, &p.DeleteRetentionMs)
	long(ConfigSegmentBytes, 1, &p.SegmentBytes)
	if v, ok := cfgs[ConfigMinCleanableDirtyRatio]; ok && err == nil {
		f, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if perr != nil || !(f >= 0 && f <= 1) {
			err = fmt.Errorf("%w: %s=%q: want a number in [0, 1]", ErrConfig, ConfigMinCleanableDirtyRatio, v)
		}
		p.MinCleanableDirtyRatio = f
	}
	if err == nil && p.MinCompactionLagMs > p.MaxCompactionLagMs {
		err = fmt.Errorf("%w: %s %d above %s %d", ErrConfig, ConfigMinCompactionLagMs, p.MinCompactionLagMs,
			ConfigMaxCompactionLagMs, p.MaxCompactionLagMs)
	}
	if err != nil {
		return DefaultKeyPolicy, compact, err
	}
	return p, compact, nil
}

// cleanState is what key compaction remembers of a partition between passes (see keystate.go for
// where it is kept). Offsets below CleanedTo have been cleaned: every record there was compared
// with the latest of its key when it was cleaned. Horizons say when each cleaned range was first
// cleaned, which starts the delete.retention.ms clock of its tombstones; below TombstonesGone no
// tombstone is left. The zero value is a partition never cleaned.
type cleanState struct {
	TopicID        string    `json:"topic_id"`
	CleanedTo      int64     `json:"cleaned_to"`
	TombstonesGone int64     `json:"tombstones_gone"`
	Horizons       []horizon `json:"horizons,omitempty"`
}

// horizon: the offsets from the previous horizon's End (or TombstonesGone) up to End were first
// cleaned at CleanedAt (Unix milliseconds).
type horizon struct {
	End       int64 `json:"end"`
	CleanedAt int64 `json:"cleaned_at"`
}

// maxHorizons bounds the state's size: older neighbours are merged beyond it, keeping the later
// time, so a tombstone is only ever removed later than its own clock says, never sooner.
const maxHorizons = 256

// tombstonesExpiredBelow is the offset below which every tombstone's delete.retention.ms has run
// out at now.
func (s cleanState) tombstonesExpiredBelow(now, retentionMs int64) int64 {
	below := s.TombstonesGone
	for _, h := range s.Horizons {
		if h.CleanedAt > now-retentionMs { // not expired yet, nor the later ones
			break
		}
		below = max(below, h.End)
	}
	return below
}

// cleaned returns the state after a pass, at now, that cleaned up to cleanedTo (more than s.CleanedTo
// when it compared a dirty range, in which it saw tombstones or not) and removed every tombstone
// below tombstonesGone. A range cleaned without tombstones gets no horizon of its own (the next
// one, later, covers it), so that expiring horizons only call for passes where tombstones are.
func (s cleanState) cleaned(topicID string, cleanedTo, tombstonesGone, now int64, tombstones bool) cleanState {
	n := cleanState{TopicID: topicID, CleanedTo: max(s.CleanedTo, cleanedTo), TombstonesGone: max(s.TombstonesGone, tombstonesGone)}
	for _, h := range s.Horizons {
		if h.End > n.TombstonesGone {
			n.Horizons = append(n.Horizons, h)
		}
	}
	if cleanedTo > s.CleanedTo && tombstones {
		n.Horizons = append(n.Horizons, horizon{End: cleanedTo, CleanedAt: now})
	}
	for len(n.Horizons) > maxHorizons {
		n.Horizons[1].CleanedAt = max(n.Horizons[0].CleanedAt, n.Horizons[1].CleanedAt)
		n.Horizons = n.Horizons[1:]
	}
	return n
}

// Reasons a partition is cleaned (the label of strata_compaction_key_cleanings_total).
const (
	reasonRatio      = "dirty_ratio"
	reasonMaxLag     = "max_lag"
	reasonTombstones = "tombstones"
)

// cleanPlan is planClean's judgement of one partition.
type cleanPlan struct {
	// Segs are the cleanable segments: from the catalog's first, up to the first whose records
	// are not all older than min.compaction.lag.ms (or the tiered end).
	Segs []metadata.SegmentRef
	// DirtyFrom is the first offset not cleaned yet (at most the cleanable end).
	DirtyFrom int64
	// DirtyBytes and TotalBytes size the dirty part and all of Segs (a segment that DirtyFrom
	// splits counts in proportion to its offsets).
	DirtyBytes, TotalBytes int64
	Ratio                  float64
	// Lag is how old the oldest dirty record is, in milliseconds (0 when nothing is dirty).
	LagMs int64
	// TombstonesBelow is the offset below which tombstones may be removed now.
	TombstonesBelow int64
	// Reason is why the partition should be cleaned now, "" when it should not.
	Reason string
}

// End is the end of the cleanable range.
func (p cleanPlan) End() int64 {
	if len(p.Segs) == 0 {
		return p.DirtyFrom
	}
	return p.Segs[len(p.Segs)-1].NextOffset
}

// DirtyRecords bounds the records (so the distinct keys) of the dirty range from above: the
// catalog's record counts of the segments it touches, or its offsets where a count is missing.
func (p cleanPlan) DirtyRecords() int64 {
	var n int64
	for _, s := range p.Segs {
		if s.NextOffset <= p.DirtyFrom {
			continue
		}
		span := s.NextOffset - max(s.BaseOffset, p.DirtyFrom)
		if s.Records > 0 {
			span = min(span, s.Records)
		}
		n += span
	}
	return n
}

// planClean judges a partition at now (Unix milliseconds) from its catalog and its clean state, as
// Kafka's cleaner manager does with its logs: clean when the dirty ratio reaches
// min.cleanable.dirty.ratio, when the oldest dirty record is older than max.compaction.lag.ms, or
// (here) when tombstones have passed delete.retention.ms and are still there. It is pure.
func planClean(segs []metadata.SegmentRef, st cleanState, kp KeyPolicy, now int64) cleanPlan {
	var p cleanPlan
	for _, s := range segs {
		newest := s.MaxTimestamp
		if newest < 0 {
			newest = s.CreatedAt.UnixMilli()
		}
		if s.NextOffset <= s.BaseOffset || newest > now-kp.MinCompactionLagMs {
			break
		}
		p.Segs = append(p.Segs, s)
	}
	if len(p.Segs) == 0 {
		return p
	}
	end := p.End()
	p.DirtyFrom = min(max(st.CleanedTo, p.Segs[0].BaseOffset), end)
	for _, s := range p.Segs {
		p.TotalBytes += s.Size
		switch {
		case s.NextOffset <= p.DirtyFrom:
		case s.BaseOffset >= p.DirtyFrom:
			p.DirtyBytes += s.Size
			if p.LagMs == 0 {
				p.LagMs = max(now-oldest(s), 1)
			}
		default:
			p.DirtyBytes += int64(float64(s.Size) * float64(s.NextOffset-p.DirtyFrom) / float64(s.NextOffset-s.BaseOffset))
			p.LagMs = max(now-oldest(s), 1)
		}
	}
	if p.TotalBytes > 0 {
		p.Ratio = float64(p.DirtyBytes) / float64(p.TotalBytes)
	}
	p.TombstonesBelow = min(st.tombstonesExpiredBelow(now, kp.DeleteRetentionMs), p.DirtyFrom)
	switch {
	case p.DirtyBytes > 0 && p.Ratio >= kp.MinCleanableDirtyRatio:
		p.Reason = reasonRatio
	case p.DirtyFrom < end && p.LagMs > kp.MaxCompactionLagMs:
		p.Reason = reasonMaxLag
	case p.TombstonesBelow > st.TombstonesGone:
		p.Reason = reasonTombstones
	}
	return p
}

func oldest(s metadata.SegmentRef) int64 {
	if s.MinTimestamp >= 0 {
		return s.MinTimestamp
	}
	return s.CreatedAt.UnixMilli()
}

// groupRewrite splits segs (consecutive, from a catalog) into the groups that each become one
// rewritten object: consecutive segments whose summed size stays within maxBytes (a segment larger
// than that is a group of its own). It is pure.
func groupRewrite(segs []metadata.SegmentRef, maxBytes int64) [][]metadata.SegmentRef {
	var out [][]metadata.SegmentRef
	var run []metadata.SegmentRef
	var bytes int64
	for _, s := range segs {
		if len(run) > 0 && (bytes+s.Size > maxBytes || s.BaseOffset != run[len(run)-1].NextOffset) {
			out = append(out, run)
			run, bytes = nil, 0
		}
		run = append(run, s)
		bytes += s.Size
	}
	if len(run) > 0 {
		out = append(out, run)
	}
	return out
}

// rewriteGeneration is the generation of the object that rewrites g (tier.RewrittenObjectKey):
// one more than the highest of its inputs' (0 for uploaded and merged keys), so that no rewrite
// reuses a key of an object that was ever in the catalog.
func rewriteGeneration(g []metadata.SegmentRef) int64 {
	var gen int64
	for _, s := range g {
		if k, err := tier.ParseObjectKey(s.Key); err == nil {
			gen = max(gen, k.Generation)
		}
	}
	return gen + 1
}
