package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/strata-log/strata/compaction"
	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/console"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/ingest/kafka"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/ingest/txn"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/cost"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
)

// serverConfig is `strata server`'s command line.
type serverConfig struct {
	dataDir           string
	kafkaAddr         string
	advertisedAddr    string
	httpAddr          string
	nodeID            int
	query             queryFlags
	objectStore       string
	metadata          string
	metadataSync      string
	metaAccess        metadataAccess // credentials and TLS for an external --metadata (metaaccess.go)
	maxConns          int
	maxConnsPerIP     int
	metaSyncEvery     time.Duration // parsed --metadata-sync: 0 = before every acknowledgement
	logLevel          string
	logFormat         string
	autoCreate        bool
	numPartitions     int
	offsetsPartitions int
	txnVersion        int // --transaction-version
	leaseTTL          time.Duration
	leaseRenew        time.Duration
	rebalance         bool
	compaction        time.Duration
	sweepInterval     time.Duration
	sweepGrace        time.Duration
	convertAfter      time.Duration
	tlsCert           string
	tlsKey            string
	tlsClientCA       string
	saslUsers         string
	costInterval      time.Duration
	httpTLSCert       string
	httpTLSKey        string
	httpOpenMetric    bool
	diskReserve       byteSize
	authorizer        string            // --authorizer (acl.go)
	superUsersFlag    string            // --super-users
	superUsers        []string          // parsed --super-users
	interNodeUser     string            // --inter-node-user (peer.go)
	oauth             kafka.OAuthConfig // --sasl-oauthbearer-*
	interNodeCA       string            // --inter-node-tls-ca

	kafkaTLS  *tls.Config        // loaded from the TLS flags by runServer
	kafkaSASL *kafka.Credentials // loaded from --sasl-users by runServer; the HTTP listener's users too
	httpTLS   *tls.Config        // loaded from --http-tls-cert/--http-tls-key by runServer
}

