// Package kafka is Strata's Kafka wire-protocol listener. It owns the TCP accept loop, request
// framing, header decoding, per-request dispatch to the API handlers (one file per API key,
// NN_name.go) and response ordering. It holds no log state of its own: the handlers call the
// Go-level broker (ingest/broker) and the group coordinator (ingest/group).
//
// # Framing
//
// Every request and response is a size-prefixed frame. The size is checked against
// Config.MaxRequestBytes before any buffer is allocated; a larger or negative size closes the
// connection.
//
//	request  frame: ┌──────────────┬─────────┬─────────┬──────────────┬───────────────┬─────────┬──────┐
//	                │ size int32   │ key i16 │ ver i16 │ corr id i32  │ client id     │ tags    │ body │
//	                │ (bytes after)│         │         │              │ i16-len string│ (v2 hdr)│      │
//	                └──────────────┴─────────┴─────────┴──────────────┴───────────────┴─────────┴──────┘
//	response frame: ┌──────────────┬──────────────┬─────────────────────┬──────┐
//	                │ size int32   │ corr id i32  │ tags (v1 hdr, flex) │ body │
//	                └──────────────┴──────────────┴─────────────────────┴──────┘
//
// Request header v2 (flexible requests) carries tagged fields after the client id; response header
// v1 carries an empty tag section. ApiVersions responses always use response header v0 so that a
// client of any version can read the answer (KIP-511).
//
// # Concurrency
//
// One goroutine per connection reads frames; each request is handled on its own goroutine, so
// pipelined requests run concurrently (a slow long-poll Fetch does not hold up a Metadata request).
// Responses leave in request order through a per-connection writer goroutine. Produce requests on
// one connection append in request order: each waits for the previous Produce's appends before its
// own (but not for its fsync), which keeps idempotent sequences in order. The Server's methods are
// safe for concurrent use; Close is idempotent and waits for every goroutine it started.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/ingest/txn"
)

// ErrClosed is returned by Serve and ListenAndServe after Close.
var ErrClosed = errors.New("kafka: server closed")

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("kafka: invalid config")

// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes default (100 MiB).
const DefaultMaxRequestBytes = 100 << 20

// DefaultFetchMaxBytes is Kafka's fetch.max.bytes default (55 MiB).
const DefaultFetchMaxBytes = 55 << 20

