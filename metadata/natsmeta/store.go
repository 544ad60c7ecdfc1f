package natsmeta

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
)

var _ metadata.Store = (*Store)(nil)

// Config tunes a Store.
type Config struct {
	// URLs of the NATS servers of an external cluster. Required unless Embedded is set.
	URLs []string
	// Embedded, when set, is connected to in-process, without TCP; URLs are then ignored, and so
	// are the credentials and TLS below: the connection presents the embedded server's own token.
	Embedded *Embedded
	// Credentials for the servers at URLs, at most one kind. A URL may carry its own instead
	// (nats://user:password@host:4222, nats://token@host:4222). They are never logged, and errors
	// name URLs without them.
	Token          string
	User, Password string
	// CredsFile is a NATS user credentials file (a JWT and its nkey seed, as nsc writes them).
	CredsFile string
	// NKeyFile holds an nkey seed ("SU..."): the connection signs the server's nonce with it.
	NKeyFile string
	// TLS, when set, is used for every connection (server verification, a client certificate);
	// nil uses TLS only for tls:// URLs or a server that requires it, verified by the system roots.
	TLS *tls.Config
	// Replicas of each bucket when it is created; 0 picks 3 when the client sees at least three
	// servers, else 1. Existing buckets keep their replica count.
	Replicas int
	// OpTimeout bounds each JetStream call. Default 5s.
	OpTimeout time.Duration
	// RetryTimeout bounds a whole method, retries through a failover included. Default 30s.
	RetryTimeout time.Duration
	// BucketPrefix, when set, is put before every bucket name with an underscore, so several stores
	// can share one NATS account. Letters, digits, '-' and '_' only.
	BucketPrefix string
	// MarkerTTL is how long delete markers are kept. Default 15m.
	MarkerTTL time.Duration
	// Logger receives retry and failure logs. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers none.
	Registerer prometheus.Registerer
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

func (c *Config) setDefaults() {
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.RetryTimeout == 0 {
		c.RetryTimeout = 30 * time.Second
	}
	if c.MarkerTTL == 0 {
		c.MarkerTTL = 15 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	switch {
	case len(c.URLs) == 0 && c.Embedded == nil:
		return errors.New("natsmeta: no server URLs and no embedded server")
	case c.credentialKinds() > 1:
		return errors.New("natsmeta: more than one of Token, User/Password, CredsFile and NKeyFile")
	case c.Password != "" && c.User == "":
		return errors.New("natsmeta: Password without User")
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("natsmeta: replicas %d not in 0..5", c.Replicas)
	case c.OpTimeout <= 0 || c.RetryTimeout < c.OpTimeout:
		return fmt.Errorf("natsmeta: need 0 < OpTimeout (%v) <= RetryTimeout (%v)", c.OpTimeout, c.RetryTimeout)
	case c.MarkerTTL < time.Second:
		return fmt.Errorf("natsmeta: MarkerTTL %v below one second", c.MarkerTTL)
	case !prefixRE.MatchString(c.BucketPrefix):
		return fmt.Errorf("natsmeta: bad bucket prefix %q", c.BucketPrefix)
	}
	return nil
}

// bucket is one KV bucket and the names needed to reach its stream directly.
type bucket struct {
	name   string // bucket name
	stream string // backing stream, "KV_<name>"
	subj   string // subject prefix of keys, "$KV.<name>."
	kv     jetstream.KeyValue
	cache  *revCache   // nil for buckets whose writes are not worth caching
	batch  *putBatcher // nil: writes go alone (see batch.go)
	// nc and js carry the bucket's reads and writes: the store's connection, except for the node
	// registry, which has one of its own (see Open).
	nc *nats.Conn
	js jetstream.JetStream
}

// Store is the metadata.Store on NATS JetStream KV. It is safe for concurrent use.
type Store struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	lnc *nats.Conn // the node registry's own connection
	log *slog.Logger
	m   *metrics

	topics, leases, segments, offsets, producers, nodes *bucket
	txns                                                *bucket // transactions.go
	acls                                                *bucket // acls.go

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // watch goroutines
}

// Open connects, creates any missing bucket, and returns a ready Store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	url := strings.Join(cfg.URLs, ",")
	access, err := cfg.accessOptions()
	if err != nil {
		return nil, err
	}
	if cfg.Embedded != nil {
		url, access = cfg.Embedded.ClientURL(), []nats.Option{nats.InProcessServer(cfg.Embedded.srv)}
		if cfg.Embedded.token != "" {
			access = append(access, nats.Token(cfg.Embedded.token))
		}
	}
	connect := func(name string) (*nats.Conn, jetstream.JetStream, error) {
		nc, err := nats.Connect(url, slices.Concat(access, []nats.Option{
			nats.Name(name),
			nats.Timeout(cfg.OpTimeout),
			nats.MaxReconnects(-1),
			nats.ReconnectWait(100 * time.Millisecond),
			nats.PingInterval(2 * time.Second),
			nats.MaxPingsOutstanding(2),
		})...)
		if err != nil {
			return nil, nil, cfg.redact(fmt.Errorf("natsmeta: connect to %s: %w", RedactURLs(url), err))
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("natsmeta: jetstream: %w", err)
		}
		return nc, js, nil
	}
	nc, js, err := connect("strata-metadata")
	if err != nil {
		return nil, err
	}
	// The node registry gets a connection of its own: a server handles one connection's messages
	// in order, so a registration refresh sent behind a burst of fsynced writes (a new topic's
	// thousands of leases, a failover) would wait for all of them, and a node whose refresh
	// waits past its TTL steps down from every partition.
	lnc, ljs, err := connect("strata-liveness")
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &Store{cfg: cfg, nc: nc, js: js, lnc: lnc, log: cfg.Logger, m: newMetrics(cfg.Registerer), done: make(chan struct{})}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = 1
		if len(nc.Servers()) >= 3 {
			replicas = 3
		}
	}
	for _, b := range []struct {
		dst    **bucket
		name   string
		cached bool
		// ephemeral buckets hold state the embedded server need not fsync (see persistAsync).
		ephemeral bool
		// batched buckets group concurrent writes into atomic batches (see batch.go): catalogs,
		// which a node's flush updates for every partition at once, and group offsets.
		batched bool
	}{{&s.topics, "topics", false, false, false}, {&s.leases, "leases", false, true, false}, {&s.segments, "segments", true, false, true},
		{&s.offsets, "offsets", true, false, true}, {&s.producers, "producers", false, false, false}, {&s.nodes, "nodes", false, true, false},
		{&s.txns, "transactions", false, false, false}, {&s.acls, "acls", false, false, false}} {
		bk, err := s.openBucket(ctx, b.name, replicas, b.ephemeral)
		if err != nil {
			nc.Close()
			lnc.Close()
			return nil, err
		}
		if b.dst == &s.nodes {
			bk.nc, bk.js = lnc, ljs
		}
		if b.cached {
			bk.cache = newRevCache()
		}
		if b.batched {
			s.enableBatching(ctx, bk)
		}
		*b.dst = bk
	}
	return s, nil
}

