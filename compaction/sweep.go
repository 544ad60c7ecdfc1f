package compaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// verdict is what the sweeper makes of one segment object of a led partition.
type verdict uint8

const (
	keepReferenced   verdict = iota // the catalog names it
	keepYoung                       // inside the grace period (or its age is unknown)
	keepNewer                       // written under an epoch newer than the sweeper's lease
	keepPending                     // an epoch the catalog does not fence, not wholly below the tiered end: it may still register
	needRange                       // superseded if its range ends at or below the tiered end; read its footer to know
	orphanSuperseded                // its whole range is below the tiered end: registered data or retention covers it
	orphanFenced                    // written under an epoch older than the catalog's: no write under it is accepted again
)

var verdictNames = [...]string{"referenced", "young", "newer", "pending", "need_range", "superseded", "fenced"}

func (v verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// orphan reports whether the verdict makes the object a candidate for deletion.
func (v verdict) orphan() bool { return v == orphanSuperseded || v == orphanFenced }

// sweepObject is one listed object whose key parsed as a segment object's or a Parquet object's.
type sweepObject struct {
	key tier.ParsedKey
	// parquet marks a tier.ParquetObjectKey: key holds its range (BaseOffset, NextOffset) and no
	// epoch, which the key does not name (Epoch 0).
	parquet  bool
	name     string // the key as listed
	size     int64
	modified time.Time // LastModified from the listing; zero when the backend did not say
	// next is one past the object's last offset when known: from a merged key, or from the
	// object's footer once read; -1 otherwise.
	next int64
}

func newSweepObject(k tier.ParsedKey, a objstore.Attrs) sweepObject {
	return sweepObject{key: k, name: a.Key, size: a.Size, modified: a.Modified, next: k.NextOffset}
}

// catalogView is what classify needs of a partition's catalog.
type catalogView struct {
	refs  map[string]bool
	epoch int32
	end   int64 // tiered end: every offset below it is either in a registered segment or below the log start
}

func viewCatalog(c metadata.PartitionCatalog) catalogView {
	v := catalogView{refs: make(map[string]bool, len(c.Segments)), epoch: c.Epoch, end: c.TieredEnd()}
	for _, s := range c.Segments {
		v.refs[s.Key] = true
	}
	return v
}

// classify judges one object of a partition against its catalog (read after the object was
// listed), the sweeper's lease epoch, the time and the grace period. It is the whole of the safety
// argument; see the package doc ("Sweeping orphans").
//
// The fencing epoch is the catalog's, not the lease's: a store refuses writes under an epoch older
// than the catalog's, and the catalog's epoch only rises with the new leader's first write. Until
// then an older leader whose lease lapsed can still register an upload, so its objects are pending,
// not fenced. Parquet objects are judged by classifyParquet.
func classify(o sweepObject, c catalogView, leaseEpoch int32, now time.Time, grace time.Duration) verdict {
	switch {
	case c.refs[o.name]:
		return keepReferenced
	case o.modified.IsZero() || now.Sub(o.modified) < grace:
		return keepYoung
	case o.parquet:
		return classifyParquet(o, c, leaseEpoch)
	case o.key.Epoch > leaseEpoch:
		return keepNewer
	case o.key.Epoch < c.epoch:
		return orphanFenced
	case o.key.BaseOffset >= c.end:
		return keepPending // never: the current leader's upload may be waiting to register
	case o.next < 0:
		return needRange
	case o.next <= c.end:
		return orphanSuperseded
	default:
		return keepPending // straddles the tiered end under an unfenced epoch: not provably dead
	}
}

// classifyParquet judges an unreferenced Parquet object old enough to be judged. Its key names no
// epoch (any leader's conversion of a range writes the same key), so it counts as written under
// the newest epoch that may still swap it in: while the catalog's epoch is older than the lease's,
// an older leader not yet fenced may be between its PUT and its swap, and the object is kept. Once
// the catalog is at the lease's epoch only this node swaps, never while it sweeps, and the object
// is an orphan when its range ends at or below the tiered end (the catalog holds that range in
// other entries, or below the log start).
func classifyParquet(o sweepObject, c catalogView, leaseEpoch int32) verdict {
	switch {
	case c.epoch < leaseEpoch:
		return keepPending
	case o.next <= c.end:
		return orphanSuperseded
	default:
		return keepPending
	}
}

// SweepResult counts what one sweep did.
type SweepResult struct {
	Partitions int   // led partitions swept
	Objects    int   // segment objects listed in led partitions, plus those of deleted topics
	Foreign    int   // keys in led partitions' folders that are not segment objects (never touched)
	Orphans    int   // objects judged orphans, deleted now or waiting for a later sighting
	Deleted    int   // objects deleted
	Bytes      int64 // bytes of the deleted objects
	GoneTopics int   // topic IDs with objects in the bucket but no topic
}

func (r *SweepResult) add(o SweepResult) {
	r.Partitions += o.Partitions
	r.Objects += o.Objects
	r.Foreign += o.Foreign
	r.Orphans += o.Orphans
	r.Deleted += o.Deleted
	r.Bytes += o.Bytes
	r.GoneTopics += o.GoneTopics
}

// sweepState is what sweeps remember between runs (in memory; a restart only delays deletes).
// It is guarded by passMu.
type sweepState struct {
	orphans   map[string]orphanMark          // object key → when it was first judged an orphan
	goneSince map[metadata.TopicID]time.Time // topic ID → first sweep that found it in no topic
	foreign   map[string]bool                // foreign keys already logged
	shared    map[string]orphanMark          // shared object key → first sweep that found it unreferenced
}

// orphanMark remembers an orphan between sweeps.
type orphanMark struct {
	since time.Time // the first sweep that judged it an orphan
	next  int64     // its end offset when a footer read told it (objects are immutable), else -1
	// modified is its LastModified then: an object written again under the same key since (a
	// Parquet conversion retried) is a new object, judged from its first sighting again.
	modified time.Time
}

// maxForeignLogged bounds the set of foreign keys remembered for logging once.
const maxForeignLogged = 4096

// Sweep deletes orphaned objects now: those of the partitions this node leads, and, when this node
// has the lowest live node ID, those of deleted topics. It returns what it did; the error is about
// the sweep as a whole (leases could not be listed, ctx ended, the Worker is closed). Sweeps and
// merge passes never overlap.
func (w *Worker) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	ctx, cancel, err := w.beginPass(ctx)
	if err != nil {
		return res, err
	}
	defer w.passMu.Unlock()
	defer cancel()

	leases, err := w.ledLeases(ctx, "sweep")
	if err != nil {
		return res, err
	}
	seen := make(map[string]bool)
	for _, l := range leases {
		r, err := w.sweepPartition(ctx, l, seen)
		res.add(r)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			w.m.errors.WithLabelValues("sweep").Inc()
			w.log.Warn("compaction: sweep partition", "partition", l.TopicPartition, "err", err)
		}
	}
	// An orphan not seen in this sweep is gone or no longer an orphan: forget it.
	for k := range w.sweep.orphans {
		if !seen[k] {
			delete(w.sweep.orphans, k)
		}
	}

	if run, err := w.sweepsTopics(ctx); err != nil {
		w.m.errors.WithLabelValues("sweep").Inc()
		w.log.Warn("compaction: sweep: list nodes", "err", err)
	} else if run {
		r, err := w.sweepTopics(ctx)
		res.add(r)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			w.m.errors.WithLabelValues("sweep").Inc()
			w.log.Warn("compaction: sweep deleted topics", "err", err)
		}
		r, err = w.sweepShared(ctx)
		res.add(r)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			w.m.errors.WithLabelValues("sweep").Inc()
			w.log.Warn("compaction: sweep shared objects", "err", err)
		}
	}
	return res, nil
}

