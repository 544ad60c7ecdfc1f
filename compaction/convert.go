package compaction

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// Conversion to Parquet (strata.cold.format=parquet): after a pass's merges, each settled segment
// entry of such a topic's partition becomes one Parquet object of the same range (tier/columnar),
// swapped into the catalog under the lease's epoch as a merge is (ReplaceSegments of the one
// input), the segment deleted after DeleteGrace: one cold copy. An entry is settled when the merger
// will not touch it again — at least Policy.SmallBytes, or older than ConvertAfter and in no
// planned merge. Its Parquet key names the range only (tier.ParquetObjectKey), so a conversion
// retried after a crash, by this leader or the next, writes the same bytes under the same key: a
// glob over *.parquet never sees a record twice, and the catalog names only objects whose PUT
// completed. Topics with cleanup.policy=compact are not converted (key compaction rewrites
// segments).

// DefaultConvertAfter is how old a small segment must be before it is converted.
const DefaultConvertAfter = 10 * time.Minute

// ColdFormatConfig and ValueFormatConfig are the topic configs conversion acts on.
const (
	ColdFormatConfig  = "strata.cold.format"
	ValueFormatConfig = "strata.value.format"
)

// PlanConversions returns the entries of segs to convert to Parquet now (see above): segment
// entries not among merges' inputs, at least p.SmallBytes or created before nowMs−afterMs. Pure.
func PlanConversions(segs []metadata.SegmentRef, merges []Merge, p Policy, nowMs, afterMs int64) []metadata.SegmentRef {
	p.applyDefaults()
	merging := make(map[string]bool)
	for _, m := range merges {
		for _, in := range m.Inputs {
			merging[in.Key] = true
		}
	}
	var out []metadata.SegmentRef
	for _, s := range segs {
		if s.Format != metadata.FormatSegment || merging[s.Key] || s.NextOffset <= s.BaseOffset {
			continue
		}
		if s.Size >= p.SmallBytes || s.CreatedAt.UnixMilli() <= nowMs-afterMs {
			out = append(out, s)
		}
	}
	return out
}

// parquetTopic reports whether tp's topic (as read this pass) is converted, and the options of its
// objects: the value format, and the compression.type Fetch rebuilds batches in.
func (w *Worker) parquetTopic(tp metadata.TopicPartition, id metadata.TopicID) (bool, columnar.Options) {
	top, ok := w.keys.topics[tp.Topic]
	if !ok || top.ID != id || top.Configs[ColdFormatConfig] != "parquet" {
		return false, columnar.Options{}
	}
	if _, compact, _ := KeyPolicyFromConfigs(top.Configs); compact {
		return false, columnar.Options{}
	}
	var opts columnar.Options
	opts.ValueFormat, _ = columnar.ParseValueFormat(top.Configs[ValueFormatConfig]) // bytes when invalid
	if c := top.Configs["compression.type"]; c != "" {
		if _, err := columnar.CodecOf(c); err == nil {
			opts.Compression = c
		}
	}
	return true, opts
}

// convertPartition converts the settled segments of partition l (catalog c, as read at the pass's
// start, merges the pass planned) when its topic is a parquet one.
func (w *Worker) convertPartition(ctx context.Context, l metadata.Lease, c metadata.PartitionCatalog, merges []Merge, res *Result) {
	ok, opts := w.parquetTopic(l.TopicPartition, c.TopicID)
	if !ok {
		return
	}
	for _, s := range PlanConversions(c.Segments, merges, w.cfg.Policy, w.cfg.Now().UnixMilli(), w.cfg.ConvertAfter.Milliseconds()) {
		if s.BaseOffset < c.LogStartOffset && s.NextOffset <= c.LogStartOffset {
			continue
		}
		done, stop := w.convert(ctx, l, c.TopicID, s, opts)
		if done {
			res.Converted++
		}
		if stop || ctx.Err() != nil {
			return
		}
	}
}

