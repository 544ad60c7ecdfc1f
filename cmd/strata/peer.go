package main

import (
	"crypto/tls"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-log/strata/ingest/kafka"
)

// A node calls other nodes over their Kafka listeners for two jobs: the transaction coordinator
// sends WriteTxnMarkers to the leaders of a transaction's partitions, and a query reads the hot
// tail of a partition another node leads with a Fetch. One franz-go client serves each, made on
// first use, seeded with this node's own advertised address (the metadata it answers names every
// leader).
//
// On a listener with TLS the client uses TLS, trusting --inter-node-tls-ca (default: the system's
// roots) and, when the listener wants client certificates (--kafka-tls-client-ca), presenting the
// node's own certificate, which must then allow client authentication too. On a listener with
// SASL it logs in as --inter-node-user with SCRAM-SHA-512, the password read from the
// --sasl-users file every node already has; with --authorizer acl that user belongs in
// --super-users (markers need CLUSTER_ACTION, tails READ on every topic). Without such a user a
// SASL cluster has no inter-node client: markers for partitions led elsewhere wait until their
// leaders move here, and queries cannot read other nodes' hot tails.

// peerClient is the lazily made client of one inter-node job.
type peerClient struct {
	opts []kgo.Opt
	off  error // non-nil: no client, and why

	mu sync.Mutex
	cl *kgo.Client
}

func newPeerClient(advertised string, p peerAccess) *peerClient {
	if p.off != nil {
		return &peerClient{off: p.off}
	}
	return &peerClient{opts: append([]kgo.Opt{kgo.SeedBrokers(advertised)}, p.opts...)}
}

func (p *peerClient) get() (*kgo.Client, error) {
	if p.off != nil {
		return nil, p.off
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl == nil {
		cl, err := kgo.NewClient(p.opts...)
		if err != nil {
			return nil, err
		}
		p.cl = cl
	}
	return p.cl, nil
}

func (p *peerClient) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl != nil {
		p.cl.Close()
		p.cl = nil
	}
}

// peerAccess is how this node's inter-node clients reach a listener like its own.
type peerAccess struct {
	opts []kgo.Opt
	off  error
}

// errNoInterNodeUser explains a SASL cluster without --inter-node-user.
var errNoInterNodeUser = errors.New("the Kafka listener requires SASL and --inter-node-user is not set, so this node cannot call other nodes")

// peerAccess builds the inter-node client options from the listener's TLS and SASL settings.
func (c *serverConfig) peerAccess() (peerAccess, error) {
	var opts []kgo.Opt
	if c.kafkaTLS != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.interNodeCA != "" {
			pool, err := kafka.LoadCertPool(c.interNodeCA)
			if err != nil {
				return peerAccess{}, usagef("--inter-node-tls-ca: %v", err)
			}
			tc.RootCAs = pool
		}
		if c.tlsClientCA != "" {
			cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
			if err != nil {
				return peerAccess{}, usagef("--kafka-tls-cert/--kafka-tls-key as the inter-node client certificate: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.kafkaSASL != nil {
		if c.interNodeUser == "" {
			return peerAccess{off: errNoInterNodeUser}, nil
		}
		users, err := kafka.LoadUsers(c.saslUsers)
		if err != nil {
			return peerAccess{}, usagef("--sasl-users %s: %v", c.saslUsers, err)
		}
		pw, ok := users[c.interNodeUser]
		if !ok {
			return peerAccess{}, usagef("--inter-node-user %q is not a user of --sasl-users %s", c.interNodeUser, c.saslUsers)
		}
		opts = append(opts, kgo.SASL(scram.Auth{User: c.interNodeUser, Pass: pw}.AsSha512Mechanism()))
	}
	return peerAccess{opts: opts}, nil
}
