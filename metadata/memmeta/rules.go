package memmeta

import (
	"fmt"
	"slices"
	"sort"

	"github.com/strata-log/strata/metadata"
)

// The functions below are the catalog rules every Store applies to a partition's catalog. They are
// pure: they mutate only the catalog passed in and do no I/O, so a backend can run them inside its own
// compare-and-swap loop and a table test can pin them down. Callers own the catalog and must pass a
// private copy (see CloneCatalog) when the original may be shared.
//
// Rules, beyond those in the metadata package doc:
//   - A segment is valid when Key is non-empty, BaseOffset >= 0 and NextOffset > BaseOffset.
//   - Two segments are "the same" when Key, BaseOffset, NextOffset and Size agree; timestamps and
//     CreatedAt are not compared, so a retry that rebuilt the ref still matches.
//   - On an empty catalog a new segment must hold LogStartOffset (BaseOffset <= LogStartOffset <
//     NextOffset); after that each segment starts where the previous one ended.
//   - A write under an epoch newer than the catalog's raises the catalog's epoch.
//   - A retried write that already took effect succeeds without changing anything, even if the writer
//     has been fenced since: the catalog holds exactly what it asked for.

// CloneCatalog returns a deep copy of c.
func CloneCatalog(c metadata.PartitionCatalog) metadata.PartitionCatalog {
	c.Segments = slices.Clone(c.Segments)
	return c
}

// SameSegment reports whether a and b describe the same object (see the rules above).
func SameSegment(a, b metadata.SegmentRef) bool {
	return a.Key == b.Key && a.BaseOffset == b.BaseOffset && a.NextOffset == b.NextOffset && a.Size == b.Size
}

func validSegment(s metadata.SegmentRef) error {
	if s.Key == "" || s.BaseOffset < 0 || s.NextOffset <= s.BaseOffset {
		return fmt.Errorf("%w: invalid segment %q [%d, %d)", metadata.ErrConflict, s.Key, s.BaseOffset, s.NextOffset)
	}
	return nil
}

// fence rejects a stale epoch and raises the catalog's epoch to a newer one. It reports whether the
// catalog changed.
func fence(c *metadata.PartitionCatalog, epoch int32) (bool, error) {
	if epoch < c.Epoch {
		return false, fmt.Errorf("%w: epoch %d, catalog at %d", metadata.ErrFenced, epoch, c.Epoch)
	}
	if epoch > c.Epoch {
		c.Epoch = epoch
		return true, nil
	}
	return false, nil
}

func indexOfKey(segs []metadata.SegmentRef, key string) int {
	for i := range segs {
		if segs[i].Key == key {
			return i
		}
	}
	return -1
}

// RegisterSegment appends seg to c under epoch. It reports whether c changed.
func RegisterSegment(c *metadata.PartitionCatalog, epoch int32, seg metadata.SegmentRef) (bool, error) {
	if err := validSegment(seg); err != nil {
		return false, err
	}
	if i := indexOfKey(c.Segments, seg.Key); i >= 0 {
		if SameSegment(c.Segments[i], seg) {
			return false, nil // idempotent retry
		}
		return false, fmt.Errorf("%w: segment key %q already registered with other bounds", metadata.ErrConflict, seg.Key)
	}
	raised, err := fence(c, epoch)
	if err != nil {
		return false, err
	}
	if n := len(c.Segments); n > 0 {
		if end := c.Segments[n-1].NextOffset; seg.BaseOffset != end {
			return raised, fmt.Errorf("%w: segment starts at %d, tiered end is %d", metadata.ErrConflict, seg.BaseOffset, end)
		}
	} else if seg.BaseOffset > c.LogStartOffset || seg.NextOffset <= c.LogStartOffset {
		return raised, fmt.Errorf("%w: segment [%d, %d) does not hold log start %d", metadata.ErrConflict,
			seg.BaseOffset, seg.NextOffset, c.LogStartOffset)
	}
	c.Segments = append(c.Segments, seg)
	return true, nil
}

