package compaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/segment"
)

// Key compaction: cleanup.policy=compact (or compact,delete) on tiered segments, with Kafka's
// semantics. One pass over a led partition of a compacted topic:
//
//	read the partition's clean state (keystate.go) and judge it (planClean): the cleanable range is
//	    the catalog's segments whose records are all older than min.compaction.lag.ms, up to the
//	    tiered end at most (the hot tail, Kafka's active segment, is never touched); it is cleaned
//	    when its dirty ratio reaches min.cleanable.dirty.ratio, its oldest dirty record is older
//	    than max.compaction.lag.ms, or tombstones have outlived delete.retention.ms
//	GET the dirty segments in order and map every key to its latest offset (keyMap, bounded by
//	    Config.KeyMapBytes); when the map fills, the dirty range is cut at that batch and the rest
//	    waits for the next pass
//	rewrite the cleanable segments up to where the map ends, in groups of at most
//	    Policy.TargetBytes (and segment.bytes), keeping a record when it has a key, no later
//	    offset of its key is in the map, and it is not a tombstone whose delete.retention.ms has
//	    run out since it was first cleaned; control batches are kept whole, batches keep their
//	    offsets and producer fields (segment.Retainer); a batch left without records stays, empty,
//	    where it ends its group (the object must end where the catalog says) or is the group's
//	    first of a leader epoch (epoch lookups read the batches); a group from which nothing went
//	    is left as it is
//	each rewritten group is swapped in as a merge is: PUT under tier.RewrittenObjectKey with the
//	    lease epoch and a generation one above its inputs', the lease checked, ReplaceSegments,
//	    the inputs deleted after DeleteGrace
//	once every group is in, store the new clean state
//
// Offsets never move, so a consumer that read up to X resumes at X, and a reader between two swaps
// sees each range either before or after its rewrite: never a record twice, never out of order. A
// pass stopped anywhere (a crash, a refused swap, ctx) leaves the catalog with whole groups
// swapped or not, and the state as it was; the next pass finds less to remove and redoes the rest.
//
// Memory: a pass holds the key map (24 bytes a slot for the dirty range's records at 90% load, at
// most Config.KeyMapBytes; kept for the next pass while it fits), one rewritten object being built
// (at most Policy.TargetBytes plus one index) and up to five input objects (four fetched ahead).
//
// Records without a key are removed, as Kafka's cleaner does (the broker refuses them at produce
// for compacted topics, as Kafka does; they come from before the topic became compacted).
// Transactions: control batches are kept, and transactional records are treated like any other
// (Kafka's cleaner also removes aborted transactions' records and, later, their markers).

// errKeyMapFull is a dirty range whose first batch alone has more records than the key map holds.
var errKeyMapFull = errors.New("compaction: key map too small for one batch")

// keyState is key compaction's memory across partitions and passes; the Worker's passMu guards it.
type keyState struct {
	m        *keyMap // allocated by a cleaning, reused by the next ones while it fits
	ret      segment.Retainer
	compBuf  bytes.Buffer
	comps    [5]kgo.Compressor
	gauges   map[metadata.TopicPartition]bool // partitions with gauges, seen this pass (true) or before
	topics   map[string]metadata.Topic        // read once per pass; nil when the read failed
	batchBuf []byte
	out      bytes.Buffer // a rewritten object being built
}

// listTopics reads the topics once for a pass (one read, not one per led partition). On failure
// the pass compacts no partition by key.
func (k *keyState) listTopics(ctx context.Context, w *Worker) {
	k.topics = nil
	all, err := w.cfg.Store.ListTopics(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.m.errors.WithLabelValues("topic").Inc()
			w.log.Warn("compaction: list topics; no key compaction this pass", "err", err)
		}
		return
	}
	k.topics = make(map[string]metadata.Topic, len(all))
	for _, t := range all {
		k.topics[t.Name] = t
	}
}

// setGauges reports a partition's dirty ratio and lag.
func (k *keyState) setGauges(m *metrics, tp metadata.TopicPartition, p cleanPlan) {
	if k.gauges == nil {
		k.gauges = make(map[metadata.TopicPartition]bool)
	}
	k.gauges[tp] = true
	part := strconv.Itoa(int(tp.Partition))
	m.keyDirtyRatio.WithLabelValues(tp.Topic, part).Set(p.Ratio)
	m.keyLag.WithLabelValues(tp.Topic, part).Set(float64(p.LagMs) / 1000)
}