func (s *Store) openBucket(ctx context.Context, base string, replicas int, ephemeral bool) (*bucket, error) {
	name := base
	if s.cfg.BucketPrefix != "" {
		name = s.cfg.BucketPrefix + "_" + base
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RetryTimeout)
	defer cancel()
	var kv jetstream.KeyValue
	err := s.call(ctx, "open_bucket", func(ctx context.Context) error {
		var err error
		kv, err = s.js.KeyValue(ctx, name)
		if err == nil || !isStreamNotFound(err) {
			return err
		}
		kv, err = s.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         name,
			Description:    "strata metadata: " + base,
			History:        1,
			Storage:        jetstream.FileStorage,
			Replicas:       replicas,
			LimitMarkerTTL: s.cfg.MarkerTTL,
		})
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = s.js.KeyValue(ctx, name) // created by a peer in the meantime
		}
		if isStreamNotFound(err) || isNoPeers(err) {
			// Nodes opening a fresh cluster at once: a peer's bucket exists but is not visible
			// here yet, or a server is not yet known to the others as online to place replicas on.
			return transientError{err}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsmeta: bucket %s: %w", name, err)
	}
	if ephemeral && s.cfg.Embedded != nil && replicas == 1 {
		if kv, err = s.persistAsync(ctx, name); err != nil {
			return nil, fmt.Errorf("natsmeta: bucket %s: %w", name, err)
		}
	}
	if kv.Bucket() != name {
		return nil, fmt.Errorf("natsmeta: bucket %s: opened %s", name, kv.Bucket())
	}
	var st jetstream.KeyValueStatus
	err = s.call(ctx, "open_bucket", func(ctx context.Context) error {
		var err error
		if st, err = kv.Status(ctx); isStreamNotFound(err) {
			return transientError{err} // created by a peer, not visible on this server yet
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsmeta: bucket %s: %w", name, err)
	}
	if st.LimitMarkerTTL() == 0 {
		return nil, fmt.Errorf("natsmeta: bucket %s exists without per-key TTL support (LimitMarkerTTL)", name)
	}
	return &bucket{name: name, stream: "KV_" + name, subj: "$KV." + name + ".", kv: kv, nc: s.nc, js: s.js}, nil
}

// persistAsync makes an ephemeral bucket of the embedded server persist asynchronously: the
// server fsyncs before every acknowledgement (EmbeddedConfig.SyncInterval), which the registry,
// refreshed every few hundred milliseconds, cannot afford, and which neither bucket needs there —
// a registration a power cut takes back had lapsed by the time the node is back, and the embedded
// server serves one node, which takes every partition under a new term when it restarts anyway
// (leader epochs live in the catalog, which is fsynced). A stream's persist mode is fixed at creation, so a bucket in
// the default mode is created again with the same configuration (only at Open of the in-process
// server, which no other client can reach; whatever it held was this node's and has lapsed).
func (s *Store) persistAsync(ctx context.Context, name string) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := s.call(ctx, "open_bucket", func(ctx context.Context) error {
		st, err := s.js.Stream(ctx, "KV_"+name)
		if err != nil {
			return err
		}
		cfg := st.CachedInfo().Config
		if cfg.PersistMode != jetstream.AsyncPersistMode {
			cfg.PersistMode = jetstream.AsyncPersistMode
			if err := s.js.DeleteStream(ctx, cfg.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				return err
			}
			if _, err := s.js.CreateStream(ctx, cfg); err != nil {
				return err
			}
		}
		kv, err = s.js.KeyValue(ctx, name)
		return err
	})
	return kv, err
}

