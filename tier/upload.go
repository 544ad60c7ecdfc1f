package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// uploadAll tiers every sealed segment above the tiered end, oldest first. It returns nil when
// nothing is left, or the first error (the loop backs off and calls again). Object durability
// hands each image to the flusher and goes on (see shipped); its ranges register here as their
// PUTs end.
func (p *partition) uploadAll(ctx context.Context) error {
	for {
		if err := p.registerShipped(ctx); err != nil {
			return err
		}
		epoch, pol := p.settings()
		if !pol.RemoteStorage {
			p.setBacklog(0, 0)
			return nil
		}
		object := pol.Durability == DurabilityObject
		cv := p.view()
		segs := p.log.Segments()
		plan := cv
		if object {
			segs = takenView(segs)
			if n := len(p.shipped); n > 0 {
				plan.end, plan.hasSegs = p.shipped[n-1].ref.NextOffset, true
			}
		}
		step, seg, n, size := nextUpload(segs, plan)
		p.setBacklog(n, size)
		if len(p.shipped) > 0 && (!object || len(p.shipped) >= shippedMax || (step != stepUpload && step != stepTrim)) {
			return nil // the ranges in flight register first
		}
		switch step {
		case stepIdle:
			return nil
		case stepMoveLog:
			// Nothing is tiered and the hot log starts above the catalog's log start (local
			// segments were deleted while remote storage was off): the catalog starts where the
			// hot data does.
			dropped, err := p.u.cfg.Store.SetLogStartOffset(ctx, p.tp, epoch, seg.BaseOffset)
			if err != nil {
				return opErr("register", err)
			}
			p.u.del.Schedule(dropped, p.u.cfg.DeleteGrace)
			if err := p.refreshCatalog(ctx); err != nil {
				return err
			}
		case stepGap:
			if err := p.refreshCatalog(ctx); err != nil {
				return err
			}
			if p.view() == cv {
				return opErr("register", fmt.Errorf("tier: %s: hot segment at %d starts past the tiered end %d; offsets in between are missing",
					p.tp, seg.BaseOffset, cv.end))
			}
		case stepUpload, stepTrim:
			var err error
			if object {
				err = p.ship(epoch, pol, plan.end, takenEnd(segs))
			} else {
				err = p.uploadSegment(ctx, epoch, seg, cv, step == stepTrim)
			}
			if errors.Is(err, os.ErrNotExist) {
				continue // the segment was deleted or truncated away meanwhile: look again
			}
			if err != nil {
				return err
			}
		}
	}
}