func isParquet(s metadata.SegmentRef) bool { return s.Format == metadata.FormatParquet }

// dropGauges removes the gauges of partitions not seen since the last call.
func (k *keyState) dropGauges(m *metrics) {
	for tp, seen := range k.gauges {
		if seen {
			k.gauges[tp] = false
			continue
		}
		part := strconv.Itoa(int(tp.Partition))
		m.keyDirtyRatio.DeleteLabelValues(tp.Topic, part)
		m.keyLag.DeleteLabelValues(tp.Topic, part)
		delete(k.gauges, tp)
	}
}

// compress recompresses the kept records of a compressed batch with franz-go's compressor for its
// codec, as a producer would; nil (write them uncompressed) if that fails.
func (k *keyState) compress(codec int, recs []byte) []byte {
	if codec <= 0 || codec >= len(k.comps) {
		return nil
	}
	if k.comps[codec] == nil {
		c, err := kgo.DefaultCompressor([...]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(),
			3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()}[codec])
		if err != nil {
			return nil
		}
		k.comps[codec] = c
	}
	k.compBuf.Reset()
	out, used := k.comps[codec].Compress(&k.compBuf, recs)
	if int(used) != codec {
		return nil
	}
	return out
}

// compactKeys runs a key compaction pass over partition l of catalog c if its topic is compacted
// and planClean says so. It reports whether it swapped anything into the catalog.
func (w *Worker) compactKeys(ctx context.Context, l metadata.Lease, c metadata.PartitionCatalog, res *Result) bool {
	tp := l.TopicPartition
	top, ok := w.keys.topics[tp.Topic]
	if !ok {
		return false
	}
	kp, compact, err := KeyPolicyFromConfigs(top.Configs)
	if !compact || top.ID != c.TopicID || slices.ContainsFunc(c.Segments, isParquet) {
		return false // Parquet objects (a topic converted before it became compacted) are not cleaned by key
	}
	if err != nil {
		w.m.errors.WithLabelValues("key_config").Inc()
		w.log.Warn("compaction: bad compaction config; using Kafka's defaults", "partition", tp, "err", err)
	}
	st, err := w.loadState(ctx, c.TopicID, tp)
	if err != nil {
		if ctx.Err() == nil {
			w.m.errors.WithLabelValues("key_state").Inc()
			w.log.Warn("compaction: read key compaction state", "partition", tp, "err", err)
		}
		return false
	}
	now := w.cfg.Now()
	plan := planClean(c.Segments, st, kp, now.UnixMilli())
	w.keys.setGauges(w.m, tp, plan)
	if plan.Reason == "" {
		return false
	}
	swapped, err := w.clean(ctx, l, c, kp, st, plan, now, res)
	if err != nil && ctx.Err() == nil {
		w.log.Warn("compaction: key compaction pass stopped", "partition", tp, "reason", plan.Reason, "err", err)
	}
	return swapped
}