// Close stops watches and closes the connection. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.wg.Wait()
		s.nc.Close()
		s.lnc.Close()
	})
	return nil
}

// methodCtx bounds a whole method by RetryTimeout.
func (s *Store) methodCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RetryTimeout)
}

// errCodeClusterNotAvailable is JetStream's "cluster not available" error code.
const errCodeClusterNotAvailable jetstream.ErrorCode = 10008

// retryable reports errors that mean "try again shortly": a call that timed out (it may or may not
// have taken effect), no responders while a stream leader is elected, or a cluster that says it is
// temporarily unavailable.
// isStreamNotFound reports a bucket or stream the server says does not exist.
func isStreamNotFound(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound)
}

// errCodeNoPeers is JetStream's "no suitable peers for placement" error code.
const errCodeNoPeers jetstream.ErrorCode = 10005

// isNoPeers reports a stream the cluster could not place yet (too few servers known online).
func isNoPeers(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNoPeers
}

// transientError marks an error worth retrying that the server does not flag as such.
type transientError struct{ error }

func (e transientError) Unwrap() error { return e.error }

func retryable(err error) bool {
	var te transientError
	if errors.As(err, &te) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrConnectionReconnecting) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.Code == 408 || apiErr.ErrorCode == errCodeClusterNotAvailable)
}

// call runs f with an OpTimeout deadline, retrying retryable errors with backoff until ctx ends.
func (s *Store) call(ctx context.Context, op string, f func(ctx context.Context) error) error {
	backoff := 20 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.OpTimeout)
		err := f(cctx)
		cancel()
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		s.m.retries.WithLabelValues(op).Inc()
		s.log.Debug("natsmeta: retrying", "op", op, "err", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		}
		backoff = min(backoff*2, 500*time.Millisecond)
	}
}

// entry is the newest message of a key. rev is its stream sequence, also for delete markers, so a
// CAS can follow a delete; value is nil when the key is absent or deleted.
type entry struct {
	value []byte
	rev   uint64
	live  bool
	memo  any    // decoded value, set by writers that cache it; read-only
	msgID string // Nats-Msg-Id of the message, set by get
}

type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Seq  uint64 `json:"seq"`
		Hdrs []byte `json:"hdrs"`
		Data []byte `json:"data"`
	} `json:"message"`
}

// get reads the newest message of key from the stream leader. Direct gets (what KeyValue.Get uses)
// may be answered by a lagging replica; a leader read sees every acknowledged write.
func (s *Store) get(ctx context.Context, b *bucket, key string) (entry, error) {
	return s.getLast(ctx, b, b.subj+key)
}