func (c *serverConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "./data", "hot log, embedded metadata and default object store")
	fs.StringVar(&c.kafkaAddr, "kafka-addr", "127.0.0.1:9092", "Kafka listener host:port")
	fs.StringVar(&c.advertisedAddr, "advertised-kafka-addr", "", "host:port given to clients (default: --kafka-addr)")
	fs.StringVar(&c.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listener host:port (health, metrics, pprof, NDJSON ingest, web console)")
	fs.IntVar(&c.nodeID, "node-id", 1, "Kafka broker id of this node, unique in the cluster")
	fs.StringVar(&c.objectStore, "object-store", "", "object store URL (default file://<data-dir>/objects)")
	fs.StringVar(&c.metadata, "metadata", "embedded", `"embedded" or nats://[user:password@|token@]host:port[,...] (tls:// for TLS); credentials are never logged`)
	c.metaAccess.register(fs)
	fs.StringVar(&c.metadataSync, "metadata-sync", "always", `embedded metadata: "always" fsyncs before every acknowledgement; a duration (e.g. 2m) fsyncs periodically, faster but a power cut can lose acknowledged writes`)
	fs.IntVar(&c.maxConns, "max-connections", 10000, "Kafka connections open at once; more are closed on arrival (Kafka's max.connections)")
	fs.IntVar(&c.maxConnsPerIP, "max-connections-per-ip", 1000, "Kafka connections open at once from one client address (Kafka's max.connections.per.ip)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.autoCreate, "auto-create-topics", true, "Kafka's auto.create.topics.enable")
	fs.IntVar(&c.numPartitions, "num-partitions", 1, "Kafka's num.partitions for auto-created topics")
	fs.IntVar(&c.txnVersion, "transaction-version", txn.MaxTransactionVersion, "Kafka's transaction.version feature: 2 serves KIP-890 part 2 (an epoch bump per transaction: EndTxn v5, Produce v12, TxnOffsetCommit v5), 0 or 1 only part 1")
	fs.IntVar(&c.offsetsPartitions, "offsets-topic-partitions", topics.DefaultOffsetsTopicPartitions, "Kafka's offsets.topic.num.partitions: the partitions of __consumer_offsets (a changelog of committed offsets) when it is created")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", time.Second, "node registration lifetime, which keeps every lease the node holds: how long a dead node's partitions wait for a new leader (whole seconds)")
	fs.DurationVar(&c.leaseRenew, "lease-renew-interval", 250*time.Millisecond, "how often the node registration is refreshed (at most half of --lease-ttl)")
	fs.BoolVar(&c.rebalance, "rebalance", true, "hand partitions off to a node that joins, when the placement prefers it (false: partitions move only when their leader leaves)")
	fs.DurationVar(&c.compaction, "compaction-interval", compaction.DefaultInterval, "how often led partitions' small tiered segments are merged, and compacted topics cleaned by key (0 disables)")
	fs.DurationVar(&c.sweepInterval, "sweep-interval", compaction.DefaultSweepInterval, "how often led partitions' objects that no catalog names are looked for and deleted (0 disables)")
	fs.StringVar(&c.tlsCert, "kafka-tls-cert", "", "PEM certificate (chain) for TLS on the Kafka listener (with --kafka-tls-key)")
	fs.StringVar(&c.tlsKey, "kafka-tls-key", "", "PEM private key for --kafka-tls-cert")
	fs.StringVar(&c.tlsClientCA, "kafka-tls-client-ca", "", "PEM CA certificates: Kafka clients must present a certificate they signed (mutual TLS)")
	fs.StringVar(&c.saslUsers, "sasl-users", "", "users file (one user:password per line) enabling SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 on the Kafka listener and HTTP Basic authentication on the HTTP listener")
	fs.StringVar(&c.httpTLSCert, "http-tls-cert", "", "PEM certificate (chain) for HTTPS on the HTTP listener (with --http-tls-key)")
	fs.StringVar(&c.httpTLSKey, "http-tls-key", "", "PEM private key for --http-tls-cert")
	fs.StringVar(&c.authorizer, "authorizer", "none", `"acl" checks every Kafka request and HTTP ingest against the ACLs kept in the metadata service (no ACL: denied); "none" allows every authenticated client everything`)
	fs.StringVar(&c.superUsersFlag, "super-users", "", "with --authorizer acl, principals allowed everything whatever the ACLs say, comma-separated (User:admin,User:ops)")
	fs.StringVar(&c.oauth.JWKS, "sasl-oauthbearer-jwks", "", "JSON Web Key Set enabling SASL/OAUTHBEARER on the Kafka listener, a file or an http(s) URL (the issuer's jwks_uri, reloaded hourly and for unknown kids): signed JWTs (RS*/ES*) with a live exp are accepted, the principal is their sub claim")
	fs.BoolVar(&c.oauth.Unsecured, "sasl-oauthbearer-unsecured", false, "enable SASL/OAUTHBEARER accepting unsigned (alg none) JWTs, as Apache Kafka's default validator does: for tests only, never in production")
	fs.StringVar(&c.oauth.Issuer, "sasl-oauthbearer-issuer", "", "with OAUTHBEARER, the iss claim tokens must carry")
	fs.StringVar(&c.oauth.Audience, "sasl-oauthbearer-audience", "", "with OAUTHBEARER, a value the aud claim of tokens must hold")
	fs.StringVar(&c.interNodeUser, "inter-node-user", "", "with --sasl-users, the user (of that file) this node logs in as, with SCRAM-SHA-512, when it calls other nodes: transaction markers, queries of their hot tails; with --authorizer acl, list it in --super-users")
	fs.StringVar(&c.interNodeCA, "inter-node-tls-ca", "", "with --kafka-tls-cert, PEM CA certificates this node trusts for other nodes' listeners when it calls them (default: the system's roots)")
	fs.BoolVar(&c.httpOpenMetric, "http-open-metrics", false, "with --sasl-users, leave /metrics and /debug/pprof/ open to requests without credentials (for a scraper)")
	fs.DurationVar(&c.sweepGrace, "sweep-grace", compaction.DefaultSweepGrace, "how old an unreferenced object must be, and how long seen as one, before it is deleted")
	c.diskReserve = 128 << 20
	fs.Var(&c.diskReserve, "disk-reserve", "free space kept on the data dir's file system: below it produce requests get KAFKA_STORAGE_ERROR, /readyz is not ready, and local copies of tiered data are dropped until there is room again (e.g. 128MiB, 2GiB; 0 only reacts to a full disk)")
	fs.DurationVar(&c.convertAfter, "parquet-convert-after", compaction.DefaultConvertAfter, "how old a tiered segment of a strata.cold.format=parquet topic smaller than a merge's input limit must be before it is converted to Parquet")
	c.query.register(fs)
	fs.DurationVar(&c.costInterval, "cost-sample-interval", cost.DefaultInterval, "how often the cost report's counters are sampled (the granularity of GET /v1/cost?window=; a day of samples is kept, at most 10,000)")
}

// validate checks the flags and fills derived defaults; every message names the flag.
func (c *serverConfig) validate() error {
	if c.dataDir == "" {
		return usagef("--data-dir must not be empty")
	}
	abs, err := filepath.Abs(c.dataDir)
	if err != nil {
		return usagef("--data-dir %q: %v", c.dataDir, err)
	}
	c.dataDir = abs
	if err := checkHostPort("--kafka-addr", c.kafkaAddr); err != nil {
		return err
	}
	if c.advertisedAddr == "" {
		c.advertisedAddr = c.kafkaAddr
	} else if err := checkHostPort("--advertised-kafka-addr", c.advertisedAddr); err != nil {
		return err
	}
	if err := checkHostPort("--http-addr", c.httpAddr); err != nil {
		return err
	}
	if c.nodeID < 0 || c.nodeID > 1<<31-1 {
		return usagef("--node-id %d: want 0..%d", c.nodeID, 1<<31-1)
	}
	if c.maxConns < 1 {
		return usagef("--max-connections %d: want at least 1", c.maxConns)
	}
	if c.maxConnsPerIP < 1 {
		return usagef("--max-connections-per-ip %d: want at least 1", c.maxConnsPerIP)
	}
	if c.numPartitions < 1 {
		return usagef("--num-partitions %d: want at least 1", c.numPartitions)
	}
	if c.txnVersion < 0 || c.txnVersion > txn.MaxTransactionVersion {
		return usagef("--transaction-version %d: want 0, 1 or 2", c.txnVersion)
	}
	if c.offsetsPartitions < 1 {
		return usagef("--offsets-topic-partitions %d: want at least 1", c.offsetsPartitions)
	}
	if c.leaseTTL < time.Second || c.leaseTTL%time.Second != 0 {
		return usagef("--lease-ttl %v: want whole seconds, at least 1s", c.leaseTTL)
	}
	if c.leaseRenew <= 0 || 2*c.leaseRenew > c.leaseTTL {
		return usagef("--lease-renew-interval %v: want more than 0 and at most half of --lease-ttl %v", c.leaseRenew, c.leaseTTL)
	}
	if c.compaction < 0 {
		return usagef("--compaction-interval %v: want 0 (off) or more", c.compaction)
	}
	if c.sweepInterval < 0 {
		return usagef("--sweep-interval %v: want 0 (off) or more", c.sweepInterval)
	}
	if c.costInterval <= 0 {
		return usagef("--cost-sample-interval %v: want more than 0", c.costInterval)
	}
	if c.sweepGrace < time.Minute {
		return usagef("--sweep-grace %v: want at least 1m", c.sweepGrace)
	}
	if c.objectStore == "" {
		c.objectStore = "file://" + filepath.Join(c.dataDir, "objects")
	}
	if err := c.metaAccess.validate(c.metadata); err != nil {
		return err
	}
	if c.metadataSync != "always" {
		d, err := time.ParseDuration(c.metadataSync)
		if err != nil || d <= 0 {
			return usagef(`--metadata-sync %q: want "always" or a positive duration such as 2m`, c.metadataSync)
		}
		c.metaSyncEvery = d
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return err
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return usagef("--log-format %q: want text or json", c.logFormat)
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return usagef("--kafka-tls-cert and --kafka-tls-key go together")
	}
	if c.tlsClientCA != "" && c.tlsCert == "" {
		return usagef("--kafka-tls-client-ca needs --kafka-tls-cert and --kafka-tls-key")
	}
	if (c.oauth.Issuer != "" || c.oauth.Audience != "") && c.oauth.JWKS == "" && !c.oauth.Unsecured {
		return usagef("--sasl-oauthbearer-issuer and --sasl-oauthbearer-audience need --sasl-oauthbearer-jwks (or --sasl-oauthbearer-unsecured)")
	}
	if c.interNodeUser != "" && c.saslUsers == "" {
		return usagef("--inter-node-user needs --sasl-users (the user and its password come from that file)")
	}
	if c.interNodeCA != "" && c.tlsCert == "" {
		return usagef("--inter-node-tls-ca needs --kafka-tls-cert (without TLS nodes call each other in plaintext)")
	}
	if (c.httpTLSCert == "") != (c.httpTLSKey == "") {
		return usagef("--http-tls-cert and --http-tls-key go together")
	}
	return c.validateACL()
}

// httpSecurity loads the HTTP listener's TLS config (nil: plain HTTP), as the Kafka listener's.
func (c *serverConfig) httpSecurity() (*tls.Config, error) {
	if c.httpTLSCert == "" {
		return nil, nil
	}
	tc, err := kafka.ServerTLSConfig(c.httpTLSCert, c.httpTLSKey, "")
	if err != nil {
		return nil, usagef("--http-tls-cert/--http-tls-key: %v", err)
	}
	return tc, nil
}

// httpUsers are the users the HTTP listener accepts: the --sasl-users file's (nil: no
// authentication).
func (c *serverConfig) httpUsers() httpapi.PasswordChecker {
	if c.kafkaSASL == nil {
		return nil // not a typed nil in the interface
	}
	return c.kafkaSASL
}

// kafkaSecurity loads the listener's TLS config and SASL users (nil, nil: neither is on).
func (c *serverConfig) kafkaSecurity() (*tls.Config, *kafka.Credentials, error) {
	var tc *tls.Config
	if c.tlsCert != "" {
		var err error
		if tc, err = kafka.ServerTLSConfig(c.tlsCert, c.tlsKey, c.tlsClientCA); err != nil {
			return nil, nil, usagef("--kafka-tls-cert/--kafka-tls-key/--kafka-tls-client-ca: %v", err)
		}
	}
	var creds *kafka.Credentials
	if c.saslUsers != "" {
		var err error
		if creds, err = kafka.LoadCredentials(c.saslUsers); err != nil {
			return nil, nil, usagef("--sasl-users %s: %v", c.saslUsers, err)
		}
	}
	if c.oauth.JWKS != "" || c.oauth.Unsecured {
		v, err := kafka.NewOAuthValidator(c.oauth)
		if err != nil {
			return nil, nil, usagef("--sasl-oauthbearer-jwks: %v", err)
		}
		if creds, err = creds.WithOAuth(v); err != nil {
			return nil, nil, usagef("--sasl-oauthbearer-*: %v", err)
		}
	}
	return tc, creds, nil
}

// offIfZero maps a flag's 0 (off) to compaction.Config.SweepInterval's "off" (negative; 0 there
// is the default).
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func checkHostPort(flagName, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return usagef("%s %q: want host:port", flagName, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return usagef("%s %q: bad port", flagName, v)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var cfg serverConfig
	cfg.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	// Certificates and users are read before anything starts, so a bad file is a usage error.
	if cfg.kafkaTLS, cfg.kafkaSASL, err = cfg.kafkaSecurity(); err != nil {
		return err
	}
	if cfg.httpTLS, err = cfg.httpSecurity(); err != nil {
		return err
	}
	level, _ := parseLevel(cfg.logLevel)
	hopts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(stderr, hopts)
	if cfg.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	if cfg.oauth.Unsecured {
		log.Warn("strata: --sasl-oauthbearer-unsecured: OAUTHBEARER accepts unsigned tokens, so anyone can log in as anyone; for tests only")
	}
	return serve(ctx, cfg, log)
}

// node holds what serve started, so shutdown can stop it in reverse order.
type node struct {
	closers []func()
}

func (n *node) onClose(f func()) { n.closers = append(n.closers, f) }

func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
}

// serve wires the packages together and runs until ctx ends (SIGTERM/SIGINT) or a listener fails.
func serve(ctx context.Context, cfg serverConfig, log *slog.Logger) (err error) {
	var n node
	defer n.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The cost report's first snapshot is taken before anything counts, so "since the node
	// started" is exact.
	sampler, err := cost.NewSampler(cost.SamplerConfig{Gatherer: reg, Interval: cfg.costInterval,
		Capacity: max(1, min(int(24*time.Hour/cfg.costInterval), 10000)), Logger: log})
	if err != nil {
		return err
	}
	n.onClose(func() { sampler.Close() })

	if err := os.MkdirAll(cfg.dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	// The hot log takes the data dir's LOCK first, so a second process on the same dir stops here
	// before it starts anything else.
	hot, err := hotlog.OpenDir(filepath.Join(cfg.dataDir, "hot"), hotlog.Config{Logger: log, Metrics: hotlog.NewMetrics(reg)})
	if errors.Is(err, hotlog.ErrLocked) {
		return fmt.Errorf("--data-dir %s is in use by another strata process", cfg.dataDir)
	} else if err != nil {
		return fmt.Errorf("hot log: %w", err)
	}
	n.onClose(func() {
		if err := hot.Close(); err != nil {
			log.Error("closing hot log", "err", err)
		}
	})

	// Embedded metadata is reached in-process: the server opens no port, so no other process on
	// the machine can read or write the node's metadata.
	urls, _ := metadataURLs(cfg.metadata)
	var emb *natsmeta.Embedded
	if urls == nil {
		emb, err = natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: filepath.Join(cfg.dataDir, "meta"),
			NoListen: true, SyncInterval: cfg.metaSyncEvery})
		if err != nil {
			return fmt.Errorf("embedded metadata: %w", err)
		}
		n.onClose(emb.Shutdown)
		emb.WatchStorage(log)
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	metaCfg := natsmeta.Config{URLs: urls, Embedded: emb, Logger: log, Registerer: reg}
	if err := cfg.metaAccess.apply(&metaCfg); err != nil {
		return err
	}
	store, err := natsmeta.Open(openCtx, metaCfg)
	if err != nil {
		return fmt.Errorf("--metadata: %w", err) // natsmeta names the URLs, redacted
	}
	n.onClose(func() { store.Close() })
	authz, err := newAuthorizer(openCtx, cfg, store, log, reg)
	if err != nil {
		return fmt.Errorf("--authorizer: %w", err)
	}
	if authz != nil {
		n.onClose(func() { authz.Close() })
	}

	bucket, err := objstore.Open(openCtx, cfg.objectStore, objstore.WithLogger(log))
	if err != nil {
		return fmt.Errorf("--object-store: %w", err)
	}
	bucket = objstore.WithRetry(bucket, objstore.RetryConfig{})
	if bucket, err = objstore.WithMetrics(bucket, reg); err != nil {
		return err
	}
	n.onClose(func() { bucket.Close() })

	kln, err := net.Listen("tcp", cfg.kafkaAddr)
	if err != nil {
		return fmt.Errorf("--kafka-addr: %w", err)
	}
	hln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		kln.Close()
		return fmt.Errorf("--http-addr: %w", err)
	}
	advertised := cfg.advertisedAddr
	if strings.HasSuffix(advertised, ":0") { // a random port was asked for: advertise the real one
		advertised = kln.Addr().String()
	}

	// The tiering engine: uploads led partitions' segments, serves reads below the hot logs. The
	// broker is its fencing hook, so b is assigned before any partition is tracked (Start).
	var b *broker.Broker
	// Views over every partition (compaction passes, the cost report) read catalogs through one
	// watch-invalidated cache: with thousands of partitions, a pass or a report reads only what
	// changed. The TTL only bounds how stale an entry can be should the watch miss a change.
	catalogs := tier.NewCatalogCache(store, 10*time.Minute)
	n.onClose(catalogs.Close)
	uploader, err := tier.NewUploader(tier.Config{Bucket: bucket, Store: store, Logger: log, Registerer: reg, NodeID: int32(cfg.nodeID),
		OnFenced: func(tp metadata.TopicPartition) { b.Fenced(tp) }})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(func() { uploader.Close() })
	tieredReader, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: store, Logger: log, Registerer: reg})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(func() { tieredReader.Close() })

	defaults := topics.Defaults{NumPartitions: int32(cfg.numPartitions), AutoCreateTopicsDisabled: !cfg.autoCreate,
		OffsetsTopicPartitions: int32(cfg.offsetsPartitions)}
	b, err = broker.New(broker.Config{
		NodeID:        int32(cfg.nodeID),
		KafkaAddr:     advertised,
		HTTPAddr:      hln.Addr().String(),
		HotLog:        hot,
		StateDir:      filepath.Join(cfg.dataDir, "epochs"),
		DataDir:       cfg.dataDir,
		DiskReserve:   int64(cfg.diskReserve),
		LeaseTTL:      cfg.leaseTTL,
		RenewInterval: cfg.leaseRenew,
		Sticky:        !cfg.rebalance,
		Store:         store,
		Tiering:       uploader,
		TieredReader:  tieredReader,
		Defaults:      defaults,
		Logger:        log,
		Registerer:    reg,
	})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(func() { b.Close() })
	if emb != nil {
		n.onClose(recoverMetadata(emb, b, log))
	}
	admin, err := topics.New(topics.Config{NodeID: int32(cfg.nodeID), Store: store, Node: b, Defaults: defaults,
		Logger: log, Registerer: reg})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	if err := b.Start(openCtx); err != nil {
		kln.Close()
		hln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	// Compaction merges the small segments of the partitions this node leads; a lease taken over
	// meanwhile only wastes the merge (see package compaction). The same worker sweeps the objects
	// no catalog will ever name.
	var merger *compaction.Worker // nil: merges off
	if cfg.compaction > 0 || cfg.sweepInterval > 0 {
		cw, err := compaction.NewWorker(compaction.Config{Bucket: bucket, Store: store, PassCatalogs: catalogs, NodeID: int32(cfg.nodeID),
			Interval: cfg.compaction, NoMerges: cfg.compaction == 0, SweepInterval: offIfZero(cfg.sweepInterval), SweepGrace: cfg.sweepGrace,
			ConvertAfter: cfg.convertAfter, Logger: log, Registerer: reg})
		if err != nil {
			kln.Close()
			hln.Close()
			return err
		}
		n.onClose(func() { cw.Close() })
		if cfg.compaction > 0 {
			merger = cw
		}
	}
	peers, err := cfg.peerAccess()
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	txns, closeTxns, err := newTxnCoordinator(b, store, newPeerClient(advertised, peers), int8(cfg.txnVersion), log)
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(closeTxns)
	groups, err := group.New(group.Config{Store: store, NodeID: int32(cfg.nodeID), IsCoordinator: b.IsCoordinator,
		PendingOffsets: txns.PendingOffsets, Logger: log, Registerer: reg})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(func() { groups.Close() })
	offsetLog, err := group.NewOffsetLog(group.OffsetLogConfig{
		Store: store,
		Topic: func(ctx context.Context, create bool) (metadata.Topic, error) {
			if create {
				return admin.EnsureOffsetsTopic(ctx)
			}
			return admin.Topic(ctx, topics.OffsetsTopic)
		},
		Led: b.LedPartitions,
		Append: func(ctx context.Context, tp metadata.TopicPartition, batch []byte) error {
			_, err := b.Append(ctx, tp, batch)
			return err
		},
		Logger: log, Registerer: reg,
	})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	n.onClose(goUntilClosed(offsetLog.Run))
	reg.MustRegister(group.NewLagCollector(store, func(ctx context.Context, tp metadata.TopicPartition) (int64, bool) {
		if !b.Leads(tp) {
			return 0, false
		}
		_, hw, err := b.Offsets(ctx, tp)
		return hw, err == nil
	}, 5*time.Second, log))

	ks, err := kafka.New(kafka.Config{
		AdvertisedAddr:      advertised,
		NodeID:              int32(cfg.nodeID),
		Broker:              b,
		Topics:              admin,
		Groups:              groups,
		Transactions:        txns,
		WantOffsetsTopic:    offsetLog.Want,
		MaxConnections:      cfg.maxConns,
		MaxConnectionsPerIP: cfg.maxConnsPerIP,
		TLS:                 cfg.kafkaTLS,
		SASL:                cfg.kafkaSASL,
		Authorizer:          authz,
		Logger:              log,
		Registerer:          reg,
	})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	h, err := httpapi.Handler(httpapi.Config{
		Producer:   b,
		Topics:     admin,
		Gatherer:   reg,
		Authorizer: httpAuthorizer(authz),
		Ready: func(ctx context.Context) error {
			if err := b.DiskErr(); err != nil {
				return err
			}
			_, err := b.LiveNodes(ctx)
			return err
		},
		Logger: log,
	})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	costs, err := cost.NewReporter(cost.Config{Sampler: sampler, Catalogs: cachedCatalogs{store, catalogs}, Logger: log})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	// Sampling stops before what it gathers from (the store behind the lag collector) closes.
	n.onClose(func() { sampler.Close() })
	routes := http.NewServeMux()
	routes.Handle("GET /v1/cost", costs)
	routes.Handle("POST /v1/compaction", compactHandler{w: merger, authz: httpAuthorizer(authz), log: log})
	routes.Handle("/", h)
	if err := mountQuery(&n, routes, cfg.query, b, store, tieredReader, newPeerClient(advertised, peers),
		httpAuthorizer(authz), reg, log); err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	if err := mountConsole(&n, routes, cfg, b, admin, groups, store, bucket, httpAuthorizer(authz), log); err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	// Authentication wraps every route, the cost report's included; the probes stay open.
	authed, err := httpapi.Authenticate(routes, httpapi.AuthConfig{Users: cfg.httpUsers(),
		OpenMetrics: cfg.httpOpenMetric, Registerer: reg, Logger: log})
	if err != nil {
		kln.Close()
		hln.Close()
		return err
	}
	// net/http reports failed TLS handshakes and the like on ErrorLog: debug level, as the Kafka
	// listener's.
	hs := &http.Server{Handler: authed, ReadHeaderTimeout: 10 * time.Second, TLSConfig: cfg.httpTLS,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}

	errc := make(chan error, 2)
	go func() { errc <- ks.Serve(context.Background(), kln) }()
	go func() {
		if cfg.httpTLS != nil {
			errc <- hs.ServeTLS(hln, "", "") // the certificate is in hs.TLSConfig
			return
		}
		errc <- hs.Serve(hln)
	}()
	// Listeners stop first on shutdown: in-flight requests finish, then the broker hands its partitions
	// over (hot tails tiered, leases released) while the uploader still runs.
	n.onClose(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		ks.Close()
	})
	log.Info("strata serving", "node_id", cfg.nodeID, "kafka", kln.Addr().String(), "advertised", advertised,
		"http", hln.Addr().String(), "data_dir", cfg.dataDir, "metadata", natsmeta.RedactURLs(cfg.metadata), "object_store", redactURL(cfg.objectStore),
		"version", version, "kafka_tls", cfg.kafkaTLS != nil, "kafka_sasl", cfg.kafkaSASL != nil,
		"http_tls", cfg.httpTLS != nil, "http_auth", cfg.kafkaSASL != nil, "http_open_metrics", cfg.httpOpenMetric, "authorizer", cfg.authorizer)

	select {
	case <-ctx.Done():
		log.Info("strata shutting down")
		return nil
	case err := <-errc:
		if err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, kafka.ErrClosed) {
			return nil
		}
		return err
	}
}

