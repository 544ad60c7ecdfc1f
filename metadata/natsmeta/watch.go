package natsmeta

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WatchLeadership implements metadata.LeadershipWatcher with one headers-only ordered consumer per
// bucket that matters, from the stream's next sequence at the call (see fromNow): the nodes bucket (a node key seen for the first time
// since the watch began, or since it was deleted, is a join; a delete, purge or TTL expiry marker
// is a departure; other puts are refreshes and do not signal), the leases bucket (deletes and
// purges only: releases and a deleted topic's records) and the topics bucket (every change). A
// node already registered when the watch starts signals once at its first refresh, which the
// contract allows. The channel is closed when ctx ends or the Store closes.
//
// This is how a node learns within milliseconds that a peer died (its registration's TTL ran
// out), joined, or gave a partition up, instead of waiting for its next poll.
func (s *Store) WatchLeadership(ctx context.Context) (<-chan struct{}, error) {
	wctx, cancel := context.WithCancel(ctx)
	out := make(chan struct{}, 1)
	var mu sync.Mutex // orders callbacks still running after Stop with close(out); guards known
	closed := false
	known := map[string]bool{} // node keys registered, as far as this watch has seen
	signal := func() {
		if closed {
			return
		}
		select {
		case out <- struct{}{}:
		default:
		}
	}
	removal := func(m jetstream.Msg) bool {
		h := m.Headers()
		return h.Get(jetstream.MarkerReasonHeader) != "" || h.Get("KV-Operation") != ""
	}
	handlers := map[*bucket]func(jetstream.Msg){
		s.nodes: func(m jetstream.Msg) {
			key := strings.TrimPrefix(m.Subject(), s.nodes.subj)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case removal(m):
				delete(known, key)
				signal()
			case !known[key]:
				known[key] = true
				signal()
			}
		},
		s.leases: func(m jetstream.Msg) {
			if !removal(m) {
				return // an acquisition
			}
			mu.Lock()
			defer mu.Unlock()
			signal()
		},
		s.topics: func(jetstream.Msg) {
			mu.Lock()
			defer mu.Unlock()
			signal()
		},
	}
	var ccs []jetstream.ConsumeContext
	stopAll := func() {
		for _, cc := range ccs {
			cc.Stop()
		}
	}
	for _, b := range []*bucket{s.nodes, s.leases, s.topics} {
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
			cc, err = cons.Consume(handlers[b], jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
				jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
					s.log.Debug("natsmeta: leadership watch", "bucket", b.name, "err", err)
				}))
			return err
		})
		if err != nil {
			stopAll()
			cancel()
			return nil, fmt.Errorf("natsmeta: watch %s: %w", b.name, err)
		}
		ccs = append(ccs, cc)
	}
	s.wg.Add(1)
	go func() { // owned by the store; ends with ctx or Close
		defer s.wg.Done()
		defer cancel()
		select {
		case <-wctx.Done():
		case <-s.done:
		}
		stopAll()
		mu.Lock()
		closed = true
		close(out)
		mu.Unlock()
	}()
	return out, nil
}