// uploadSegment puts one sealed segment (or, trimmed, its part from the tiered end on) under its
// key and registers it.
func (p *partition) uploadSegment(ctx context.Context, epoch int32, seg hotlog.SegmentInfo, cv catalogView, trim bool) error {
	began := time.Now()
	f, err := os.Open(seg.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return opErr("read", err)
	}
	var body io.ReaderAt = f
	size := st.Size()
	r, err := segment.OpenReader(f, size)
	if err != nil {
		return opErr("read", fmt.Errorf("tier: hot segment %s: %w", seg.Path, err))
	}
	if trim {
		var b []byte
		if b, err = trimSegment(r, cv.end); err != nil {
			return opErr("read", fmt.Errorf("tier: trim hot segment %s at %d: %w", seg.Path, cv.end, err))
		}
		body, size = bytes.NewReader(b), int64(len(b))
		if r, err = segment.OpenReader(body, size); err != nil {
			return opErr("read", err)
		}
	}
	ref, err := describeSegment(r)
	if err != nil {
		return opErr("read", fmt.Errorf("tier: hot segment %s: %w", seg.Path, err))
	}
	ref.Key = ObjectKey(p.u.cfg.Prefix, p.topicID, p.tp.Partition, ref.BaseOffset, epoch)
	ref.Size, ref.Epoch, ref.CreatedAt = size, epoch, p.u.cfg.Now()

	select {
	case p.u.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	err = p.put(ctx, ref.Key, body, size)
	<-p.u.slots
	if err != nil {
		return opErr("put", err)
	}
	return p.register(ctx, epoch, ref, cv, began)
}

// register enters ref (uploaded) in the catalog under epoch and moves the partition's view.
func (p *partition) register(ctx context.Context, epoch int32, ref metadata.SegmentRef, cv catalogView, began time.Time) error {
	if err := p.u.cfg.Store.RegisterSegment(ctx, p.tp, epoch, ref); err != nil {
		if errors.Is(err, metadata.ErrConflict) {
			// Someone moved the catalog (DeleteRecords, a stale view): read it again and retry.
			if rerr := p.refreshCatalog(p.ctx); rerr != nil {
				return rerr
			}
		}
		return opErr("register", err)
	}
	p.setView(catalogView{logStart: cv.logStart, end: ref.NextOffset, hasSegs: true, bytes: cv.bytes + ref.Size})
	p.plog.noteRegistered(cv.logStart, ref.NextOffset)
	p.u.m.uploads.Inc()
	p.u.m.uploadedBytes.Add(float64(ref.Size))
	p.u.m.uploadSeconds.Observe(time.Since(began).Seconds())
	p.u.log.Debug("tier: segment tiered", "partition", p.tp, "key", ref.Key, "position", ref.Position,
		"base", ref.BaseOffset, "next", ref.NextOffset, "bytes", ref.Size)
	return nil
}

// shipped is one of a partition's segment images handed to the flusher (object durability) whose
// range is not registered yet.
type shipped struct {
	sub   *submission
	ref   metadata.SegmentRef // offsets, timestamps, records; sharedRef adds where the PUT put it
	epoch int32
	began time.Time
}

// ship hands the partition's batches from offset from (the tiered end, or the end of the ranges
// in flight) up to upTo (what its hot log has handed over: see takenView) to the Uploader's
// flusher: they go as one segment image (at most Config.SharedObjectBytes of batches) into the
// next flush's shared object. registerShipped registers the range once the PUT is done.
func (p *partition) ship(epoch int32, pol Policy, from, upTo int64) error {
	began := time.Now()
	image, ref, err := sharedImage(p.log, from, upTo, p.u.cfg.SharedObjectBytes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return err
		}
		return opErr("read", fmt.Errorf("tier: %s: hot batches from %d: %w", p.tp, from, err))
	}
	interval := pol.flushInterval()
	last, recentBytes := p.u.fl.last(interval)
	due := sharedFloor(last, recentBytes, p.u.cfg.SharedObjectBytes, interval, false) // a segment rolled by size: the next flush
	sub, err := p.u.fl.handIn(p, image, due)
	if err != nil {
		return opErr("put", err)
	}
	p.shipped = append(p.shipped, &shipped{sub: sub, ref: ref, epoch: epoch, began: began})
	return nil
}

// registerShipped registers the ranges of the partition's shipped images whose PUTs are done,
// oldest first, and stops at the first still under way. A failed PUT or registration voids every
// image after it (each was cut to start where the one before ends): they go again from the
// catalog's end. A range not registered within SharedRegisterWindow of its PUT is given up (the
// data goes into a later flush): the orphan sweeper may delete an unreferenced shared object
// after that.
func (p *partition) registerShipped(ctx context.Context) error {
	for len(p.shipped) > 0 {
		s := p.shipped[0]
		select {
		case <-s.sub.ready:
		default:
			return nil
		}
		p.shipped[0] = nil
		p.shipped = p.shipped[1:]
		err := opErr("put", s.sub.err)
		if err == nil {
			err = p.registerRange(ctx, s)
		}
		if err != nil {
			p.u.fl.drop(p)
			p.shipped = nil
			return err
		}
	}
	return nil
}

