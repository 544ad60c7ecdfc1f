package compaction

import (
	"fmt"

	"github.com/strata-log/strata/metadata"
)

// Policy defaults.
const (
	DefaultSmallBytes  = 8 << 20
	DefaultTargetBytes = 64 << 20
	DefaultMinInputs   = 4
)

// Policy says which segments are worth merging.
type Policy struct {
	// SmallBytes: only segments smaller than this are merged (default 8 MiB).
	SmallBytes int64
	// TargetBytes caps the summed input size of one merge (default 64 MiB). The output is about
	// as big as its inputs (one index instead of many).
	TargetBytes int64
	// MinInputs is the fewest segments a merge replaces (default 4, at least 2): merging fewer
	// rewrites bytes for little gain.
	MinInputs int
}

func (p *Policy) applyDefaults() {
	if p.SmallBytes == 0 {
		p.SmallBytes = DefaultSmallBytes
	}
	if p.TargetBytes == 0 {
		p.TargetBytes = DefaultTargetBytes
	}
	if p.MinInputs == 0 {
		p.MinInputs = DefaultMinInputs
	}
}

// Validate reports unusable values. Zero fields are fine (defaults).
func (p Policy) Validate() error {
	p.applyDefaults()
	switch {
	case p.SmallBytes < 0 || p.TargetBytes < 0:
		return fmt.Errorf("%w: negative SmallBytes or TargetBytes", ErrConfig)
	case p.TargetBytes < p.SmallBytes:
		return fmt.Errorf("%w: TargetBytes %d below SmallBytes %d", ErrConfig, p.TargetBytes, p.SmallBytes)
	case p.MinInputs < 2:
		return fmt.Errorf("%w: MinInputs %d, want at least 2", ErrConfig, p.MinInputs)
	}
	return nil
}

// Merge is one planned output: Inputs (at least Policy.MinInputs, consecutive in the catalog and in
// offsets, all written under the same leader epoch) become one object covering
// [BaseOffset, NextOffset).
type Merge struct {
	Inputs     []metadata.SegmentRef
	BaseOffset int64
	NextOffset int64
	// Bytes is the inputs' summed size, at most Policy.TargetBytes.
	Bytes int64
}

// Keys returns the inputs' object keys, in offset order.
func (m Merge) Keys() []string {
	keys := make([]string, len(m.Inputs))
	for i, s := range m.Inputs {
		keys[i] = s.Key
	}
	return keys
}

// PlanMerges groups segs (a catalog's segments, ordered by base offset) into merges. It walks the
// segments once, oldest first, growing a run of segments that are each smaller than SmallBytes,
// each starting where the previous one ended (NextOffset == next BaseOffset), and all of the same
// epoch. A segment that breaks one of these rules, or would take the run's summed size past
// TargetBytes, ends the run (as does an entry that is not a segment: Parquet objects are final);
// a run of at least MinInputs segments becomes a Merge. Runs never
// overlap, so every merge of one plan can be applied independently.
//
// PlanMerges is pure: it does no I/O and does not keep or modify segs (Merge.Inputs are copies).
// An invalid policy plans nothing.
func PlanMerges(segs []metadata.SegmentRef, p Policy) []Merge {
	if p.Validate() != nil {
		return nil
	}
	p.applyDefaults()
	var (
		out   []Merge
		run   []metadata.SegmentRef
		bytes int64
	)
	flush := func() {
		if len(run) >= p.MinInputs {
			out = append(out, Merge{
				Inputs:     append([]metadata.SegmentRef(nil), run...),
				BaseOffset: run[0].BaseOffset,
				NextOffset: run[len(run)-1].NextOffset,
				Bytes:      bytes,
			})
		}
		run, bytes = run[:0], 0
	}
	for _, s := range segs {
		if s.Size < 0 || s.Size >= p.SmallBytes || s.NextOffset <= s.BaseOffset || s.Format != metadata.FormatSegment {
			flush()
			continue
		}
		if n := len(run); n > 0 {
			last := run[n-1]
			if s.BaseOffset != last.NextOffset || s.Epoch != last.Epoch || bytes+s.Size > p.TargetBytes {
				flush()
			}
		}
		run = append(run, s)
		bytes += s.Size
	}
	flush()
	return out
}
