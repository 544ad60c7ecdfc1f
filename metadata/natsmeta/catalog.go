package natsmeta

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-log/strata/metadata"
)

// Each partition's catalog is one key in the segments bucket, so every catalog change is a single
// compare-and-swap: RegisterSegment, ReplaceSegments and SetLogStartOffset are atomic, and the
// fencing check and the write see the same revision. The rules themselves are package metadata's
// (PartitionCatalog.RegisterSegment, ReplaceSegments, SetLogStartOffset), run on a private copy.

// catalog reads tp's catalog. A missing catalog, or one left over from a deleted topic with the same
// name, reads as empty.
func (s *Store) catalog(ctx context.Context, tp metadata.TopicPartition, top metadata.Topic) (metadata.PartitionCatalog, entry, error) {
	e, err := s.get(ctx, s.segments, partitionKey(tp))
	if err != nil {
		return metadata.PartitionCatalog{}, entry{}, err
	}
	return catalogOf(e, top)
}

func catalogOf(e entry, top metadata.Topic) (metadata.PartitionCatalog, entry, error) {
	if e.live {
		c, err := decodeCatalog(e.value)
		if err != nil {
			return metadata.PartitionCatalog{}, e, err
		}
		if c.TopicID == top.ID {
			return c, e, nil
		}
	}
	return metadata.PartitionCatalog{TopicID: top.ID}, e, nil
}

// updateCatalog checks tp and applies fn to its catalog under compare-and-swap.
func (s *Store) updateCatalog(ctx context.Context, tp metadata.TopicPartition, fn func(c *metadata.PartitionCatalog) (bool, error)) error {
	// Fast path: the catalog this store wrote last. Its topic was checked when it was read; a
	// topic deleted since has had the catalog purged, which makes the swap fail.
	done, err := s.tryCached(ctx, s.segments, partitionKey(tp), putOpts{}, func(cur entry, memo *any) ([]byte, bool, error) {
		var c metadata.PartitionCatalog
		if m, ok := cur.memo.(metadata.PartitionCatalog); ok {
			c = m.Clone()
		} else {
			var derr error
			if c, derr = decodeCatalog(cur.value); derr != nil {
				return nil, false, derr
			}
		}
		changed, err := fn(&c)
		if !changed {
			return nil, false, err
		}
		*memo = c
		return encodeCatalog(c), true, err
	})
	if done {
		return err
	}
	top, err := s.partition(ctx, tp)
	if err != nil {
		return err
	}
	return s.updateCatalogOf(ctx, tp, top, fn)
}

func (s *Store) updateCatalogOf(ctx context.Context, tp metadata.TopicPartition, top metadata.Topic, fn func(c *metadata.PartitionCatalog) (bool, error)) error {
	return s.update(ctx, s.segments, partitionKey(tp), putOpts{}, func(cur entry) ([]byte, bool, error) {
		c, _, err := catalogOf(cur, top)
		if err != nil {
			return nil, false, err
		}
		changed, err := fn(&c)
		if !changed {
			return nil, false, err
		}
		return encodeCatalog(c), true, err
	})
}

// GetCatalog implements metadata.Store.
func (s *Store) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (_ metadata.PartitionCatalog, err error) {
	defer s.observe("get_catalog", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	top, err := s.partition(ctx, tp)
	if err != nil {
		return metadata.PartitionCatalog{}, err
	}
	c, _, err := s.catalog(ctx, tp, top)
	return c, err
}

// RegisterSegment implements metadata.Store.
func (s *Store) RegisterSegment(ctx context.Context, tp metadata.TopicPartition, epoch int32, seg metadata.SegmentRef) (err error) {
	defer s.observe("register_segment", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	return s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		return c.RegisterSegment(epoch, seg)
	})
}

// ListSegments implements metadata.Store.
func (s *Store) ListSegments(ctx context.Context, tp metadata.TopicPartition, from, to int64) (_ []metadata.SegmentRef, err error) {
	c, err := s.GetCatalog(ctx, tp)
	if err != nil {
		return nil, err
	}
	return c.SegmentsInRange(from, to), nil
}

// ReplaceSegments implements metadata.Store.
func (s *Store) ReplaceSegments(ctx context.Context, tp metadata.TopicPartition, epoch int32, oldKeys []string, repl []metadata.SegmentRef) (err error) {
	defer s.observe("replace_segments", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	repl = slices.Clone(repl)
	return s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		return c.ReplaceSegments(epoch, oldKeys, repl)
	})
}