// registerRange registers the range a shipped image landed at.
func (p *partition) registerRange(ctx context.Context, s *shipped) error {
	ref := sharedRef(s.ref, s.sub, s.epoch)
	rctx, cancel := context.WithDeadline(ctx, s.sub.put.Add(SharedRegisterWindow))
	defer cancel()
	if err := p.register(rctx, s.epoch, ref, p.view(), s.began); err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return opErr("register", fmt.Errorf("tier: %s: range of %s not registered within %v of its put: %w", p.tp, ref.Key, SharedRegisterWindow, err))
		}
		return err
	}
	return nil
}

// takenView is segs (a hot log's Segments) as object durability tiers them: the part of the active
// segment that the log handed over (hotlog Log.Take) counts as sealed, so that nextUpload plans it
// like a sealed segment; the rest of the active segment waits for the next flush.
func takenView(segs []hotlog.SegmentInfo) []hotlog.SegmentInfo {
	if n := len(segs); n > 0 && !segs[n-1].Sealed && segs[n-1].TakenNext > segs[n-1].BaseOffset {
		act := &segs[n-1]
		act.Sealed, act.NextOffset, act.Size = true, act.TakenNext, act.TakenSize
	}
	return segs
}

// takenEnd is where the sealed segments of a takenView end: what a flush may tier.
func takenEnd(segs []hotlog.SegmentInfo) int64 {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].Sealed {
			return segs[i].NextOffset
		}
	}
	return -1
}

// sharedImage returns one sealed segment image of log's batches from offset from (where a batch
// must start) up to upTo, at most about limit bytes of them (at least one batch), read from the
// sealed and the active segments alike, and the catalog fields it describes (as describeSegment
// would read them back from it). The batches were validated when appended, so their CRCs are not
// computed again. An offset the log no longer holds (truncated, or deleted meanwhile) is an
// os.ErrNotExist: the caller looks again.
func sharedImage(log *hotlog.Log, from, upTo, limit int64) ([]byte, metadata.SegmentRef, error) {
	data, err := log.Read(from, int(min(limit, math.MaxInt32)), upTo)
	if errors.Is(err, hotlog.ErrOffsetOutOfRange) {
		return nil, metadata.SegmentRef{}, fmt.Errorf("%w: %w", os.ErrNotExist, err)
	}
	if err != nil {
		return nil, metadata.SegmentRef{}, err
	}
	if len(data) == 0 {
		return nil, metadata.SegmentRef{}, fmt.Errorf("%w: no batch from %d below %d", os.ErrNotExist, from, upTo)
	}
	var out bytes.Buffer
	out.Grow(len(data) + 4<<10)
	w := segment.NewWriter(&out, from, 0)
	batches := metadata.SegmentRef{MinTimestamp: -1}
	sp := segment.NewSplitter(data)
	for first := true; sp.Next(); first = false {
		if first && sp.Info().BaseOffset != from {
			return nil, metadata.SegmentRef{}, fmt.Errorf("tier: no batch starts at %d (the batch at %d does)", from, sp.Info().BaseOffset)
		}
		info, err := w.AppendValidated(sp.Batch())
		if err != nil {
			return nil, metadata.SegmentRef{}, err
		}
		addBatch(&batches, info)
	}
	if err := sp.Err(); err != nil {
		return nil, metadata.SegmentRef{}, err
	}
	ix, err := w.Seal()
	if err != nil {
		return nil, metadata.SegmentRef{}, err
	}
	ref := indexRef(ix)
	ref.Records, ref.MinTimestamp = batches.Records, batches.MinTimestamp
	return out.Bytes(), ref, nil
}

// describeSegment returns the catalog fields a sealed segment's bytes say: offsets, timestamps,
// records. The caller sets Key, Size, Position, Epoch and CreatedAt.
func describeSegment(r *segment.Reader) (metadata.SegmentRef, error) {
	ref := indexRef(r.Index())
	err := r.Scan(0, func(_ int64, info segment.BatchInfo) error {
		addBatch(&ref, info)
		return nil
	})
	return ref, err
}

