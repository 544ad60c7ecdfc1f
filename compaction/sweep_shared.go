package compaction

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
)

// sweepShared deletes the shared objects (tier.SharedObjectKey: one object-durability flush of a
// node, a byte range per partition) that no catalog names any range of. It runs on the node that
// sweeps deleted topics. An object is deleted only when all of these hold:
//
//	no catalog of any topic's partition, read after the listing, names it (a range merged away,
//	    dropped by retention or DeleteRecords, of a deleted topic, or never registered)
//	it is at least sharedGrace old: a flush registers its ranges within tier.SharedRegisterWindow
//	    of the PUT or never
//	a sweep at least sharedGrace earlier found it unreferenced too
//
// A catalog that cannot be read stops the pass: an object it might name is not provably dead.
func (w *Worker) sweepShared(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	dir := tier.SharedDir(w.cfg.Prefix)
	var objs []sweepObject
	err := w.cfg.Bucket.List(ctx, dir, func(a objstore.Attrs) error {
		k, ok := w.parseKey(a.Key)
		if !ok || !k.Shared {
			w.noteForeign(a.Key)
			res.Foreign++
			return nil
		}
		objs = append(objs, newSweepObject(k, a))
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("list %s: %w", dir, err)
	}
	res.Objects = len(objs)
	if len(objs) == 0 {
		clear(w.sweep.shared)
		return res, nil
	}
	named, err := w.sharedNamed(ctx)
	if err != nil {
		return res, err
	}
	now := w.cfg.Now()
	grace := w.sharedGrace()
	marks := make(map[string]orphanMark, len(w.sweep.shared))
	for _, o := range objs {
		if named[o.name] || o.modified.IsZero() || now.Sub(o.modified) < grace {
			continue
		}
		res.Orphans++
		mark, marked := w.sweep.shared[o.name]
		if !marked {
			marks[o.name] = orphanMark{since: now, next: -1}
			continue
		}
		if now.Sub(mark.since) < grace || !w.deleteOrphan(ctx, "shared", o, "unreferenced") {
			marks[o.name] = mark
			continue
		}
		res.Deleted++
		res.Bytes += o.size
	}
	w.sweep.shared = marks // an object referenced again, or gone, is forgotten
	return res, nil
}

// sharedGrace is how old a shared object must be, and how long unreferenced, before it goes: the
// sweep grace, but never less than the time its ranges may still be registered.
func (w *Worker) sharedGrace() time.Duration {
	return max(w.cfg.SweepGrace, tier.SharedRegisterWindow)
}

// sharedNamed reads every partition's catalog and returns the shared objects they name.
func (w *Worker) sharedNamed(ctx context.Context) (map[string]bool, error) {
	topics, err := w.cfg.Store.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	named := make(map[string]bool)
	for _, t := range topics {
		for p := range t.Partitions {
			tp := metadata.TopicPartition{Topic: t.Name, Partition: p}
			c, err := w.cfg.Store.GetCatalog(ctx, tp)
			if errors.Is(err, metadata.ErrNotFound) {
				continue // deleted meanwhile: it names nothing any more
			}
			if err != nil {
				return nil, fmt.Errorf("read catalog of %s: %w", tp, err)
			}
			for _, s := range c.Segments {
				if tier.IsSharedKey(s.Key) {
					named[s.Key] = true
				}
			}
		}
	}
	return named, nil
}