// SetLogStartOffset implements metadata.Store.
func (s *Store) SetLogStartOffset(ctx context.Context, tp metadata.TopicPartition, epoch int32, offset int64) (_ []metadata.SegmentRef, err error) {
	defer s.observe("set_log_start_offset", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	var dropped []metadata.SegmentRef
	err = s.updateCatalog(ctx, tp, func(c *metadata.PartitionCatalog) (bool, error) {
		var changed bool
		var err error
		dropped, changed, err = c.SetLogStartOffset(epoch, offset)
		return changed, err
	})
	if err != nil {
		return nil, err
	}
	return dropped, nil
}

// WatchCatalogs implements metadata.Store. Changes are coalesced per partition while the caller is
// not reading. The channel is closed when ctx ends or the store closes.
//
// The watch is an ordered pull consumer on the segments stream (headers only, from the stream's
// next sequence at the call) with a one-second heartbeat, so a consumer lost with a server or a
// stream leader is noticed and recreated, from the last sequence seen, within seconds.
func (s *Store) WatchCatalogs(ctx context.Context) (<-chan metadata.TopicPartition, error) {
	out, err := watchKeys(ctx, s, s.segments, parsePartitionKey)
	if err != nil {
		return nil, fmt.Errorf("natsmeta: watch catalogs: %w", err)
	}
	return out, nil
}

// WatchOffsets implements metadata.OffsetsWatcher: every write to a group's key in the offsets
// bucket (commits and deletes) reports the group, coalesced as WatchCatalogs does.
func (s *Store) WatchOffsets(ctx context.Context) (<-chan string, error) {
	out, err := watchKeys(ctx, s, s.offsets, parseNameKey)
	if err != nil {
		return nil, fmt.Errorf("natsmeta: watch offsets: %w", err)
	}
	return out, nil
}

// watchKeys follows b's keys with a headers-only ordered consumer from the stream's next
// sequence (fromNow) and reports each written or deleted key, parsed by parse, on the returned
// channel until ctx ends or the store closes. A key written again before the receiver took it is
// reported once (pending keys go out in arrival order); keys parse rejects are logged and skipped.
func watchKeys[K comparable](ctx context.Context, s *Store, b *bucket, parse func(string) (K, error)) (<-chan K, error) {
	wctx, cancel := context.WithCancel(ctx)
	keys := make(chan string, 256)
	var cc jetstream.ConsumeContext
	err := s.call(wctx, "watch", func(cctx context.Context) error {
		cfg, err := s.fromNow(cctx, b)
		if err != nil {
			return err
		}
		cons, err := s.js.OrderedConsumer(cctx, b.stream, cfg)
		if err != nil {
			return err
		}
		cc, err = cons.Consume(func(m jetstream.Msg) {
			select {
			case keys <- strings.TrimPrefix(m.Subject(), b.subj):
			case <-wctx.Done():
			}
		}, jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.log.Debug("natsmeta: watch", "stream", b.stream, "err", err)
			}))
		return err
	})
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan K)
	s.wg.Add(1)
	go func() { // owned by the store; ends with ctx or Close
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		defer cc.Stop()
		var pending []K // in arrival order
		queued := map[K]bool{}
		for {
			var send chan<- K
			var next K
			if len(pending) > 0 {
				send, next = out, pending[0]
			}
			select {
			case <-wctx.Done():
				return
			case <-s.done:
				return
			case key := <-keys:
				k, err := parse(key)
				if err != nil {
					s.log.Warn("natsmeta: ignoring a bad key", "stream", b.stream, "key", key, "err", err)
					continue
				}
				if !queued[k] {
					queued[k] = true
					pending = append(pending, k)
				}
			case send <- next:
				delete(queued, next)
				pending = pending[1:]
			}
		}
	}()
	return out, nil
}

// fromNow is the config of an ordered, headers-only consumer of b's keys that starts at the
// stream's next sequence. A start sequence rather than DeliverNew: an ordered consumer recreated
// before its first message (a server or stream leader lost on a cluster) starts again from its
// configured start, and "new" then would skip what was written in between.
func (s *Store) fromNow(ctx context.Context, b *bucket) (jetstream.OrderedConsumerConfig, error) {
	st, err := s.js.Stream(ctx, b.stream)
	if err != nil {
		return jetstream.OrderedConsumerConfig{}, err
	}
	return jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{b.subj + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    st.CachedInfo().State.LastSeq + 1,
		HeadersOnly:    true,
	}, nil
}
