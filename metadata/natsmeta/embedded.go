package natsmeta

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig describes an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// Dir holds JetStream's files. Required.
	Dir string
	// Host is the client listen address. Default 127.0.0.1.
	Host string
	// Port is the client port; 0 picks a free one.
	Port int
	// ServerName names the server; default "strata-meta-<port>". Must be unique within a cluster.
	ServerName string
	// ClusterName enables clustering when set, listening on ClusterHost:ClusterPort.
	ClusterName string
	// ClusterHost defaults to Host; ClusterPort 0 picks a free one.
	ClusterHost string
	ClusterPort int
	// Routes are the other members' cluster URLs ("nats-route://host:port"). Listing the server's
	// own URL is harmless.
	Routes []string
	// ReadyTimeout bounds the wait for the server to accept clients. Default 10s.
	ReadyTimeout time.Duration
	// MaxPayload caps one message; 0 keeps the server default (1 MiB).
	MaxPayload int32
	// NoListen opens no client port: only in-process clients (Config.Embedded) can connect. Not
	// with clustering.
	NoListen bool
	// Token, when set, is required of every client (in-process ones too: Config.Embedded presents
	// it) and, as the password of user "strata", of every cluster route, in both directions:
	// Routes are dialled with it. A server that listens should have one (LoadOrCreateToken);
	// without, any process that reaches its ports can read and forge the metadata.
	Token string
	// SyncInterval is how often JetStream fsyncs its files. Zero (the default) fsyncs before every
	// acknowledgement (nats-server's sync_interval: always), so an acknowledged write — a catalog
	// registration, a committed offset, a topic config — survives a power cut; JetStream's own
	// default is every two minutes, which can lose acknowledged writes (Jepsen, NATS 2.12.1). A
	// positive value trades that for speed.
	SyncInterval time.Duration
}

func (c *EmbeddedConfig) setDefaults() {
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.ClusterHost == "" {
		c.ClusterHost = c.Host
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
}

// Validate checks c.
func (c EmbeddedConfig) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("natsmeta: embedded server needs a Dir")
	case c.Port < 0 || c.Port > 65535 || c.ClusterPort < 0 || c.ClusterPort > 65535:
		return fmt.Errorf("natsmeta: bad port %d / cluster port %d", c.Port, c.ClusterPort)
	case len(c.Routes) > 0 && c.ClusterName == "":
		return errors.New("natsmeta: Routes need a ClusterName")
	case c.NoListen && c.ClusterName != "":
		return errors.New("natsmeta: NoListen is for a single server")
	case c.ReadyTimeout < 0 || c.MaxPayload < 0 || c.SyncInterval < 0:
		return errors.New("natsmeta: negative ReadyTimeout, MaxPayload or SyncInterval")
	}
	return nil
}

// Embedded is a running in-process nats-server with JetStream.
type Embedded struct {
	srv     *server.Server
	token   string
	once    sync.Once
	storage storageWatch // recover.go
}

// routeUser is the user name routes authenticate as, with the token as password.
const routeUser = "strata"

// StartEmbedded starts a server and waits until it accepts clients. A clustered server does not
// wait for its peers; see StartCluster.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsmeta: embedded dir: %w", err)
	}
	opts := &server.Options{
		Host:       cfg.Host,
		Port:       portOrRandom(cfg.Port),
		JetStream:  true,
		StoreDir:   cfg.Dir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: cfg.MaxPayload,
		DontListen: cfg.NoListen,
		// Tokens are compared in constant time by nats-server.
		Authorization: cfg.Token,
	}
	if cfg.SyncInterval == 0 {
		opts.SyncAlways = true
	} else {
		opts.SyncInterval = cfg.SyncInterval
	}
	opts.ServerName = cfg.ServerName
	if opts.ServerName == "" && cfg.Port != 0 {
		opts.ServerName = "strata-meta-" + strconv.Itoa(cfg.Port)
	}
	if cfg.ClusterName != "" {
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: cfg.ClusterHost, Port: portOrRandom(cfg.ClusterPort)}
		if cfg.Token != "" {
			opts.Cluster.Username, opts.Cluster.Password = routeUser, cfg.Token
		}
		for _, r := range cfg.Routes {
			for _, u := range server.RoutesFromStr(r) {
				if cfg.Token != "" {
					u.User = url.UserPassword(routeUser, cfg.Token)
				}
				opts.Routes = append(opts.Routes, u)
			}
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsmeta: embedded server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("natsmeta: embedded server not ready after %v", cfg.ReadyTimeout)
	}
	return &Embedded{srv: srv, token: cfg.Token}, nil
}

func portOrRandom(p int) int {
	if p == 0 {
		return server.RANDOM_PORT
	}
	return p
}

// ClientURL is the nats:// URL clients connect to (meaningless with NoListen).
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Server exposes the underlying server for tests and diagnostics.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it is down. It is idempotent.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	})
}

// Cluster is a set of embedded servers routed to each other in one process.
type Cluster struct {
	Nodes []*Embedded
}

// StartCluster starts n clustered servers with JetStream under dir/node-<i> and waits until
// JetStream has a meta leader and every node is current.
func StartCluster(dir string, n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsmeta: cluster of %d nodes", n)
	}
	// Routes must be known up front, so reserve the cluster ports first. Another process may take
	// one in between; then the whole start is retried.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := startCluster(dir, n, attempt)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startCluster(dir string, n, attempt int) (*Cluster, error) {
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	routes := make([]string, n)
	for i, p := range ports {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		e, err := StartEmbedded(EmbeddedConfig{
			Dir:         filepath.Join(dir, fmt.Sprintf("a%d-node-%d", attempt, i)),
			ServerName:  fmt.Sprintf("meta-%d", i),
			ClusterName: "strata-meta",
			ClusterPort: ports[i],
			Routes:      routes,
		})
		if err != nil {
			c.Shutdown()
			return nil, err
		}
		c.Nodes = append(c.Nodes, e)
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// WaitReady waits until the running nodes agree on a JetStream meta leader.
func (c *Cluster) WaitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		leaders, current, running := 0, 0, 0
		for _, e := range c.Nodes {
			if !e.srv.Running() {
				continue
			}
			running++
			if e.srv.JetStreamIsLeader() {
				leaders++
			}
			if e.srv.JetStreamIsCurrent() {
				current++
			}
		}
		if leaders == 1 && current == running {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("natsmeta: cluster has no JetStream meta leader after %v", limit)
}

// ClientURLs lists every node's client URL, including nodes that were shut down.
func (c *Cluster) ClientURLs() []string {
	out := make([]string, len(c.Nodes))
	for i, e := range c.Nodes {
		out[i] = e.ClientURL()
	}
	return out
}

// Shutdown stops every node. It is idempotent.
func (c *Cluster) Shutdown() {
	for _, e := range c.Nodes {
		e.Shutdown()
	}
}

func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natsmeta: reserve port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