// getLast reads from the stream leader the newest message whose subject matches subj, which may be
// a wildcard. A missing message is the zero entry.
func (s *Store) getLast(ctx context.Context, b *bucket, subj string) (entry, error) {
	key := strings.TrimPrefix(subj, b.subj)
	req, _ := json.Marshal(map[string]string{"last_by_subj": subj})
	var e entry
	err := s.call(ctx, "get", func(ctx context.Context) error {
		msg, err := b.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+b.stream, req)
		if err != nil {
			return err
		}
		var resp msgGetResponse
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return fmt.Errorf("natsmeta: get %s/%s: %w", b.name, key, err)
		}
		if resp.Error != nil {
			if resp.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound) {
				e = entry{}
				return nil
			}
			return &jetstream.APIError{Code: resp.Error.Code, ErrorCode: jetstream.ErrorCode(resp.Error.ErrCode), Description: resp.Error.Description}
		}
		if resp.Message == nil {
			return fmt.Errorf("natsmeta: get %s/%s: empty response", b.name, key)
		}
		e = entry{value: resp.Message.Data, rev: resp.Message.Seq, live: true}
		if len(resp.Message.Hdrs) > 0 {
			h, err := nats.DecodeHeadersMsg(resp.Message.Hdrs)
			if err != nil {
				return fmt.Errorf("%w: headers of %s/%s: %v", ErrCorrupt, b.name, key, err)
			}
			if h.Get("KV-Operation") != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
				e.value, e.live = nil, false
			}
			e.msgID = h.Get(jetstream.MsgIDHeader)
		}
		return nil
	})
	return e, err
}

// errMismatch is a lost compare-and-swap: the key changed since it was read.
var errMismatch = errors.New("natsmeta: revision mismatch")

// ErrTooLarge is a value over the server's payload limit (1 MiB by default). A partition catalog hits
// it at roughly 30,000 segments; compaction must merge segments long before.
var ErrTooLarge = errors.New("natsmeta: value too large")

// headroom is what put leaves of the server's payload limit for headers.
const headroom = 1024

// anyRev asks put not to compare revisions.
const anyRev = math.MaxUint64

type putOpts struct {
	ttl   time.Duration // per-message TTL, rounded up to whole seconds
	purge bool          // write a purge marker instead of a value
	memo  any           // decoded form of the value, kept in the revision cache; never mutated
}

// put writes value to key if the key's newest revision is still rev (anyRev: unconditionally) and
// returns the new revision. A lost race returns errMismatch.
//
// A send that times out may or may not have been applied. put sends it again with the same message
// id: JetStream's duplicate window then answers with the first copy's sequence instead of storing it
// twice. A single server checks the expected revision before the duplicate window, so there the
// resend of an applied write fails the revision check instead; before reporting errMismatch after an
// uncertain send, put re-reads the key and claims the write when the newest message carries its id.
//
// Compare-and-swaps of values on a batched bucket may go out with others as one atomic batch
// (batch.go).
func (s *Store) put(ctx context.Context, b *bucket, key string, value []byte, rev uint64, o putOpts) (uint64, error) {
	if limit := s.nc.MaxPayload() - headroom; int64(len(value)) > limit {
		return 0, fmt.Errorf("%w: %s/%s would be %d bytes, the server takes %d", ErrTooLarge, b.name, key, len(value), limit)
	}
	id := newMsgID()
	if !batchable(b, rev, o) {
		return s.putAlone(ctx, b, key, value, rev, o, id, false)
	}
	seq, alone, uncertain, err := b.batch.write(ctx, key, value, rev, o, id)
	if !alone {
		return seq, err
	}
	defer b.batch.done()
	return s.putAlone(ctx, b, key, value, rev, o, id, uncertain)
}

