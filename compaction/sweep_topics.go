package compaction

import (
	"context"
	"fmt"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
)

// sweepsTopics reports whether this node runs the deleted-topics pass: it does when no live node
// has a lower ID. Two nodes that briefly both think so only repeat each other's idempotent deletes;
// a node that is not registered (tests, a node starting up) counts as the lowest.
func (w *Worker) sweepsTopics(ctx context.Context) (bool, error) {
	nodes, err := w.cfg.Store.ListNodes(ctx)
	if err != nil {
		return false, err
	}
	for _, n := range nodes {
		if n.ID < w.cfg.NodeID {
			return false, nil
		}
	}
	return true, nil
}

// sweepTopics deletes the objects of topics that no longer exist. A topic ID counts as gone when it
// is absent from two topic listings, each read after the bucket was listed, at least SweepGrace
// apart; its objects are then deleted once they are older than SweepGrace as well.
func (w *Worker) sweepTopics(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	known, err := w.topicIDs(ctx)
	if err != nil {
		return res, err
	}
	// Only objects of topics unknown before the listing are kept in memory.
	dir := topicsDir(w.cfg.Prefix)
	cand := make(map[metadata.TopicID][]sweepObject)
	err = w.cfg.Bucket.List(ctx, dir, func(a objstore.Attrs) error {
		o, ok := w.parseListed(a)
		if !ok {
			w.noteForeign(a.Key)
			return nil
		}
		if !known[o.key.TopicID] {
			res.Objects++
			cand[o.key.TopicID] = append(cand[o.key.TopicID], o)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("list %s: %w", dir, err)
	}
	// Read again after the listing: a topic created meanwhile has objects but was not known before.
	if known, err = w.topicIDs(ctx); err != nil {
		return res, err
	}
	now := w.cfg.Now()
	for id := range w.sweep.goneSince {
		if _, ok := cand[id]; !ok || known[id] {
			delete(w.sweep.goneSince, id) // nothing left of it, or it exists after all
		}
	}
	for id, objs := range cand {
		if known[id] {
			continue
		}
		res.GoneTopics++
		since, ok := w.sweep.goneSince[id]
		if !ok {
			since = now
			w.sweep.goneSince[id] = now
		}
		for _, o := range objs {
			if o.modified.IsZero() || now.Sub(o.modified) < w.cfg.SweepGrace {
				continue
			}
			res.Orphans++
			if now.Sub(since) < w.cfg.SweepGrace {
				continue
			}
			if w.deleteOrphan(ctx, "topic "+id.String(), o, "topic_deleted") {
				res.Deleted++
				res.Bytes += o.size
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
		}
	}
	return res, nil
}

// topicIDs returns the IDs of every existing topic.
func (w *Worker) topicIDs(ctx context.Context) (map[metadata.TopicID]bool, error) {
	ts, err := w.cfg.Store.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	ids := make(map[metadata.TopicID]bool, len(ts))
	for _, t := range ts {
		ids[t.ID] = true
	}
	return ids, nil
}
