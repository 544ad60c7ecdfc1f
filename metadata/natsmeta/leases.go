package natsmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Leases live in the leases bucket under partitionKey, each message written with a per-message TTL:
// the server deletes a lapsed lease, so expiry needs no clock agreement between nodes. A lease is
// live exactly while its key exists. The epoch it carries is also kept durably in the partition's
// catalog (which has no TTL), so it outlives the lease key; a new holder takes catalog epoch + 1.

func encodeLease(topicID metadata.TopicID, node, epoch int32, expires time.Time) []byte {
	b, _ := json.Marshal(leaseJSON{V: jsonVersion, TopicID: topicID.String(), Node: node, Epoch: epoch, Expires: expires.UnixMilli()})
	return b
}

func decodeLease(tp metadata.TopicPartition, b []byte) (metadata.Lease, metadata.TopicID, error) {
	var j leaseJSON
	if err := decodeJSON(b, &j, &j.V); err != nil {
		return metadata.Lease{}, metadata.TopicID{}, err
	}
	id, err := metadata.ParseTopicID(j.TopicID)
	if err != nil {
		return metadata.Lease{}, id, fmt.Errorf("%w: lease: %v", ErrCorrupt, err)
	}
	return metadata.Lease{TopicPartition: tp, Node: j.Node, Epoch: j.Epoch, Expires: time.UnixMilli(j.Expires)}, id, nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("metadata: ttl %v must be positive", ttl)
	}
	return nil
}

// AcquireLease implements metadata.Store. TTLs are rounded up to whole seconds.
func (s *Store) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32, ttl time.Duration) (_ metadata.Lease, err error) {
	defer s.observe("acquire_lease", time.Now(), &err)
	if err := checkTTL(ttl); err != nil {
		return metadata.Lease{}, err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	top, err := s.partition(ctx, tp)
	if err != nil {
		return metadata.Lease{}, err
	}
	key := partitionKey(tp)
	// stale is set once this node's own lease turns out to carry an epoch the catalog has passed;
	// the lease is then replaced by one with a newer epoch.
	stale := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoffCAS(ctx, attempt); err != nil {
				return metadata.Lease{}, err
			}
		}
		cur, err := s.get(ctx, s.leases, key)
		if err != nil {
			return metadata.Lease{}, err
		}
		var held metadata.Lease
		var heldID metadata.TopicID
		if cur.live {
			if held, heldID, err = decodeLease(tp, cur.value); err != nil {
				return metadata.Lease{}, err
			}
		}
		now := time.Now()
		if cur.live && heldID == top.ID && !(stale && held.Node == node) {
			if held.Node != node {
				return metadata.Lease{}, fmt.Errorf("%w: lease on %s held by node %d", metadata.ErrConflict, tp, held.Node)
			}
			// Ours already: renew in place, and make sure the catalog carries the epoch (an earlier
			// acquire may have failed between writing the lease and bumping the catalog).
			held.Expires = now.Add(roundTTL(ttl))
			if _, err := s.put(ctx, s.leases, key, encodeLease(top.ID, node, held.Epoch, held.Expires), cur.rev, putOpts{ttl: ttl}); err != nil {
				if errors.Is(err, errMismatch) {
					continue
				}
				return metadata.Lease{}, err
			}
			if err := s.raiseEpoch(ctx, tp, top, held.Epoch); err != nil {
				if errors.Is(err, metadata.ErrConflict) {
					stale = true
					continue
				}
				return metadata.Lease{}, err
			}
			return held, nil
		}
		// Free (or left over from a deleted incarnation of the topic): take it with the next epoch.
		cat, _, err := s.catalog(ctx, tp, top)
		if err != nil {
			return metadata.Lease{}, err
		}
		l := metadata.Lease{TopicPartition: tp, Node: node, Epoch: cat.Epoch + 1, Expires: now.Add(roundTTL(ttl))}
		if _, err := s.put(ctx, s.leases, key, encodeLease(top.ID, node, l.Epoch, l.Expires), cur.rev, putOpts{ttl: ttl}); err != nil {
			if errors.Is(err, errMismatch) {
				continue // someone else was quicker; the next read tells who
			}
			return metadata.Lease{}, err
		}
		if err := s.raiseEpoch(ctx, tp, top, l.Epoch); err != nil {
			if errors.Is(err, metadata.ErrConflict) {
				stale = true // a writer raised the epoch since we read it; take a newer one
				continue
			}
			return metadata.Lease{}, err
		}
		return l, nil
	}
}