// redactURL hides any user info in a URL before it is logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// mountConsole adds the web console and its JSON endpoints (ingest/console) to routes.
func mountConsole(n *node, routes *http.ServeMux, cfg serverConfig, b *broker.Broker, admin *topics.Admin, groups *group.Coordinator,
	store metadata.Store, bucket objstore.Bucket, authz httpapi.Authorizer, log *slog.Logger) error {
	scheme, peers := "http", (*http.Client)(nil)
	if cfg.httpTLS != nil {
		var err error
		if peers, err = consolePeers(cfg.httpTLS); err != nil {
			return err
		}
		scheme = "https"
	}
	con, err := console.New(console.Config{Broker: b, Topics: admin, Groups: groups, Catalogs: store,
		ObjectStore: func(ctx context.Context) error { // one HEAD of a key that does not exist
			_, err := bucket.Head(ctx, "strata-console-health-probe")
			if errors.Is(err, objstore.ErrNotFound) {
				return nil
			}
			return err
		},
		Version: version, RequireAuth: cfg.kafkaSASL != nil, Authorizer: authz, PeerScheme: scheme, Peers: peers, Logger: log})
	if err != nil {
		return err
	}
	n.onClose(func() { con.Close() })
	con.Register(routes)
	return nil
}

// consolePeers is the client the console asks other nodes' HTTPS listeners with: it trusts the
// system's CAs and every certificate of this node's own chain, so nodes that share a certificate,
// or whose chain files carry the CA that signed them all, verify each other.
func consolePeers(own *tls.Config) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, c := range own.Certificates {
		for _, der := range c.Certificate {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("--http-tls-cert: %w", err)
			}
			pool.AddCert(cert)
		}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}

// goUntilClosed runs fn on a goroutine of its own and returns what stops it: cancel fn's ctx and
// wait for fn to return.
func goUntilClosed(fn func(ctx context.Context)) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() { cancel(); <-done }
}

// cachedCatalogs lists topics from the store and reads catalogs through a tier.CatalogCache.
type cachedCatalogs struct {
	metadata.Topics
	*tier.CatalogCache
}

// recoverMetadata restarts the embedded server's JetStream, every 5 s, if a write of it met a full
// disk (see natsmeta.Embedded.RecoverJetStream), once the data dir has room again. It returns the
// function that stops it.
func recoverMetadata(emb *natsmeta.Embedded, b *broker.Broker, log *slog.Logger) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			if b.DiskErr() != nil {
				continue
			}
			if restarted, err := emb.RecoverJetStream(); err != nil {
				log.Error("embedded metadata: restarting JetStream failed; retrying", "err", err)
			} else if restarted {
				log.Warn("embedded metadata: JetStream restarted after a storage failure")
			}
		}
	}()
	return func() { close(quit); <-done }
}