// clean runs one planned key compaction pass. It reports whether any group was swapped in; err says
// why the pass stopped before its end (the state is then left as it was).
func (w *Worker) clean(ctx context.Context, l metadata.Lease, c metadata.PartitionCatalog, kp KeyPolicy, st cleanState,
	plan cleanPlan, now time.Time, res *Result) (swapped bool, err error) {
	tp := l.TopicPartition
	k := &w.keys
	// The map is sized for the dirty range's records (an upper bound on its keys) up to
	// Config.KeyMapBytes, and kept for the next pass unless it is too small or four times too big.
	if want := keyMapBytes(plan.DirtyRecords(), w.cfg.KeyMapBytes); k.m == nil || k.m.bytes() < want || k.m.bytes() > 4*want {
		k.m = newKeyMap(want)
	} else {
		k.m.reset()
	}
	defer func() { k.out = bytes.Buffer{} }()
	mapEnd, tombstones, err := w.mapKeys(ctx, plan, k)
	if errors.Is(err, errKeyMapFull) {
		w.m.errors.WithLabelValues("key_map").Inc()
	}
	if err != nil {
		return false, err
	}
	rewriteEnd := max(mapEnd, plan.TombstonesBelow)
	var segs []metadata.SegmentRef
	for _, s := range plan.Segs {
		if s.BaseOffset < rewriteEnd {
			segs = append(segs, s)
		}
	}
	maxBytes := w.cfg.Policy.TargetBytes
	if kp.SegmentBytes > 0 {
		maxBytes = min(maxBytes, kp.SegmentBytes)
	}
	groups := groupRewrite(segs, maxBytes)
	tombstonesBelow := plan.TombstonesBelow
	keep := func(r segment.StoredRecord) bool {
		if r.Key == nil || (r.Value == nil && r.Offset < tombstonesBelow) {
			return false
		}
		latest, ok := k.m.get(r.Key)
		return !ok || latest <= r.Offset
	}
	for _, g := range groups {
		key := tier.RewrittenObjectKey(w.cfg.Prefix, c.TopicID, tp.Partition, g[0].BaseOffset, g[len(g)-1].NextOffset,
			l.Epoch, rewriteGeneration(g))
		done, err := w.rewrite(ctx, l, g, key, keep, res)
		swapped = swapped || done
		if err != nil {
			return swapped, err
		}
	}
	next := st.cleaned(c.TopicID.String(), mapEnd, tombstonesBelow, now.UnixMilli(), tombstones)
	if err := w.storeState(ctx, c.TopicID, tp, next); err != nil {
		w.m.errors.WithLabelValues("key_state").Inc()
		return swapped, fmt.Errorf("store state: %w", err)
	}
	w.m.keyCleanings.WithLabelValues(plan.Reason).Inc()
	res.Cleaned++
	w.log.Debug("compaction: partition cleaned by key", "partition", tp, "reason", plan.Reason, "dirty_from", plan.DirtyFrom,
		"cleaned_to", next.CleanedTo, "keys", k.m.entries, "groups", len(groups))
	return swapped, nil
}

// mapKeys reads the dirty segments of plan in order and maps their keys to their latest offsets.
// It returns where the map ends (the cleanable end, or the base offset of the first batch that
// might not have fit) and whether the mapped range holds tombstones.
func (w *Worker) mapKeys(ctx context.Context, plan cleanPlan, k *keyState) (end int64, tombstones bool, err error) {
	var dirty []metadata.SegmentRef
	for _, s := range plan.Segs {
		if s.NextOffset > plan.DirtyFrom {
			dirty = append(dirty, s)
		}
	}
	inputs := prefetch(ctx, w.cfg.Bucket, nil, dirty)
	defer inputs.stop()
	for i, s := range dirty {
		data, err := inputs.get(i)
		if err != nil {
			w.inputFailed(s, err)
			return 0, false, &inputError{key: s.Key, err: err}
		}
		stop, full := plan.End(), false
		err = eachBatch(s, data, func(b []byte, info segment.BatchInfo) error {
			if info.NextOffset() <= plan.DirtyFrom || info.Control() {
				return nil
			}
			if k.m.free() < int(info.NumRecords) {
				stop, full = info.BaseOffset, true
				return errStop
			}
			return k.ret.Each(b, info, func(r segment.StoredRecord) error {
				if r.Key != nil && r.Offset >= plan.DirtyFrom {
					k.m.put(r.Key, r.Offset)
					tombstones = tombstones || r.Value == nil
				}
				return nil
			})
		})
		if full {
			if stop <= plan.DirtyFrom {
				return 0, false, fmt.Errorf("%w: %d keys, a batch of more at offset %d", errKeyMapFull, k.m.capacity(), stop)
			}
			return stop, tombstones, nil
		}
		if err != nil {
			w.inputFailed(s, err)
			return 0, false, &inputError{key: s.Key, err: err}
		}
	}
	return plan.End(), tombstones, nil
}

var errStop = errors.New("stop")

