package natsmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Leases live in the leases bucket under partitionKey, one record per partition naming the holder
// and the epoch, with no TTL: a lease is live while its holder's key in the nodes bucket exists, and
// that key carries the TTL (RegisterNode). The server deletes a lapsed registration, so expiry needs
// no clock agreement between nodes, and one refresh per node keeps all its partitions. A new term
// takes max(record epoch, catalog epoch) + 1. Taking a lease is a compare-and-swap on the record's
// revision, so of two nodes that both find its holder gone, or a holder coming back while another
// takes over, exactly one wins.
//
// The catalog is written only when a term begins on another node's lease (the old holder may have
// a catalog write in flight, which the raised epoch fences) and on release (the record goes, the
// catalog keeps the epoch). A new topic's partitions and a node's own partitions after a restart
// cost one write each, to the lease record, which the embedded server does not fsync.

func encodeLease(topicID metadata.TopicID, node, epoch int32) []byte {
	b, _ := json.Marshal(leaseJSON{V: jsonVersion, TopicID: topicID.String(), Node: node, Epoch: epoch})
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
	return metadata.Lease{TopicPartition: tp, Node: j.Node, Epoch: j.Epoch}, id, nil
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("metadata: ttl %v must be positive", ttl)
	}
	return nil
}

// registered reports whether node's registration is live.
func (s *Store) registered(ctx context.Context, node int32) (bool, error) {
	cur, err := s.get(ctx, s.nodes, nodeKey(node))
	if err != nil {
		return false, err
	}
	return cur.live, nil
}

// registeredNodes returns the ids of every live registration.
func (s *Store) registeredNodes(ctx context.Context) (map[int32]bool, error) {
	es, err := s.list(ctx, s.nodes)
	if err != nil {
		return nil, err
	}
	live := make(map[int32]bool, len(es))
	for _, e := range es {
		id, err := strconv.ParseInt(e.Key(), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: node key %q", ErrCorrupt, e.Key())
		}
		live[int32(id)] = true
	}
	return live, nil
}

// AcquireLease implements metadata.Store.
func (s *Store) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32) (_ metadata.Lease, err error) {
	defer s.observe("acquire_lease", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	top, err := s.partition(ctx, tp)
	if err != nil {
		return metadata.Lease{}, err
	}
	key := partitionKey(tp)
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
		prev := metadata.Lease{Node: -1}
		if cur.live {
			held, heldID, err := decodeLease(tp, cur.value)
			if err != nil {
				return metadata.Lease{}, err
			}
			if heldID == top.ID {
				prev = held
			}
		}
		if prev.Node >= 0 && prev.Node != node {
			live, err := s.registered(ctx, prev.Node)
			if err != nil {
				return metadata.Lease{}, err
			}
			if live {
				return metadata.Lease{}, fmt.Errorf("%w: lease on %s held by node %d", metadata.ErrConflict, tp, prev.Node)
			}
		}
		// Free, held by a node that is gone, left over from a deleted incarnation of the topic, or
		// ours from an earlier term: take it under the next epoch. The swap fails if anyone wrote
		// the record since it was read.
		cat, _, err := s.catalog(ctx, tp, top)
		if err != nil {
			return metadata.Lease{}, err
		}
		l := metadata.Lease{TopicPartition: tp, Node: node, Epoch: max(cat.Epoch, prev.Epoch) + 1}
		if _, err := s.put(ctx, s.leases, key, encodeLease(top.ID, node, l.Epoch), cur.rev, putOpts{}); err != nil {
			if errors.Is(err, errMismatch) {
				continue // someone else was quicker; the next read tells who
			}
			return metadata.Lease{}, err
		}
		if prev.Node >= 0 && prev.Node != node {
			// Taken from another node, which may still have a catalog write in flight: raise the
			// catalog's epoch now so that write is fenced.
			if err := s.raiseEpoch(ctx, tp, top, l.Epoch); err != nil {
				if errors.Is(err, metadata.ErrConflict) {
					continue // a writer raised the epoch since we read it; take a newer one
				}
				return metadata.Lease{}, err
			}
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

// ReleaseLease implements metadata.Store. Releasing a lease that is gone is not an error;
// releasing one that another holder has since taken is ErrFenced. The catalog keeps the released
// epoch, so the next term's is newer although the record goes.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) (err error) {
	defer s.observe("release_lease", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	top, err := s.partition(ctx, l.TopicPartition)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil // the topic is gone, and its records with it
	}
	if err != nil {
		return err
	}
	if err := s.raiseEpoch(ctx, l.TopicPartition, top, l.Epoch); err != nil && !errors.Is(err, metadata.ErrConflict) {
		return err // a conflict: a newer term began, which the swap below reports
	}
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
		return metadata.Lease{}, fmt.Errorf("%w: no lease on %s", metadata.ErrNotFound, tp)
	}
	l, _, err := decodeLease(tp, cur.value)
	if err != nil {
		return metadata.Lease{}, err
	}
	live, err := s.registered(ctx, l.Node)
	if err != nil {
		return metadata.Lease{}, err
	}
	if !live {
		return metadata.Lease{}, fmt.Errorf("%w: lease on %s: holder node %d is not registered", metadata.ErrNotFound, tp, l.Node)
	}
	return l, nil
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
	live, err := s.registeredNodes(ctx)
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
		if live[l.Node] {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b metadata.Lease) int { return a.TopicPartition.Compare(b.TopicPartition) })
	return out, nil
}
