package metadata

import (
	"fmt"
	"slices"
	"sort"
)

// The catalog rules: see PartitionCatalog's doc. Everything here is pure (no I/O, no locks), so a
// backend runs it inside its own compare-and-swap or under its own mutex.

// Clone returns a deep copy of c.
func (c PartitionCatalog) Clone() PartitionCatalog {
	c.Segments = slices.Clone(c.Segments)
	return c
}

// Same reports whether s and o describe the same object (see the rules above).
func (s SegmentRef) Same(o SegmentRef) bool {
	return s.Key == o.Key && s.BaseOffset == o.BaseOffset && s.NextOffset == o.NextOffset && s.Size == o.Size &&
		s.Position == o.Position && s.Format == o.Format
}

func validSegment(s SegmentRef) error {
	if s.Key == "" || s.BaseOffset < 0 || s.NextOffset <= s.BaseOffset {
		return fmt.Errorf("%w: invalid segment %q [%d, %d)", ErrConflict, s.Key, s.BaseOffset, s.NextOffset)
	}
	if s.Position < 0 || s.Size < 0 {
		return fmt.Errorf("%w: invalid byte range of segment %q: %d bytes at %d", ErrConflict, s.Key, s.Size, s.Position)
	}
	if s.Format > FormatParquet || (s.Format == FormatParquet && s.Position != 0) {
		return fmt.Errorf("%w: segment %q: %s at byte %d", ErrConflict, s.Key, s.Format, s.Position)
	}
	return nil
}

// fence rejects a stale epoch and raises the catalog's epoch to a newer one. It reports whether the
// catalog changed.
func (c *PartitionCatalog) fence(epoch int32) (bool, error) {
	if epoch < c.Epoch {
		return false, fmt.Errorf("%w: epoch %d, catalog at %d", ErrFenced, epoch, c.Epoch)
	}
	if epoch > c.Epoch {
		c.Epoch = epoch
		return true, nil
	}
	return false, nil
}

func indexOfKey(segs []SegmentRef, key string) int {
	for i := range segs {
		if segs[i].Key == key {
			return i
		}
	}
	return -1
}

// RegisterSegment appends seg under epoch: the rule behind Catalog.RegisterSegment. It reports
// whether c changed, which it may have even when it also returns an error (a raised epoch).
func (c *PartitionCatalog) RegisterSegment(epoch int32, seg SegmentRef) (changed bool, err error) {
	if err := validSegment(seg); err != nil {
		return false, err
	}
	if i := indexOfKey(c.Segments, seg.Key); i >= 0 {
		if c.Segments[i].Same(seg) {
			return false, nil // idempotent retry
		}
		return false, fmt.Errorf("%w: segment key %q already registered with other bounds", ErrConflict, seg.Key)
	}
	raised, err := c.fence(epoch)
	if err != nil {
		return false, err
	}
	if n := len(c.Segments); n > 0 {
		if end := c.Segments[n-1].NextOffset; seg.BaseOffset != end {
			return raised, fmt.Errorf("%w: segment starts at %d, tiered end is %d", ErrConflict, seg.BaseOffset, end)
		}
	} else if seg.BaseOffset > c.LogStartOffset || seg.NextOffset <= c.LogStartOffset {
		return raised, fmt.Errorf("%w: segment [%d, %d) does not hold log start %d", ErrConflict,
			seg.BaseOffset, seg.NextOffset, c.LogStartOffset)
	}
	c.Segments = append(c.Segments, seg)
	return true, nil
}

// ReplaceSegments swaps the segments keyed by oldKeys for repl: the rule behind
// Catalog.ReplaceSegments. It reports whether c changed; on an error c is unchanged.
func (c *PartitionCatalog) ReplaceSegments(epoch int32, oldKeys []string, repl []SegmentRef) (changed bool, err error) {
	for _, s := range repl {
		if err := validSegment(s); err != nil {
			return false, err
		}
	}
	if c.replaceDone(oldKeys, repl) {
		return false, nil // idempotent retry
	}
	if epoch < c.Epoch {
		return false, fmt.Errorf("%w: epoch %d, catalog at %d", ErrFenced, epoch, c.Epoch)
	}
	drop := make(map[string]bool, len(oldKeys))
	for _, k := range oldKeys {
		if indexOfKey(c.Segments, k) < 0 {
			return false, fmt.Errorf("%w: segment %q is gone", ErrConflict, k)
		}
		drop[k] = true
	}
	next := make([]SegmentRef, 0, len(c.Segments)-len(drop)+len(repl))
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
			return false, fmt.Errorf("%w: duplicate segment key %q", ErrConflict, s.Key)
		}
		seen[s.Key] = true
		if i > 0 && s.BaseOffset < next[i-1].NextOffset {
			return false, fmt.Errorf("%w: segment %q overlaps %q", ErrConflict, s.Key, next[i-1].Key)
		}
	}
	c.Epoch = epoch
	c.Segments = next
	return true, nil
}

// replaceDone reports whether a replacement already took effect: no old key is left and every
// replacement is present.
func (c *PartitionCatalog) replaceDone(oldKeys []string, repl []SegmentRef) bool {
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
		if i < 0 || !c.Segments[i].Same(s) {
			return false
		}
	}
	return true
}

// SetLogStartOffset moves c's log start forward to offset and drops the segments wholly below it:
// the rule behind Catalog.SetLogStartOffset. It returns the dropped segments (a new slice) and
// whether c changed.
func (c *PartitionCatalog) SetLogStartOffset(epoch int32, offset int64) (dropped []SegmentRef, changed bool, err error) {
	raised, err := c.fence(epoch)
	if err != nil {
		return nil, false, err
	}
	if offset <= c.LogStartOffset {
		return nil, raised, nil
	}
	c.LogStartOffset = offset
	n := sort.Search(len(c.Segments), func(i int) bool { return c.Segments[i].NextOffset > offset })
	dropped = slices.Clone(c.Segments[:n])
	c.Segments = slices.Clone(c.Segments[n:])
	return dropped, true, nil
}

// SegmentsInRange returns a copy of the segments of c holding any offset in [from, to), in order:
// the answer to Catalog.ListSegments.
func (c PartitionCatalog) SegmentsInRange(from, to int64) []SegmentRef {
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

// Validate checks the fields a stored topic must have: a Kafka-legal name (at most 249 of
// [a-zA-Z0-9._-], not "." or "..") and at least one partition.
func (t Topic) Validate() error {
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

// Compare orders topic partitions by topic, then partition, for slices.SortFunc.
func (tp TopicPartition) Compare(o TopicPartition) int {
	if tp.Topic != o.Topic {
		if tp.Topic < o.Topic {
			return -1
		}
		return 1
	}
	return int(tp.Partition) - int(o.Partition)
}