// inputFailed logs and counts a segment object key compaction could not read or trust.
func (w *Worker) inputFailed(s metadata.SegmentRef, err error) {
	if errors.Is(err, segment.ErrCorrupt) {
		w.m.errors.WithLabelValues("corrupt").Inc()
		w.log.Error("compaction: corrupt segment object; key compaction of the partition skipped", "key", s.Key, "err", err)
		return
	}
	if !errors.Is(err, context.Canceled) {
		w.m.errors.WithLabelValues("get").Inc()
		w.log.Warn("compaction: read segment object; key compaction of the partition skipped", "key", s.Key, "err", err)
	}
}

// eachBatch checks a segment object as a merge does (footer, index, range against the catalog, every
// batch's CRC, offsets) and calls fn with each batch in order. An error from fn stops the walk and is
// returned as it is.
func eachBatch(s metadata.SegmentRef, data []byte, fn func(b []byte, info segment.BatchInfo) error) error {
	r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	ix := r.Index()
	if ix.BaseOffset > s.BaseOffset || ix.NextOffset != s.NextOffset {
		return fmt.Errorf("%w: segment covers [%d, %d), the catalog says [%d, %d)", segment.ErrCorrupt,
			ix.BaseOffset, ix.NextOffset, s.BaseOffset, s.NextOffset)
	}
	sp := segment.NewSplitter(data[:ix.DataSize])
	next := s.BaseOffset
	var batches int64
	for sp.Next() {
		info := sp.Info()
		if info.BaseOffset < next || info.NextOffset() > s.NextOffset {
			return fmt.Errorf("%w: batch [%d, %d) outside the segment's remaining range [%d, %d)", segment.ErrCorrupt,
				info.BaseOffset, info.NextOffset(), next, s.NextOffset)
		}
		if err := fn(sp.Batch(), info); err != nil {
			return err
		}
		next = info.NextOffset()
		batches++
	}
	if err := sp.Err(); err != nil {
		return err
	}
	if batches != ix.Batches || next != s.NextOffset {
		return fmt.Errorf("%w: data holds %d batches up to offset %d, the index says %d up to %d", segment.ErrCorrupt,
			batches, next, ix.Batches, ix.NextOffset)
	}
	return nil
}

// rewrite builds group g without the records keep refuses and swaps it into the catalog under key.
// done: it was swapped in. A group from which nothing would go is left as it is (done false, no
// error). An error stops the pass.
func (w *Worker) rewrite(ctx context.Context, l metadata.Lease, g []metadata.SegmentRef, key string,
	keep func(segment.StoredRecord) bool, res *Result) (done bool, err error) {
	k := &w.keys
	ref := metadata.SegmentRef{Key: key, BaseOffset: g[0].BaseOffset, NextOffset: g[len(g)-1].NextOffset,
		MinTimestamp: -1, MaxTimestamp: -1, Epoch: g[0].Epoch}
	var inBytes, inRecords int64
	for _, s := range g {
		inBytes += s.Size
	}
	out := &k.out // reused by the groups of one pass, dropped after it
	out.Reset()
	out.Grow(int(inBytes))
	sw := segment.NewWriter(out, ref.BaseOffset, 0)
	var tombstones int64
	keepCounting := func(r segment.StoredRecord) bool {
		ok := keep(r)
		if !ok && r.Key != nil && r.Value == nil {
			if latest, found := k.m.get(r.Key); !found || latest <= r.Offset {
				tombstones++ // the latest of its key: removed because its delete.retention.ms ran out
			}
		}
		return ok
	}
	inputs := prefetch(ctx, w.cfg.Bucket, nil, g)
	defer inputs.stop()
	prevEpoch := int32(-1) // the leader epoch of the last batch written; -1 before the first
	for i, s := range g {
		data, err := inputs.get(i)
		if err == nil {
			last := i == len(g)-1
			err = eachBatch(s, data, func(b []byte, info segment.BatchInfo) error {
				inRecords += int64(info.NumRecords)
				kept := int(info.NumRecords)
				var err error
				if info.Control() {
					k.batchBuf = append(k.batchBuf[:0], b...)
				} else if k.batchBuf, kept, err = k.ret.Retain(k.batchBuf[:0], b, info, keepCounting, k.compress); err != nil {
					return err
				}
				// A batch whose records all went still stays, empty, where it ends the object (its
				// index must end where the catalog says) and where it is the first of a leader
				// epoch here (OffsetForLeaderEpoch reads epochs from the batches).
				if len(k.batchBuf) == 0 && ((last && info.NextOffset() == s.NextOffset) || info.PartitionLeaderEpoch != prevEpoch) {
					k.batchBuf = segment.AppendEmptyBatch(k.batchBuf, info)
				}
				if len(k.batchBuf) == 0 {
					return nil
				}
				prevEpoch = info.PartitionLeaderEpoch
				if _, err := sw.Append(k.batchBuf); err != nil {
					return fmt.Errorf("%w: %w", segment.ErrCorrupt, err)
				}
				ref.Records += int64(kept)
				if ref.MinTimestamp < 0 || info.FirstTimestamp < ref.MinTimestamp {
					ref.MinTimestamp = info.FirstTimestamp
				}
				return nil
			})
		}
		if err != nil {
			w.inputFailed(s, err)
			return false, &inputError{key: s.Key, err: err}
		}
	}
	if ref.Records == inRecords {
		return false, nil // nothing to remove here
	}
	ix, err := sw.Seal()
	if err != nil {
		return false, err
	}
	if ix.BaseOffset != ref.BaseOffset || ix.NextOffset != ref.NextOffset {
		return false, fmt.Errorf("%w: rewritten segment covers [%d, %d), want [%d, %d)", segment.ErrCorrupt,
			ix.BaseOffset, ix.NextOffset, ref.BaseOffset, ref.NextOffset)
	}
	ref.Size = int64(out.Len())
	ref.MaxTimestamp = ix.MaxTimestamp
	ref.CreatedAt = w.cfg.Now()
	if err := w.swap(ctx, l, g, ref, out.Bytes()); err != nil {
		return false, err
	}
	removed := inRecords - ref.Records
	res.Removed += removed
	w.m.keyRecords.Add(float64(removed))
	w.m.keyBytes.Add(float64(inBytes - ref.Size))
	w.m.keyTombstones.Add(float64(tombstones))
	return true, nil
}

