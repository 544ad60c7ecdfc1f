package natsmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"time"

	"github.com/strata-log/strata/metadata"
)

// A group's offsets are one key in the offsets bucket, so a commit of many partitions is one
// compare-and-swap: all or nothing.

func (s *Store) groupOffsets(e entry) (map[metadata.TopicPartition]metadata.OffsetCommit, error) {
	if !e.live {
		return map[metadata.TopicPartition]metadata.OffsetCommit{}, nil
	}
	return decodeOffsets(e.value)
}

// CommitOffsets implements metadata.Store. Commit times keep millisecond precision.
func (s *Store) CommitOffsets(ctx context.Context, group string, offsets map[metadata.TopicPartition]metadata.OffsetCommit) (err error) {
	defer s.observe("commit_offsets", time.Now(), &err)
	if group == "" {
		return fmt.Errorf("metadata: empty group name")
	}
	if len(offsets) == 0 {
		return nil
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	merge := func(cur entry) ([]byte, bool, error) {
		m, err := s.groupOffsets(cur)
		if err != nil {
			return nil, false, err
		}
		maps.Copy(m, offsets)
		return encodeOffsets(m), true, nil
	}
	cached := func(cur entry, _ *any) ([]byte, bool, error) { return merge(cur) }
	if done, err := s.tryCached(ctx, s.offsets, nameKey(group), putOpts{}, cached); done {
		return err
	}
	return s.update(ctx, s.offsets, nameKey(group), putOpts{}, merge)
}

// FetchOffsets implements metadata.Store.
func (s *Store) FetchOffsets(ctx context.Context, group string) (_ map[metadata.TopicPartition]metadata.OffsetCommit, err error) {
	defer s.observe("fetch_offsets", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	if group == "" {
		return map[metadata.TopicPartition]metadata.OffsetCommit{}, nil
	}
	e, err := s.get(ctx, s.offsets, nameKey(group))
	if err != nil {
		return nil, err
	}
	return s.groupOffsets(e)
}

// DeleteOffsets implements metadata.Store.
func (s *Store) DeleteOffsets(ctx context.Context, group string, tps []metadata.TopicPartition) (err error) {
	defer s.observe("delete_offsets", time.Now(), &err)
	if group == "" {
		return nil
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	return s.update(ctx, s.offsets, nameKey(group), putOpts{}, func(cur entry) ([]byte, bool, error) {
		if !cur.live {
			return nil, false, nil
		}
		if len(tps) == 0 {
			return nil, true, nil // purge the group
		}
		m, err := s.groupOffsets(cur)
		if err != nil {
			return nil, false, err
		}
		n := len(m)
		for _, tp := range tps {
			delete(m, tp)
		}
		switch {
		case len(m) == n:
			return nil, false, nil
		case len(m) == 0:
			return nil, true, nil
		}
		return encodeOffsets(m), true, nil
	})
}

// ListGroups implements metadata.Store. Names come sorted.
func (s *Store) ListGroups(ctx context.Context) (_ []string, err error) {
	defer s.observe("list_groups", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.offsets)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		g, err := parseNameKey(e.Key())
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	sort.Strings(out)
	return out, nil
}

const producerKey = "next"

// AllocateProducerIDs implements metadata.Store. Ids start at 0.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int64) (_ int64, err error) {
	defer s.observe("allocate_producer_ids", time.Now(), &err)
	if n <= 0 {
		return 0, fmt.Errorf("metadata: cannot allocate %d producer ids", n)
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	var first int64
	err = s.update(ctx, s.producers, producerKey, putOpts{}, func(cur entry) ([]byte, bool, error) {
		var p producersJSON
		if cur.live {
			if err := decodeJSON(cur.value, &p, &p.V); err != nil {
				return nil, false, err
			}
		}
		if p.Next < 0 || p.Next > 1<<62 {
			return nil, false, fmt.Errorf("%w: producer id counter %d", ErrCorrupt, p.Next)
		}
		first = p.Next
		b, _ := json.Marshal(producersJSON{V: jsonVersion, Next: p.Next + n})
		return b, true, nil
	})
	return first, err
}

func nodeKey(id int32) string { return strconv.FormatInt(int64(id), 10) }

// RegisterNode implements metadata.Store. The TTL is rounded up to whole seconds and enforced by the
// server. Start times keep millisecond precision.
func (s *Store) RegisterNode(ctx context.Context, n metadata.Node, ttl time.Duration) (err error) {
	defer s.observe("register_node", time.Now(), &err)
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	b, _ := json.Marshal(nodeJSON{V: jsonVersion, ID: n.ID, KafkaAddr: n.KafkaAddr, HTTPAddr: n.HTTPAddr, Rack: n.Rack, StartedAt: n.StartedAt.UnixMilli()})
	_, err = s.put(ctx, s.nodes, nodeKey(n.ID), b, anyRev, putOpts{ttl: ttl})
	return err
}

// RefreshNode implements metadata.Store: a compare-and-swap on the registration's revision, so a
// key that lapsed in between (the server wrote its expiry marker, a new revision) is not revived.
func (s *Store) RefreshNode(ctx context.Context, n metadata.Node, ttl time.Duration) (err error) {
	defer s.observe("refresh_node", time.Now(), &err)
	if err := checkTTL(ttl); err != nil {
		return err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	b, _ := json.Marshal(nodeJSON{V: jsonVersion, ID: n.ID, KafkaAddr: n.KafkaAddr, HTTPAddr: n.HTTPAddr, Rack: n.Rack, StartedAt: n.StartedAt.UnixMilli()})
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := backoffCAS(ctx, attempt); err != nil {
				return err
			}
		}
		cur, err := s.get(ctx, s.nodes, nodeKey(n.ID))
		if err != nil {
			return err
		}
		if !cur.live {
			return fmt.Errorf("%w: node %d is not registered", metadata.ErrNotFound, n.ID)
		}
		if _, err := s.put(ctx, s.nodes, nodeKey(n.ID), b, cur.rev, putOpts{ttl: ttl}); err != nil {
			if errors.Is(err, errMismatch) {
				continue // written since the read (an expiry marker, or a concurrent refresh)
			}
			return err
		}
		return nil
	}
}

// DeregisterNode implements metadata.Store.
func (s *Store) DeregisterNode(ctx context.Context, id int32) (err error) {
	defer s.observe("deregister_node", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	return s.purge(ctx, s.nodes, nodeKey(id), anyRev)
}

// ListNodes implements metadata.Store.
func (s *Store) ListNodes(ctx context.Context) (_ []metadata.Node, err error) {
	defer s.observe("list_nodes", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.nodes)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.Node, 0, len(es))
	for _, e := range es {
		var j nodeJSON
		if err := decodeJSON(e.Value(), &j, &j.V); err != nil {
			return nil, err
		}
		out = append(out, metadata.Node{ID: j.ID, KafkaAddr: j.KafkaAddr, HTTPAddr: j.HTTPAddr, Rack: j.Rack, StartedAt: time.UnixMilli(j.StartedAt).UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