// putAlone is put's single-message write. uncertain says an earlier send with the same id (a
// refused batch) may have been applied.
func (s *Store) putAlone(ctx context.Context, b *bucket, key string, value []byte, rev uint64, o putOpts, id string, uncertain bool) (uint64, error) {
	sends := 0
	if uncertain {
		sends = 1
	}
	var seq uint64
	err := s.call(ctx, "put", func(ctx context.Context) error {
		sends++
		m := &nats.Msg{Subject: b.subj + key, Data: value, Header: nats.Header{}}
		opts := []jetstream.PublishOpt{jetstream.WithMsgID(id), jetstream.WithExpectStream(b.stream)}
		if rev != anyRev {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(rev))
		}
		if o.purge {
			m.Header.Set("KV-Operation", "PURGE")
			m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
			opts = append(opts, jetstream.WithMsgTTL(s.cfg.MarkerTTL))
		} else if o.ttl > 0 {
			opts = append(opts, jetstream.WithMsgTTL(roundTTL(o.ttl)))
		}
		pa, err := b.js.PublishMsg(ctx, m, opts...)
		if err != nil {
			return err
		}
		seq = pa.Sequence
		return nil
	})
	if isWrongLastSeq(err) && sends > 1 {
		if cur, gerr := s.get(ctx, b, key); gerr == nil && cur.msgID == id {
			seq, err = cur.rev, nil // the uncertain send was applied
		}
	}
	if isWrongLastSeq(err) {
		s.m.casConflicts.WithLabelValues(b.name).Inc()
		b.cache.drop(key)
		return 0, errMismatch
	}
	if err != nil {
		b.cache.drop(key)
		return 0, fmt.Errorf("natsmeta: put %s/%s: %w", b.name, key, err)
	}
	if rev == anyRev {
		b.cache.drop(key)
	} else {
		b.cache.set(key, entry{value: value, rev: seq, live: !o.purge, memo: o.memo})
	}
	return seq, nil
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// purge removes key if its newest revision is still rev (anyRev: unconditionally). The marker it
// leaves expires after MarkerTTL.
func (s *Store) purge(ctx context.Context, b *bucket, key string, rev uint64) error {
	_, err := s.put(ctx, b, key, nil, rev, putOpts{purge: true})
	return err
}

// update runs a read-modify-write on key until it wins the compare-and-swap. fn sees the current
// entry and returns the new value, or write=false to leave the key alone; its error is returned
// as is. fn may run several times.
func (s *Store) update(ctx context.Context, b *bucket, key string, o putOpts, fn func(cur entry) (next []byte, write bool, err error)) error {
	for attempt := 0; ; attempt++ {
		cur, err := s.get(ctx, b, key)
		if err != nil {
			return err
		}
		next, write, ferr := fn(cur)
		if !write {
			return ferr
		}
		if next == nil {
			err = s.purge(ctx, b, key, cur.rev)
		} else {
			_, err = s.put(ctx, b, key, next, cur.rev, o)
		}
		if errors.Is(err, errMismatch) {
			if err := backoffCAS(ctx, attempt); err != nil {
				return fmt.Errorf("natsmeta: %s/%s: %w after %d attempts: %w", b.name, key, metadata.ErrConflict, attempt+1, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		return ferr
	}
}

// backoffCAS sleeps a little, growing and jittered, so racing writers spread out.
func backoffCAS(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	d := time.Duration(min(attempt, 20)) * time.Duration(1+int(b[0])%8) * 250 * time.Microsecond
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// list returns the live entries of a bucket, newest revision of each key, in no particular order.
//
// The watcher behind it is an ordered consumer, and on a replicated bucket that consumer may sit on a
// replica that has not yet applied the newest acknowledged writes: its "caught up" marker alone could
// answer an empty list right after three acknowledged puts. So list first asks the stream leader for
// the bucket's newest stored sequence and keeps reading until the watcher has delivered at least that
// far. Deletes and purge markers are read, not filtered, so their sequences count too. Should that
// newest message vanish meanwhile (a marker past its TTL), a periodic re-read lowers the target.
func (s *Store) list(ctx context.Context, b *bucket) ([]jetstream.KeyValueEntry, error) {
	var out []jetstream.KeyValueEntry
	err := s.call(ctx, "list", func(ctx context.Context) error {
		newest, err := s.getLast(ctx, b, b.subj+">")
		if err != nil {
			return err
		}
		w, err := b.kv.WatchAll(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = w.Stop() }()
		latest := make(map[string]jetstream.KeyValueEntry)
		var seen uint64
		caughtUp := false
		recheck := time.NewTicker(100 * time.Millisecond)
		defer recheck.Stop()
		for !caughtUp || seen < newest.rev {
			select {
			case <-recheck.C:
				if !caughtUp {
					continue
				}
				now, err := s.getLast(ctx, b, b.subj+">")
				if err != nil {
					return err
				}
				if now.rev < newest.rev {
					newest = now
				}
			case e, ok := <-w.Updates():
				if !ok {
					return fmt.Errorf("natsmeta: list %s: watcher stopped", b.name)
				}
				if e == nil {
					caughtUp = true
					continue
				}
				seen = max(seen, e.Revision())
				if e.Operation() == jetstream.KeyValuePut {
					latest[e.Key()] = e
				} else {
					delete(latest, e.Key())
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		out = make([]jetstream.KeyValueEntry, 0, len(latest))
		for _, e := range latest {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func roundTTL(d time.Duration) time.Duration {
	return max(time.Second, (d+time.Second-1)/time.Second*time.Second)
}

func newMsgID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