// Config configures a Server.
type Config struct {
	// Addr is the listen address for ListenAndServe (default 127.0.0.1:9092).
	Addr string
	// AdvertisedAddr is the host:port clients are told to connect to (default: the bound address).
	AdvertisedAddr string
	// NodeID is this broker's Kafka node id.
	NodeID int32
	// ClusterID is reported in Metadata and DescribeCluster (default "strata").
	ClusterID string
	// Broker serves partitions: produce, fetch, offsets, leadership. Required.
	Broker *broker.Broker
	// Topics administers topics and their configs. Required.
	Topics *topics.Admin
	// Groups serves the consumer group APIs. Required.
	Groups *group.Coordinator
	// Transactions, when set, serves the transaction APIs (FindCoordinator type 1, InitProducerId
	// with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
	// TxnOffsetCommit, ...) and transactional produce. Nil: transactional ids are refused with
	// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
	Transactions *txn.Coordinator
	// WantOffsetsTopic, when set, is called when a client looks for a group's coordinator, to make
	// sure the __consumer_offsets changelog exists (group.OffsetLog.Want); it must not block.
	WantOffsetsTopic func()
	// MaxRequestBytes bounds one request frame (default 100 MiB).
	MaxRequestBytes int32
	// MaxInflight bounds the requests one connection may have in progress (default 64); the reader
	// stops reading that connection until one finishes.
	MaxInflight int
	// MaxInflightBytes bounds the request bytes held by all connections together (default 512 MiB).
	// A frame's bytes are reserved as they arrive, a chunk at a time (readers wait when a chunk
	// does not fit), so a peer that announces a large frame and stalls holds almost nothing.
	MaxInflightBytes int64
	// MaxUnauthenticatedBytes bounds a frame before the connection has authenticated, when SASL is
	// on (default 512 KiB, Kafka's sasl.server.max.receive.size): a larger one closes it.
	MaxUnauthenticatedBytes int32
	// MaxConnections and MaxConnectionsPerIP bound the open connections, in all and from one
	// client address (defaults 10,000 and 1,000; Kafka's max.connections and
	// max.connections.per.ip). A connection over either is closed at once and counted in
	// strata_kafka_connections_rejected_total.
	MaxConnections, MaxConnectionsPerIP int
	// FetchMaxBytes caps the record bytes one Fetch response carries, whatever the request asks
	// (Kafka's fetch.max.bytes, default 55 MiB). The first batch may still exceed it (KIP-74).
	FetchMaxBytes int32
	// IdleTimeout closes a connection that sends nothing for this long (Kafka's
	// connections.max.idle.ms, default 10 minutes).
	IdleTimeout time.Duration
	// IOTimeout bounds reading the rest of a frame once its size has arrived, and each response
	// write (default 30 s): a peer that stalls mid-frame or stops reading is disconnected.
	IOTimeout time.Duration
	// ExpediteAt is how many of one connection's Produce requests may wait for object durability
	// before the partitions they wait on are flushed early (Broker.Expedite). Kafka clients keep at
	// most max.in.flight.requests.per.connection requests in flight (5 by default, and at most 5
	// with idempotence), so at that count the client can send nothing until one is answered.
	// Default 5; -1 never expedites.
	ExpediteAt int
	// TLS, when set, makes the listener speak TLS: every accepted connection completes a TLS
	// handshake (within IOTimeout) before its first request. Client certificates are checked as
	// the config says (ClientAuth, ClientCAs). Nil: plaintext.
	TLS *tls.Config
	// SASL, when set, requires every connection to authenticate (SaslHandshake, SaslAuthenticate)
	// with one of its users before any request other than ApiVersions. Nil: no authentication.
	SASL *Credentials
	// Authorizer, when set, checks every request against the ACLs (authz.go) and serves the ACL
	// APIs. Nil: everything is allowed and the ACL APIs answer SECURITY_DISABLED, as in Kafka.
	Authorizer *acl.Authorizer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) applyDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:9092"
	}
	if c.ClusterID == "" {
		c.ClusterID = "strata"
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 64
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = 512 << 20
	}
	if c.MaxUnauthenticatedBytes == 0 {
		c.MaxUnauthenticatedBytes = 512 << 10
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 10_000
	}
	if c.MaxConnectionsPerIP == 0 {
		c.MaxConnectionsPerIP = 1_000
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.IOTimeout == 0 {
		c.IOTimeout = 30 * time.Second
	}
	if c.ExpediteAt == 0 {
		c.ExpediteAt = 5
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Broker == nil:
		return fmt.Errorf("%w: Broker is required", ErrConfig)
	case c.Topics == nil:
		return fmt.Errorf("%w: Topics is required", ErrConfig)
	case c.Groups == nil:
		return fmt.Errorf("%w: Groups is required", ErrConfig)
	case c.MaxRequestBytes < 0:
		return fmt.Errorf("%w: MaxRequestBytes %d < 0", ErrConfig, c.MaxRequestBytes)
	case c.MaxInflight < 0:
		return fmt.Errorf("%w: MaxInflight %d < 0", ErrConfig, c.MaxInflight)
	case c.ExpediteAt < -1:
		return fmt.Errorf("%w: ExpediteAt %d < -1", ErrConfig, c.ExpediteAt)
	case c.IdleTimeout < 0 || c.IOTimeout < 0:
		return fmt.Errorf("%w: negative IdleTimeout or IOTimeout", ErrConfig)
	case c.FetchMaxBytes < 0:
		return fmt.Errorf("%w: FetchMaxBytes %d < 0", ErrConfig, c.FetchMaxBytes)
	case c.MaxInflightBytes < 0:
		return fmt.Errorf("%w: MaxInflightBytes %d < 0", ErrConfig, c.MaxInflightBytes)
	case c.MaxInflightBytes > 0 && c.MaxInflightBytes < int64(c.MaxRequestBytes):
		return fmt.Errorf("%w: MaxInflightBytes %d below MaxRequestBytes %d: a frame's bytes are reserved as they arrive, so a larger frame could never be read",
			ErrConfig, c.MaxInflightBytes, c.MaxRequestBytes)
	case c.MaxUnauthenticatedBytes < 0:
		return fmt.Errorf("%w: MaxUnauthenticatedBytes %d < 0", ErrConfig, c.MaxUnauthenticatedBytes)
	case c.MaxConnections < 0 || c.MaxConnectionsPerIP < 0:
		return fmt.Errorf("%w: negative MaxConnections or MaxConnectionsPerIP", ErrConfig)
	case c.NodeID < 0:
		return fmt.Errorf("%w: NodeID %d < 0", ErrConfig, c.NodeID)
	case c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil:
		return fmt.Errorf("%w: TLS has no certificate", ErrConfig)
	}
	return nil
}