// ReplaceSegments swaps the segments keyed by oldKeys for repl. It reports whether c changed.
func ReplaceSegments(c *metadata.PartitionCatalog, epoch int32, oldKeys []string, repl []metadata.SegmentRef) (bool, error) {
	for _, s := range repl {
		if err := validSegment(s); err != nil {
			return false, err
		}
	}
	if replaceDone(c, oldKeys, repl) {
		return false, nil // idempotent retry
	}
	if _, err := fence(c, epoch); err != nil {
		return false, err
	}
	drop := make(map[string]bool, len(oldKeys))
	for _, k := range oldKeys {
		if indexOfKey(c.Segments, k) < 0 {
			return false, fmt.Errorf("%w: segment %q is gone", metadata.ErrConflict, k)
		}
		drop[k] = true
	}
	next := make([]metadata.SegmentRef, 0, len(c.Segments)-len(drop)+len(repl))
	for _, s := range c.Segments {
		if !drop[s.Key] {
			next = append(next, s)
		}
	}
	next = append(next, repl...)
	sort.SliceStable(next, func(i, j int) bool { return next[i].BaseOffset < next[j].BaseOffset })
	seen := make(map[string]bool, len(next))
	for i, s := range next {
		if seen[s.Key] {
			return false, fmt.Errorf("%w: duplicate segment key %q", metadata.ErrConflict, s.Key)
		}
		seen[s.Key] = true
		if i > 0 && s.BaseOffset < next[i-1].NextOffset {
			return false, fmt.Errorf("%w: segment %q overlaps %q", metadata.ErrConflict, s.Key, next[i-1].Key)
		}
	}
	c.Segments = next
	return true, nil
}

// replaceDone reports whether a replacement already took effect: no old key is left and every
// replacement is present.
func replaceDone(c *metadata.PartitionCatalog, oldKeys []string, repl []metadata.SegmentRef) bool {
	if len(oldKeys) == 0 && len(repl) == 0 {
		return false
	}
	for _, k := range oldKeys {
		if indexOfKey(c.Segments, k) >= 0 && indexOfKey(repl, k) < 0 {
			return false
		}
	}
	for _, s := range repl {
		i := indexOfKey(c.Segments, s.Key)
		if i < 0 || !SameSegment(c.Segments[i], s) {
			return false
		}
	}
	return true
}

// SetLogStartOffset moves c's log start forward to offset and drops the segments wholly below it. It
// returns the dropped segments and whether c changed.
func SetLogStartOffset(c *metadata.PartitionCatalog, epoch int32, offset int64) ([]metadata.SegmentRef, bool, error) {
	raised, err := fence(c, epoch)
	if err != nil {
		return nil, false, err
	}
	if offset <= c.LogStartOffset {
		return nil, raised, nil
	}
	c.LogStartOffset = offset
	n := sort.Search(len(c.Segments), func(i int) bool { return c.Segments[i].NextOffset > offset })
	dropped := slices.Clone(c.Segments[:n])
	c.Segments = slices.Clone(c.Segments[n:])
	return dropped, true, nil
}

// SegmentsInRange returns a copy of the segments of c holding any offset in [from, to), in order.
func SegmentsInRange(c metadata.PartitionCatalog, from, to int64) []metadata.SegmentRef {
	if to <= from {
		return nil
	}
	segs := c.Segments
	lo := sort.Search(len(segs), func(i int) bool { return segs[i].NextOffset > from })
	hi := sort.Search(len(segs), func(i int) bool { return segs[i].BaseOffset >= to })
	if lo >= hi {
		return nil
	}
	return slices.Clone(segs[lo:hi])
}

// ValidateTopic checks the fields a stored topic must have.
func ValidateTopic(t metadata.Topic) error {
	if t.Name == "" || t.Name == "." || t.Name == ".." || len(t.Name) > 249 {
		return fmt.Errorf("metadata: invalid topic name %q", t.Name)
	}
	for _, r := range t.Name {
		ok := r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("metadata: invalid topic name %q", t.Name)
		}
	}
	if t.Partitions <= 0 {
		return fmt.Errorf("metadata: topic %q needs at least one partition, got %d", t.Name, t.Partitions)
	}
	return nil
}