// indexRef is the catalog fields a segment's index gives: its offsets and newest timestamp
// (MinTimestamp -1 and no records until addBatch counts its batches).
func indexRef(ix segment.Index) metadata.SegmentRef {
	return metadata.SegmentRef{BaseOffset: ix.BaseOffset, NextOffset: ix.NextOffset, MinTimestamp: -1, MaxTimestamp: ix.MaxTimestamp}
}

// addBatch counts the batch info in ref: its records, and its first timestamp toward
// MinTimestamp (-1 before the first batch).
func addBatch(ref *metadata.SegmentRef, info segment.BatchInfo) {
	ref.Records += int64(info.NumRecords)
	if ref.MinTimestamp < 0 || info.FirstTimestamp < ref.MinTimestamp {
		ref.MinTimestamp = info.FirstTimestamp
	}
}

// put stores body under key unless an identical object is already there (an earlier attempt whose
// answer was lost). A different object under the key can only be an earlier, unregistered attempt of
// this same epoch that cut the segment elsewhere (a crash lost an unsynced tail): no catalog entry
// names it, so it is replaced.
func (p *partition) put(ctx context.Context, key string, body io.ReaderAt, size int64) error {
	b := p.u.cfg.Bucket
	err := b.Put(ctx, key, body, size, objstore.IfAbsent())
	if !errors.Is(err, objstore.ErrExists) {
		return err
	}
	same, err := sameObject(ctx, b, key, body, size)
	if err != nil || same {
		return err
	}
	c, err := p.u.cfg.Store.GetCatalog(ctx, p.tp)
	if err != nil {
		return err
	}
	if c.HasSegment(key) {
		return fmt.Errorf("tier: %s: object %s is registered with other bytes", p.tp, key)
	}
	p.u.log.Warn("tier: replacing an unregistered object left by an earlier attempt", "partition", p.tp, "key", key)
	if err := b.Delete(ctx, key); err != nil {
		return err
	}
	return b.Put(ctx, key, body, size, objstore.IfAbsent())
}

// sameObject reports whether the object under key holds exactly size bytes equal to body.
func sameObject(ctx context.Context, b objstore.Bucket, key string, body io.ReaderAt, size int64) (bool, error) {
	a, err := b.Head(ctx, key)
	if err != nil || a.Size != size {
		return false, err
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	want := make([]byte, 256<<10)
	got := make([]byte, len(want))
	for off := int64(0); off < size; {
		n := int(min(int64(len(want)), size-off))
		if _, err := body.ReadAt(want[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if _, err := io.ReadFull(rc, got[:n]); err != nil {
			return false, err
		}
		if !bytes.Equal(want[:n], got[:n]) {
			return false, nil
		}
		off += int64(n)
	}
	return true, nil
}

// trimSegment returns a sealed segment holding the batches of r from offset from on. A batch must
// start exactly at from.
func trimSegment(r *segment.Reader, from int64) ([]byte, error) {
	pos, info, err := r.FindOffset(from)
	if err != nil {
		return nil, err
	}
	if info.BaseOffset != from {
		return nil, fmt.Errorf("tier: no batch starts at %d (the batch at %d does)", from, info.BaseOffset)
	}
	var out bytes.Buffer
	w := segment.NewWriter(&out, from, 0)
	var buf []byte
	end := r.Index().DataSize
	for pos < end {
		var next int64
		buf, next, err = r.ReadBatches(buf[:0], pos, 1<<20, -1)
		if err != nil {
			return nil, err
		}
		s := segment.NewSplitter(buf)
		for s.Next() {
			if _, err := w.Append(s.Batch()); err != nil {
				return nil, err
			}
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		pos = next
	}
	if _, err := w.Seal(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
