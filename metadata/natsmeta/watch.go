package natsmeta

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// WatchDepartures implements metadata.DepartureWatcher: it signals, until ctx ends, every time a
// lease or a node registration goes away: a TTL expiry (the server's delete marker, sent once the
// server has removed the key), a release, a deleted topic's leases or a deregistration. Renewals
// and registrations do not signal; a purge of a key that did not exist (deregistering an unknown
// node) does, which the contract allows. The channel carries no detail and coalesces: a receiver
// re-reads what it needs (ListLeases, ListNodes). It is closed when ctx ends or the Store closes.
//
// This is how a node learns within milliseconds that a dead peer's leases lapsed, instead of
// waiting for its next poll.
func (s *Store) WatchDepartures(ctx context.Context) (<-chan struct{}, error) {
	wctx, cancel := context.WithCancel(ctx)
	out := make(chan struct{}, 1)
	var mu sync.Mutex // orders callbacks still running after Stop with close(out)
	closed := false
	signal := func(m jetstream.Msg) {
		h := m.Headers()
		if h.Get(jetstream.MarkerReasonHeader) == "" && h.Get("KV-Operation") == "" {
			return // a put: renewal or registration
		}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case out <- struct{}{}:
		default:
		}
	}
	var ccs []jetstream.ConsumeContext
	stopAll := func() {
		for _, cc := range ccs {
			cc.Stop()
		}
	}
	for _, b := range []*bucket{s.leases, s.nodes} {
		var cc jetstream.ConsumeContext
		err := s.call(wctx, "watch", func(cctx context.Context) error {
			cons, err := s.js.OrderedConsumer(cctx, b.stream, jetstream.OrderedConsumerConfig{
				FilterSubjects: []string{b.subj + ">"},
				DeliverPolicy:  jetstream.DeliverNewPolicy,
				HeadersOnly:    true,
			})
			if err != nil {
				return err
			}
			cc, err = cons.Consume(signal, jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
				jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
					s.log.Debug("natsmeta: departure watch", "bucket", b.name, "err", err)
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
