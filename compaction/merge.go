package compaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// cleanupTimeout bounds the steps that run even when the pass's ctx has ended: deleting an object
// that was written but not swapped in, and re-reading the catalog after a swap with no answer.
const cleanupTimeout = 30 * time.Second

// inputError is a merge input that could not be read or failed a check; errors.Is(err,
// segment.ErrCorrupt) tells a corrupt object from an unreadable one.
type inputError struct {
	key string
	err error
}

func (e *inputError) Error() string { return fmt.Sprintf("compaction: input %s: %v", e.key, e.err) }
func (e *inputError) Unwrap() error { return e.err }

// merge runs one planned merge under lease l. done: the merged object is in the catalog. stop: the
// partition's other merges should wait for the next pass (the lease or the catalog changed, or ctx
// ended).
func (w *Worker) merge(ctx context.Context, l metadata.Lease, topicID metadata.TopicID, m Merge) (done, stop bool) {
	began := time.Now()
	tp := l.TopicPartition
	body, ref, err := build(ctx, w.cfg.Bucket, w.win, m)
	if err != nil {
		if ctx.Err() != nil {
			return false, true
		}
		var ie *inputError
		if errors.As(err, &ie) && tier.IsSharedKey(ie.key) {
			w.badShared[ie.key] = w.cfg.Now() // out of the windows of the next badSharedRetry, which go on without it
		}
		switch {
		case errors.As(err, &ie) && errors.Is(err, segment.ErrCorrupt):
			w.m.errors.WithLabelValues("corrupt").Inc()
			w.log.Error("compaction: corrupt input object; merge skipped", "partition", tp, "key", ie.key,
				"base", m.BaseOffset, "next", m.NextOffset, "err", err)
		case errors.As(err, &ie):
			w.m.errors.WithLabelValues("get").Inc()
			w.log.Warn("compaction: read input object; merge skipped", "partition", tp, "key", ie.key, "err", err)
		default:
			w.m.errors.WithLabelValues("corrupt").Inc()
			w.log.Error("compaction: merged segment disagrees with the catalog; merge skipped", "partition", tp,
				"base", m.BaseOffset, "next", m.NextOffset, "err", err)
		}
		return false, false
	}
	ref.Key = tier.MergedObjectKey(w.cfg.Prefix, topicID, tp.Partition, m.BaseOffset, m.NextOffset, l.Epoch)
	ref.CreatedAt = w.cfg.Now()

	if err := w.swap(ctx, l, m.Inputs, ref, body); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("compaction: merged object not swapped in", "partition", tp, "key", ref.Key, "err", err)
		}
		return false, true
	}
	w.m.merges.Inc()
	w.m.inputs.Add(float64(len(m.Inputs)))
	w.m.seconds.Observe(time.Since(began).Seconds())
	w.log.Debug("compaction: segments merged", "partition", tp, "key", ref.Key, "inputs", len(m.Inputs),
		"base", ref.BaseOffset, "next", ref.NextOffset, "bytes", ref.Size)
	return true, false
}

// put stores body under key unless the key already holds an object. An object there can only be
// left by an earlier attempt of this same merge under this same lease (the key names the range
// and the epoch) whose swap did not happen; unless the catalog names it, it is replaced.
func (w *Worker) put(ctx context.Context, tp metadata.TopicPartition, key string, body []byte) error {
	b := w.cfg.Bucket
	err := b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), objstore.IfAbsent())
	if !errors.Is(err, objstore.ErrExists) {
		return err
	}
	c, err := w.cfg.Store.GetCatalog(ctx, tp)
	if err != nil {
		return err
	}
	if c.HasSegment(key) {
		return fmt.Errorf("compaction: %s: object %s is already in the catalog", tp, key)
	}
	w.log.Warn("compaction: replacing a merged object left by an earlier attempt", "partition", tp, "key", key)
	if err := b.Delete(ctx, key); err != nil {
		return err
	}
	return b.Put(ctx, key, bytes.NewReader(body), int64(len(body)), objstore.IfAbsent())
}

// discard deletes a merged object that did not get into the catalog.
func (w *Worker) discard(ctx context.Context, tp metadata.TopicPartition, key, reason string, cause error) {
	w.m.aborted.WithLabelValues(reason).Inc()
	w.log.Info("compaction: merge not swapped in; deleting its object", "partition", tp, "key", key,
		"reason", reason, "err", cause)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := w.cfg.Bucket.Delete(dctx, key); err != nil {
		w.m.errors.WithLabelValues("delete").Inc()
		w.log.Warn("compaction: delete unused merged object", "partition", tp, "key", key, "err", err)
	}
}

// fetchAhead is how many input GETs a merge keeps in flight: inputs are small, so one at a time
// would wait mostly on request latency.
const fetchAhead = 4