// sweepPartition lists one led partition's objects, then reads its catalog, and deletes the objects
// judged orphans in this sweep and in one at least SweepGrace earlier. seen collects the orphans' keys.
func (w *Worker) sweepPartition(ctx context.Context, l metadata.Lease, seen map[string]bool) (SweepResult, error) {
	res := SweepResult{Partitions: 1}
	tp := l.TopicPartition
	top, err := w.cfg.Store.GetTopic(ctx, tp.Topic)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return res, nil // deleted meanwhile: the topic pass will see it
		}
		return res, fmt.Errorf("get topic: %w", err)
	}
	dir := topicsDir(w.cfg.Prefix) + top.ID.String() + "/" + strconv.Itoa(int(tp.Partition)) + "/"
	var objs []sweepObject
	err = w.cfg.Bucket.List(ctx, dir, func(a objstore.Attrs) error {
		o, ok := w.parseListed(a)
		if !ok || o.key.TopicID != top.ID || o.key.Partition != tp.Partition {
			w.noteForeign(a.Key)
			res.Foreign++
			return nil
		}
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("list %s: %w", dir, err)
	}
	res.Objects = len(objs)
	if len(objs) == 0 {
		return res, nil
	}
	// The catalog is read after the listing: an object registered in between is referenced.
	c, err := w.cfg.Store.GetCatalog(ctx, tp)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return res, nil
		}
		return res, fmt.Errorf("read catalog: %w", err)
	}
	if c.TopicID != top.ID || c.Epoch > l.Epoch {
		return res, nil // the topic was re-created, or a newer leader has written: not ours to judge
	}
	view := viewCatalog(c)
	now := w.cfg.Now()
	for _, o := range objs {
		v := classify(o, view, l.Epoch, now, w.cfg.SweepGrace)
		mark, marked := w.sweep.orphans[o.name]
		if marked && !mark.modified.Equal(o.modified) {
			marked = false // rewritten since it was first judged
		}
		if v == needRange {
			if marked && mark.next >= 0 {
				o.next = mark.next
			} else {
				next, err := objectEnd(ctx, w.cfg.Bucket, o.name, o.size)
				if err != nil {
					if ctx.Err() != nil {
						return res, ctx.Err()
					}
					w.log.Warn("compaction: sweep: read object range; kept", "key", o.name, "err", err)
					continue
				}
				o.next = next
			}
			v = classify(o, view, l.Epoch, now, w.cfg.SweepGrace)
		}
		if !v.orphan() {
			continue
		}
		res.Orphans++
		seen[o.name] = true
		if !marked {
			w.sweep.orphans[o.name] = orphanMark{since: now, next: o.next, modified: o.modified}
			continue
		}
		if now.Sub(mark.since) < w.cfg.SweepGrace {
			continue
		}
		if w.deleteOrphan(ctx, tp.String(), o, v.String()) {
			res.Deleted++
			res.Bytes += o.size
			delete(w.sweep.orphans, o.name)
			delete(seen, o.name)
		}
	}
	return res, nil
}