// convert converts one segment entry, as merge does a merge. done: the Parquet object is in the
// catalog. stop: the partition's other conversions wait for the next pass.
func (w *Worker) convert(ctx context.Context, l metadata.Lease, topicID metadata.TopicID, s metadata.SegmentRef, opts columnar.Options) (done, stop bool) {
	began := time.Now()
	tp := l.TopicPartition
	body, ref, err := buildParquet(ctx, w, tp, s, opts)
	if err != nil {
		if ctx.Err() != nil {
			return false, true
		}
		reason := "get"
		if errors.Is(err, segment.ErrCorrupt) {
			reason = "corrupt"
		}
		w.m.errors.WithLabelValues(reason).Inc()
		w.log.Warn("compaction: conversion to Parquet skipped", "partition", tp, "key", s.Key, "err", err)
		return false, false
	}
	ref.Key = tier.ParquetObjectKey(w.cfg.Prefix, topicID, tp.Partition, s.BaseOffset, s.NextOffset)
	ref.CreatedAt = w.cfg.Now()
	if err := w.swap(ctx, l, []metadata.SegmentRef{s}, ref, body); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("compaction: Parquet object not swapped in", "partition", tp, "key", ref.Key, "err", err)
		}
		return false, true
	}
	w.m.converted.Inc()
	w.log.Debug("compaction: segment converted to Parquet", "partition", tp, "key", ref.Key, "segment", s.Key,
		"base", ref.BaseOffset, "next", ref.NextOffset, "bytes", ref.Size, "segment_bytes", s.Size,
		"seconds", time.Since(began).Seconds())
	return true, false
}

// buildParquet reads segment entry s and writes its batches as one Parquet object of its range.
func buildParquet(ctx context.Context, w *Worker, tp metadata.TopicPartition, s metadata.SegmentRef, opts columnar.Options) ([]byte, metadata.SegmentRef, error) {
	data, err := fetch(ctx, w.cfg.Bucket, s)
	if err != nil {
		return nil, metadata.SegmentRef{}, &inputError{key: s.Key, err: err}
	}
	began := time.Now()
	defer func() { w.m.convertSeconds.Add(time.Since(began).Seconds()) }()
	return ConvertSegment(tp.Partition, s, data, opts)
}

// ConvertSegment turns the bytes of segment entry s (its object, or its range of a shared one) into
// a Parquet object of the same range, and returns it with its catalog entry (Key and CreatedAt left
// for the caller). Errors about the bytes wrap segment.ErrCorrupt.
func ConvertSegment(partition int32, s metadata.SegmentRef, data []byte, opts columnar.Options) ([]byte, metadata.SegmentRef, error) {
	cw := columnar.NewWriter(partition, opts)
	base, next, err := cw.AddSegment(data)
	if err != nil {
		return nil, metadata.SegmentRef{}, &inputError{key: s.Key, err: err}
	}
	if base != s.BaseOffset || next != s.NextOffset {
		return nil, metadata.SegmentRef{}, &inputError{key: s.Key, err: errors.Join(segment.ErrCorrupt,
			errors.New("segment's index disagrees with the catalog's range"))}
	}
	var buf bytes.Buffer
	buf.Grow(len(data) / 2) // about the Parquet object of uncompressed records: it grows once at most
	st, err := cw.WriteTo(&buf, s.BaseOffset, s.NextOffset)
	if err != nil {
		return nil, metadata.SegmentRef{}, err
	}
	ref := metadata.SegmentRef{
		BaseOffset: s.BaseOffset, NextOffset: s.NextOffset, Size: int64(buf.Len()),
		MinTimestamp: st.MinTimestamp, MaxTimestamp: st.MaxTimestamp, Epoch: s.Epoch, Records: st.Records,
		Format: metadata.FormatParquet,
	}
	if s.MaxTimestamp > ref.MaxTimestamp {
		ref.MaxTimestamp = s.MaxTimestamp
	}
	return buf.Bytes(), ref, nil
}