// build reads m's inputs (ranges of the objects in win from its copy) and writes their batches,
// verbatim and in order, into one sealed segment. It returns the segment's bytes and its catalog
// entry (without Key and CreatedAt). Errors about an input are *inputError.
func build(ctx context.Context, b objstore.Bucket, win *sharedWindow, m Merge) ([]byte, metadata.SegmentRef, error) {
	ref := metadata.SegmentRef{BaseOffset: m.BaseOffset, NextOffset: m.NextOffset,
		MinTimestamp: -1, MaxTimestamp: -1, Epoch: m.Inputs[0].Epoch}
	out := bytes.NewBuffer(make([]byte, 0, m.Bytes))
	sw := segment.NewWriter(out, m.BaseOffset, 0)
	inputs := prefetch(ctx, b, win, m.Inputs)
	defer inputs.stop()
	for i, s := range m.Inputs {
		data, err := inputs.get(i)
		if err == nil {
			err = copyBatches(sw, s, data, &ref)
		}
		if err != nil {
			return nil, ref, &inputError{key: s.Key, err: err}
		}
	}
	ix, err := sw.Seal()
	if err != nil {
		return nil, ref, err
	}
	if ix.BaseOffset != m.BaseOffset || ix.NextOffset != m.NextOffset {
		return nil, ref, fmt.Errorf("%w: merged segment covers [%d, %d), want [%d, %d)", segment.ErrCorrupt,
			ix.BaseOffset, ix.NextOffset, m.BaseOffset, m.NextOffset)
	}
	ref.Size = int64(out.Len())
	ref.MaxTimestamp = ix.MaxTimestamp
	return out.Bytes(), ref, nil
}

// fetcher GETs a merge's inputs in order, at most fetchAhead ahead of the one being copied. Its
// goroutines belong to the build that started it; stop cancels them and waits.
type fetcher struct {
	results []chan fetched
	slots   chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type fetched struct {
	data []byte
	err  error
	slot bool // the fetch held a slot, which get frees
}

// prefetch starts the GETs of segs; ranges of the objects in win (nil: none) are cut from its copy.
func prefetch(ctx context.Context, b objstore.Bucket, win *sharedWindow, segs []metadata.SegmentRef) *fetcher {
	ctx, cancel := context.WithCancel(ctx)
	f := &fetcher{results: make([]chan fetched, len(segs)), slots: make(chan struct{}, fetchAhead), cancel: cancel}
	for i := range f.results {
		f.results[i] = make(chan fetched, 1)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i, s := range segs {
			select {
			case f.slots <- struct{}{}:
			case <-ctx.Done():
				f.results[i] <- fetched{err: ctx.Err()}
				continue
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				data, ok, err := win.read(ctx, b, s)
				if !ok {
					data, err = fetch(ctx, b, s)
				}
				f.results[i] <- fetched{data, err, true}
			}()
		}
	}()
	return f
}

// get waits for input i (each once, in order) and frees its slot for the next GET.
func (f *fetcher) get(i int) ([]byte, error) {
	r := <-f.results[i]
	if r.slot {
		<-f.slots
	}
	return r.data, r.err
}

func (f *fetcher) stop() {
	f.cancel()
	f.wg.Wait()
}

// fetch reads the segment s: its whole object, or its range of a shared object (one ranged GET),
// and checks its size against the catalog's.
func fetch(ctx context.Context, b objstore.Bucket, s metadata.SegmentRef) ([]byte, error) {
	var rc io.ReadCloser
	var err error
	if s.Position != 0 || tier.IsSharedKey(s.Key) {
		rc, err = b.GetRange(ctx, s.Key, s.Position, s.Size)
	} else {
		rc, err = b.Get(ctx, s.Key)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, s.Size+1))
	if _, err := buf.ReadFrom(io.LimitReader(rc, s.Size+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) != s.Size {
		return nil, fmt.Errorf("%w: object holds %d bytes or more, the catalog says %d", segment.ErrCorrupt, buf.Len(), s.Size)
	}
	return buf.Bytes(), nil
}

// copyBatches checks one input segment (footer, index CRC, every batch's CRC, offsets against the
// catalog's range) and appends its batches to sw. Errors about the bytes wrap segment.ErrCorrupt.
func copyBatches(sw *segment.Writer, s metadata.SegmentRef, data []byte, ref *metadata.SegmentRef) error {
	r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return err
	}
	ix := r.Index()
	if ix.BaseOffset != s.BaseOffset || ix.NextOffset != s.NextOffset {
		return fmt.Errorf("%w: segment covers [%d, %d), the catalog says [%d, %d)", segment.ErrCorrupt,
			ix.BaseOffset, ix.NextOffset, s.BaseOffset, s.NextOffset)
	}
	sp := segment.NewSplitter(data[:ix.DataSize])
	var batches int64
	next := s.BaseOffset
	for sp.Next() {
		info := sp.Info()
		if info.BaseOffset < next || info.NextOffset() > s.NextOffset {
			return fmt.Errorf("%w: batch [%d, %d) outside the segment's remaining range [%d, %d)", segment.ErrCorrupt,
				info.BaseOffset, info.NextOffset(), next, s.NextOffset)
		}
		if _, err := sw.Append(sp.Batch()); err != nil {
			return fmt.Errorf("%w: %w", segment.ErrCorrupt, err)
		}
		next = info.NextOffset()
		batches++
		ref.Records += int64(info.NumRecords)
		if ref.MinTimestamp < 0 || info.FirstTimestamp < ref.MinTimestamp {
			ref.MinTimestamp = info.FirstTimestamp
		}
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
