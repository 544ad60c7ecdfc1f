package natsmeta

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/strata-log/strata/metadata"
)

// observe records a method's duration and outcome; use as defer s.observe("op", time.Now(), &err).
func (s *Store) observe(op string, start time.Time, err *error) {
	result := "ok"
	switch e := *err; {
	case e == nil:
	case errors.Is(e, metadata.ErrNotFound):
		result = "not_found"
	case errors.Is(e, metadata.ErrConflict):
		result = "conflict"
	case errors.Is(e, metadata.ErrFenced):
		result = "fenced"
	case errors.Is(e, metadata.ErrExists):
		result = "exists"
	default:
		result = "error"
	}
	s.m.ops.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

// CreateTopic implements metadata.Store.
func (s *Store) CreateTopic(ctx context.Context, t metadata.Topic) (_ metadata.Topic, err error) {
	defer s.observe("create_topic", time.Now(), &err)
	if err := t.Validate(); err != nil {
		return metadata.Topic{}, err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	t.Configs = maps.Clone(t.Configs)
	if t.ID.IsZero() {
		t.ID = metadata.NewTopicID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	err = s.update(ctx, s.topics, nameKey(t.Name), putOpts{}, func(cur entry) ([]byte, bool, error) {
		if cur.live {
			return nil, false, fmt.Errorf("%w: topic %q", metadata.ErrExists, t.Name)
		}
		return encodeTopic(t), true, nil
	})
	if err != nil {
		return metadata.Topic{}, err
	}
	return t, nil
}

// getTopic reads a topic and its revision.
func (s *Store) getTopic(ctx context.Context, name string) (metadata.Topic, uint64, error) {
	e, err := s.get(ctx, s.topics, nameKey(name))
	if err != nil {
		return metadata.Topic{}, 0, err
	}
	if !e.live {
		return metadata.Topic{}, e.rev, fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
	}
	t, err := decodeTopic(e.value)
	return t, e.rev, err
}

// GetTopic implements metadata.Store.
func (s *Store) GetTopic(ctx context.Context, name string) (_ metadata.Topic, err error) {
	defer s.observe("get_topic", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	t, _, err := s.getTopic(ctx, name)
	return t, err
}

// ListTopics implements metadata.Store. Topics come ordered by name.
func (s *Store) ListTopics(ctx context.Context) (_ []metadata.Topic, err error) {
	defer s.observe("list_topics", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.topics)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.Topic, 0, len(es))
	for _, e := range es {
		t, err := decodeTopic(e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateTopic implements metadata.Store. The partition count may grow but not shrink.
func (s *Store) UpdateTopic(ctx context.Context, name string, fn func(t *metadata.Topic) error) (_ metadata.Topic, err error) {
	defer s.observe("update_topic", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	var out metadata.Topic
	err = s.update(ctx, s.topics, nameKey(name), putOpts{}, func(cur entry) ([]byte, bool, error) {
		if !cur.live {
			return nil, false, fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
		}
		old, err := decodeTopic(cur.value)
		if err != nil {
			return nil, false, err
		}
		next := old
		next.Configs = maps.Clone(old.Configs)
		if err := fn(&next); err != nil {
			return nil, false, err
		}
		if next.Name != old.Name || next.ID != old.ID {
			return nil, false, fmt.Errorf("metadata: UpdateTopic may not change name or id of %q", name)
		}
		if next.Partitions < old.Partitions {
			return nil, false, fmt.Errorf("metadata: topic %q cannot shrink from %d to %d partitions", name, old.Partitions, next.Partitions)
		}
		next.Configs = maps.Clone(next.Configs)
		out = next
		return encodeTopic(next), true, nil
	})
	if err != nil {
		return metadata.Topic{}, err
	}
	return out, nil
}

// DeleteTopic implements metadata.Store. The topic goes first, then its leases and catalogs; a
// leftover from a crash in between is harmless, as leases and catalogs name the topic ID they
// belong to and a topic created again under the name has a new one.
func (s *Store) DeleteTopic(ctx context.Context, name string) (err error) {
	defer s.observe("delete_topic", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	var gone metadata.Topic
	err = s.update(ctx, s.topics, nameKey(name), putOpts{}, func(cur entry) ([]byte, bool, error) {
		if !cur.live {
			return nil, false, fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
		}
		t, err := decodeTopic(cur.value)
		if err != nil {
			return nil, false, err
		}
		gone = t
		return nil, true, nil // nil value: purge
	})
	if err != nil {
		return err
	}
	for p := int32(0); p < gone.Partitions; p++ {
		key := partitionKey(metadata.TopicPartition{Topic: name, Partition: p})
		if err := s.purge(ctx, s.leases, key, anyRev); err != nil {
			return err
		}
		if err := s.purge(ctx, s.segments, key, anyRev); err != nil {
			return err
		}
	}
	return nil
}

// partition checks that tp names a partition of an existing topic and returns the topic.
func (s *Store) partition(ctx context.Context, tp metadata.TopicPartition) (metadata.Topic, error) {
	t, _, err := s.getTopic(ctx, tp.Topic)
	if err != nil {
		return metadata.Topic{}, err
	}
	if tp.Partition < 0 || tp.Partition >= t.Partitions {
		return metadata.Topic{}, fmt.Errorf("%w: partition %s", metadata.ErrNotFound, tp)
	}
	return t, nil
}