// deleteOrphan deletes one object judged an orphan and counts it.
func (w *Worker) deleteOrphan(ctx context.Context, scope string, o sweepObject, reason string) bool {
	if err := w.cfg.Bucket.Delete(ctx, o.name); err != nil {
		if ctx.Err() == nil {
			w.m.errors.WithLabelValues("sweep").Inc()
			w.log.Warn("compaction: sweep: delete orphan", "key", o.name, "err", err)
		}
		return false
	}
	w.m.sweepDeleted.WithLabelValues(reason).Inc()
	w.m.sweepBytes.Add(float64(o.size))
	w.log.Info("compaction: swept orphaned object", "scope", scope, "key", o.name, "reason", reason,
		"bytes", o.size, "modified", o.modified)
	return true
}

// parseKey parses a listed key as a segment object's under the configured prefix.
func (w *Worker) parseKey(key string) (tier.ParsedKey, bool) {
	k, err := tier.ParseObjectKey(key)
	if err != nil || k.Prefix != strings.TrimSuffix(w.cfg.Prefix, "/") || k.String() != key {
		return k, false
	}
	return k, true
}

// parseListed parses a listed key as a segment object's or a Parquet object's (parseParquetKey)
// under the configured prefix, into the sweeper's view of it.
func (w *Worker) parseListed(a objstore.Attrs) (sweepObject, bool) {
	if k, ok := w.parseKey(a.Key); ok {
		return newSweepObject(k, a), true
	}
	k, ok := w.parseParquetKey(a.Key)
	if !ok {
		return sweepObject{}, false
	}
	o := newSweepObject(k, a)
	o.parquet = true
	return o, true
}

// parseParquetKey parses a listed key as a tier.ParquetObjectKey under the configured prefix: the
// folder as a segment key's, the name <base, 20 digits>-<next, 20 digits>.parquet with base < next.
// Only a key that tier.ParquetObjectKey writes back exactly is accepted.
func (w *Worker) parseParquetKey(key string) (tier.ParsedKey, bool) {
	slash := strings.LastIndexByte(key, '/') + 1
	dir, name := key[:slash], key[slash:]
	name, ok := strings.CutSuffix(name, ".parquet")
	b, n, ok2 := strings.Cut(name, "-")
	if !ok || !ok2 || len(b) != 20 || len(n) != 20 {
		return tier.ParsedKey{}, false
	}
	base, err1 := strconv.ParseInt(b, 10, 64)
	next, err2 := strconv.ParseInt(n, 10, 64)
	if err1 != nil || err2 != nil || base < 0 || next <= base {
		return tier.ParsedKey{}, false
	}
	// The folder parses as a segment key's would: <prefix>/topics/<topic-id>/<partition>/.
	k, err := tier.ParseObjectKey(dir + fmt.Sprintf("%020d-0.seg", base))
	if err != nil || k.Shared || k.Prefix != strings.TrimSuffix(w.cfg.Prefix, "/") {
		return tier.ParsedKey{}, false
	}
	k.NextOffset = next
	if tier.ParquetObjectKey(w.cfg.Prefix, k.TopicID, k.Partition, base, next) != key {
		return tier.ParsedKey{}, false
	}
	return k, true
}

// noteForeign logs a key that is neither a segment object nor a Parquet object, once per key (up
// to a bound).
func (w *Worker) noteForeign(key string) {
	if w.sweep.foreign[key] || len(w.sweep.foreign) >= maxForeignLogged {
		return
	}
	w.sweep.foreign[key] = true
	w.log.Warn("compaction: sweep: not a segment object; left alone", "key", key)
}

// topicsDir is the folder that holds every topic's objects.
func topicsDir(prefix string) string {
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		return prefix + "/topics/"
	}
	return "topics/"
}

// objectEnd reads an object's footer and index (two ranged GETs) and returns its next offset.
func objectEnd(ctx context.Context, b objstore.Bucket, key string, size int64) (int64, error) {
	r, err := segment.OpenReader(rangeReader{ctx: ctx, b: b, key: key}, size)
	if err != nil {
		return 0, err
	}
	return r.Index().NextOffset, nil
}

// rangeReader is an io.ReaderAt over one object through ranged GETs, for one call's ctx.
type rangeReader struct {
	ctx context.Context
	b   objstore.Bucket
	key string
}

func (r rangeReader) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.b.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.ReadFull(rc, p)
}