// Server is a Kafka protocol listener.
type Server struct {
	cfg      Config
	log      *slog.Logger
	broker   *broker.Broker
	topics   *topics.Admin
	groups   *group.Coordinator
	m        *metrics
	sec      *securityMetrics
	budget   *byteBudget
	frames   framePool  // buffers of handled Produce frames
	topicIDs topicNames // topic IDs to names (Fetch v13+)

	ctx    context.Context // cancelled by Close: ends long polls and handlers
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	perIP     map[string]int // open connections by client IP
	addr      net.Addr
	wg        sync.WaitGroup // accept loops and connections
}

// New validates cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	sec, err := newSecurityMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		broker:    cfg.Broker,
		topics:    cfg.Topics,
		groups:    cfg.Groups,
		m:         m,
		sec:       sec,
		budget:    newByteBudget(cfg.MaxInflightBytes),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*clientConn]struct{}{},
		perIP:     map[string]int{},
	}, nil
}

// ListenAndServe listens on Config.Addr and serves until ctx ends or Close is called.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("kafka: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends or Close is called. It closes ln on return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.listeners[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("kafka: accept: %w", err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		if s.cfg.TLS != nil {
			nc = tls.Server(nc, s.cfg.TLS) // the handshake runs on the connection's goroutine
		}
		s.startConn(nc)
	}
}

// startConn registers and starts a connection unless the server is closing or a connection
// limit is reached.
func (s *Server) startConn(nc net.Conn) {
	ip := remoteIP(nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	reject := ""
	switch {
	case len(s.conns) >= s.cfg.MaxConnections:
		reject = "total"
	case s.perIP[ip] >= s.cfg.MaxConnectionsPerIP:
		reject = "per_ip"
	}
	if reject != "" {
		s.mu.Unlock()
		s.m.rejected.WithLabelValues(reject).Inc()
		s.log.Debug("kafka: connection limit reached; closing the new connection", "remote", nc.RemoteAddr(), "limit", reject)
		nc.Close()
		return
	}
	cc := newClientConn(s, nc)
	s.conns[cc] = struct{}{}
	s.perIP[ip]++
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.connections.Inc()
	go func() {
		defer s.wg.Done()
		defer s.m.connections.Dec()
		if cc.handshake() {
			cc.serve()
		}
		s.mu.Lock()
		delete(s.conns, cc)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		s.mu.Unlock()
	}()
}

// remoteIP is the client address a connection limit counts against.
func remoteIP(nc net.Conn) string {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// Addr is the address of the first listener, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// advertised is the host:port this node tells clients to use.
func (s *Server) advertised() string {
	if s.cfg.AdvertisedAddr != "" {
		return s.cfg.AdvertisedAddr
	}
	if a := s.Addr(); a != nil {
		return a.String()
	}
	return s.cfg.Addr
}

// Close stops accepting, lets requests in progress finish (long polls end early with what they
// have), closes every connection and waits for all goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	conns := make([]*clientConn, 0, len(s.conns))
	for cc := range s.conns {
		conns = append(conns, cc)
	}
	s.mu.Unlock()

	s.cancel()
	for _, cc := range conns {
		cc.shutdown()
	}
	s.wg.Wait()
	return nil
}