// swap PUTs a rewritten object (a merge's, a key compaction's or a Parquet conversion's) and
// replaces g with it in the catalog under lease l, checked right before the swap (the catalog
// fences only epochs older than the newest one written, and a new leader may not have written
// yet); g's objects are deleted after the grace. The object is deleted when the swap is refused,
// left when its outcome is unknown (see the package doc).
func (w *Worker) swap(ctx context.Context, l metadata.Lease, g []metadata.SegmentRef, ref metadata.SegmentRef, body []byte) error {
	tp := l.TopicPartition
	if err := w.put(ctx, tp, ref.Key, body); err != nil {
		if ctx.Err() == nil {
			w.m.errors.WithLabelValues("put").Inc()
		}
		return fmt.Errorf("put %s: %w", ref.Key, err)
	}
	w.m.writtenBytes.Add(float64(len(body)))
	if cur, err := w.cfg.Store.GetLease(ctx, tp); err != nil || cur.Node != l.Node || cur.Epoch != l.Epoch {
		w.discard(ctx, tp, ref.Key, "lease", err)
		return fmt.Errorf("lease of %s changed or unreadable", tp)
	}
	keys := make([]string, len(g))
	for i, s := range g {
		keys[i] = s.Key
	}
	err := w.cfg.Store.ReplaceSegments(ctx, tp, l.Epoch, keys, []metadata.SegmentRef{ref})
	switch {
	case err == nil:
	case errors.Is(err, metadata.ErrFenced):
		w.discard(ctx, tp, ref.Key, "fenced", err)
		return err
	case errors.Is(err, metadata.ErrConflict):
		w.discard(ctx, tp, ref.Key, "conflict", err)
		return err
	default:
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		c, rerr := w.cfg.Store.GetCatalog(rctx, tp)
		cancel()
		if rerr != nil || !c.HasSegment(ref.Key) {
			w.m.errors.WithLabelValues("replace").Inc()
			return fmt.Errorf("swap outcome unknown; object %s left in the bucket: %w", ref.Key, err)
		}
	}
	w.del.Schedule(g, w.cfg.DeleteGrace)
	return nil
}
