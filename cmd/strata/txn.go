package main

import (
	"log/slog"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/txn"
	"github.com/strata-log/strata/metadata"
)

// newTxnCoordinator builds the node's transaction coordinator: markers go in process to the
// partitions this node leads and, for the others, as WriteTxnMarkers through the inter-node client
// (peer.go). The client is closed by the returned close func, after the coordinator.
func newTxnCoordinator(b *broker.Broker, store metadata.Store, peer *peerClient, version int8, log *slog.Logger) (*txn.Coordinator, func(), error) {
	markers := &txn.NodeMarkers{Local: b, Client: peer.get}
	if peer.off != nil {
		// A transaction spanning partitions led elsewhere stays prepared until their leaders
		// move here.
		log.Warn("strata: transaction markers for partitions other nodes lead wait until this node leads them", "reason", peer.off)
		markers.Client = nil
	}
	c, err := txn.New(txn.Config{Store: store, Markers: markers, IsCoordinator: b.IsCoordinator,
		TransactionVersion: version, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	c.Start()
	return c, func() {
		c.Close()
		peer.close()
	}, nil
}