// raiseEpoch records epoch in the catalog. A catalog already past epoch means a writer used a newer
// epoch than any lease handed out; the lease is then worthless and ErrConflict is returned, upon
// which AcquireLease replaces it with a lease of a newer epoch.
func (s *Store) raiseEpoch(ctx context.Context, tp metadata.TopicPartition, top metadata.Topic, epoch int32) error {
	return s.updateCatalogOf(ctx, tp, top, func(c *metadata.PartitionCatalog) (bool, error) {
		switch {
		case c.Epoch < epoch:
			c.Epoch = epoch
			return true, nil
		case c.Epoch == epoch:
			return false, nil
		default:
			return false, fmt.Errorf("%w: catalog of %s is at epoch %d, past lease epoch %d", metadata.ErrConflict, tp, c.Epoch, epoch)
		}
	})
}

// RenewLease implements metadata.Store.
func (s *Store) RenewLease(ctx context.Context, l metadata.Lease, ttl time.Duration) (_ metadata.Lease, err error) {
	defer s.observe("renew_lease", time.Now(), &err)
	if err := checkTTL(ttl); err != nil {
		return metadata.Lease{}, err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	key := partitionKey(l.TopicPartition)
	var out metadata.Lease
	renew := func(cur entry) ([]byte, bool, error) {
		if !cur.live {
			return nil, false, fmt.Errorf("%w: lease on %s lapsed (node %d epoch %d)", metadata.ErrFenced, l.TopicPartition, l.Node, l.Epoch)
		}
		held, id, err := decodeLease(l.TopicPartition, cur.value)
		if err != nil {
			return nil, false, err
		}
		if held.Node != l.Node || held.Epoch != l.Epoch {
			return nil, false, fmt.Errorf("%w: lease on %s is node %d epoch %d, not node %d epoch %d",
				metadata.ErrFenced, l.TopicPartition, held.Node, held.Epoch, l.Node, l.Epoch)
		}
		out = l
		out.Expires = time.Now().Add(roundTTL(ttl))
		return encodeLease(id, l.Node, l.Epoch, out.Expires), true, nil
	}
	// The swap fails if the lease lapsed since: expiry removes the message the cached revision
	// names.
	cached := func(cur entry, _ *any) ([]byte, bool, error) { return renew(cur) }
	if done, err := s.tryCached(ctx, s.leases, key, putOpts{ttl: ttl}, cached); done {
		if err != nil {
			return metadata.Lease{}, err
		}
		return out, nil
	}
	if err := s.update(ctx, s.leases, key, putOpts{ttl: ttl}, renew); err != nil {
		return metadata.Lease{}, err
	}
	return out, nil
}

// ReleaseLease implements metadata.Store. Releasing a lease that already lapsed is not an error;
// releasing one that another holder has since taken is ErrFenced.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) (err error) {
	defer s.observe("release_lease", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	return s.update(ctx, s.leases, partitionKey(l.TopicPartition), putOpts{}, func(cur entry) ([]byte, bool, error) {
		if !cur.live {
			return nil, false, nil
		}
		held, _, err := decodeLease(l.TopicPartition, cur.value)
		if err != nil {
			return nil, false, err
		}
		if held.Node != l.Node || held.Epoch != l.Epoch {
			return nil, false, fmt.Errorf("%w: lease on %s is held by node %d epoch %d", metadata.ErrFenced, l.TopicPartition, held.Node, held.Epoch)
		}
		return nil, true, nil // purge
	})
}

// GetLease implements metadata.Store.
func (s *Store) GetLease(ctx context.Context, tp metadata.TopicPartition) (_ metadata.Lease, err error) {
	defer s.observe("get_lease", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	cur, err := s.get(ctx, s.leases, partitionKey(tp))
	if err != nil {
		return metadata.Lease{}, err
	}
	if !cur.live {
		return metadata.Lease{}, fmt.Errorf("%w: no live lease on %s", metadata.ErrNotFound, tp)
	}
	l, _, err := decodeLease(tp, cur.value)
	return l, err
}

// ListLeases implements metadata.Store. Leases come ordered by topic, then partition.
func (s *Store) ListLeases(ctx context.Context) (_ []metadata.Lease, err error) {
	defer s.observe("list_leases", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.leases)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.Lease, 0, len(es))
	for _, e := range es {
		tp, err := parsePartitionKey(e.Key())
		if err != nil {
			return nil, err
		}
		l, _, err := decodeLease(tp, e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b metadata.Lease) int { return a.TopicPartition.Compare(b.TopicPartition) })
	return out, nil
}
