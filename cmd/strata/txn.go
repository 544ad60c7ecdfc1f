package main

import (
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/txn"
	"github.com/strata-log/strata/metadata"
)

// newTxnCoordinator builds the node's transaction coordinator: markers go in process to the
// partitions this node leads and, for the others, as WriteTxnMarkers through a franz-go client
// that finds the leaders from this node's own listener (advertised). The client is created on
// first use and closed by the returned close func, after the coordinator.
func newTxnCoordinator(b *broker.Broker, store metadata.Store, advertised string, secured bool, log *slog.Logger) (*txn.Coordinator, func(), error) {
	var (
		mu sync.Mutex
		cl *kgo.Client
	)
	client := func() (*kgo.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		if cl == nil {
			c, err := kgo.NewClient(kgo.SeedBrokers(advertised))
			if err != nil {
				return nil, err
			}
			cl = c
		}
		return cl, nil
	}
	markers := &txn.NodeMarkers{Local: b, Client: client}
	if secured {
		// An authenticated or TLS listener would need inter-node credentials: not wired yet, so a
		// transaction spanning partitions led elsewhere stays prepared until their leaders move here.
		markers.Client = nil
	}
	c, err := txn.New(txn.Config{Store: store, Markers: markers, IsCoordinator: b.IsCoordinator, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	c.Start()
	return c, func() {
		c.Close()
		mu.Lock()
		if cl != nil {
			cl.Close()
		}
		mu.Unlock()
	}, nil
}
