// Package acl is Strata's authorizer: Kafka's ACL model over the ACLs stored in the metadata
// service (metadata.ACLs), decided from an in-memory snapshot that a watch keeps fresh.
//
// # Rules (Apache Kafka's, StandardAuthorizer)
//
// A request by principal P from host H to perform operation O on resource R (type and name) is
// allowed when P is a super user, or when
//
//   - no DENY ACL matches: one whose pattern applies to R (the literal name, the literal wildcard
//     "*", or a prefix of the name), whose principal is P or "User:*", whose host is H or "*",
//     and whose operation is O or ALL; and
//   - some ALLOW ACL matches the same way, its operation being O, ALL, or one that implies O:
//     READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
//
// No matching ACL means deny (Kafka's allow.everyone.if.no.acl.found=false). Principals are
// "User:<name>": the SASL user, else the subject of the client's TLS certificate
// ("User:CN=alice,O=Example", RFC 2253 as Kafka prints it), else User:ANONYMOUS.
//
// AuthorizeAny answers Kafka's authorizeByResourceType (KIP-679): is O allowed on some resource of
// a type, as when an idempotent producer without IDEMPOTENT_WRITE on the cluster may still have
// WRITE on some topic.
//
// # Freshness and concurrency
//
// New reads every ACL once, then a goroutine owned by the Authorizer re-reads them on every watch
// signal (so a change made through another node applies here within the watch's latency, a few
// milliseconds) and every Config.Refresh as a safety net. Create and Delete through this
// Authorizer re-read before they return, so a client that changes ACLs sees them applied on the
// node it talks to at once. A failed re-read keeps the previous snapshot. Authorize reads an
// immutable snapshot through an atomic pointer: it is safe for concurrent use and takes no lock.
// Close stops the goroutine and waits for it; it is idempotent.
package acl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
)

// Anonymous is the principal of a connection that neither authenticated nor presented a client
// certificate.
const Anonymous = "User:ANONYMOUS"

// UserPrefix begins every principal this broker forms.
const UserPrefix = "User:"

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("acl: invalid config")

// Config configures an Authorizer.
type Config struct {
	// Store holds the ACLs. Required.
	Store metadata.ACLs
	// SuperUsers are principals ("User:admin") allowed everything, whatever the ACLs say.
	SuperUsers []string
	// Refresh is how often every ACL is re-read even without a watch signal (default 1 minute).
	Refresh time.Duration
	Logger  *slog.Logger
	// Registerer receives strata_acl_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Store == nil {
		return fmt.Errorf("%w: Store is required", ErrConfig)
	}
	if c.Refresh < 0 {
		return fmt.Errorf("%w: negative Refresh", ErrConfig)
	}
	for _, u := range c.SuperUsers {
		if kind, name, ok := strings.Cut(u, ":"); !ok || kind == "" || name == "" {
			return fmt.Errorf("%w: super user %q is not Type:name (e.g. User:admin)", ErrConfig, u)
		}
	}
	return nil
}

// ParseSuperUsers splits a comma-separated list of principals ("User:a,User:b"), as the
// --super-users flag and Kafka's super.users take them (Kafka separates with ';').
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if kind, name, ok := strings.Cut(f, ":"); !ok || kind == "" || name == "" {
			return nil, fmt.Errorf("acl: super user %q is not Type:name (e.g. User:admin)", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Authorizer decides requests from a snapshot of the stored ACLs.
type Authorizer struct {
	store   metadata.ACLs
	super   map[string]bool
	refresh time.Duration
	log     *slog.Logger
	m       *metrics

	snap   atomic.Pointer[snapshot]
	loadMu sync.Mutex // one re-read at a time, so an older one never replaces a newer one

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// New reads every ACL and starts watching for changes. ctx bounds the first read only.
func New(ctx context.Context, cfg Config) (*Authorizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	a := &Authorizer{store: cfg.Store, super: map[string]bool{}, refresh: cfg.Refresh, log: cfg.Logger, m: m,
		done: make(chan struct{})}
	for _, u := range cfg.SuperUsers {
		a.super[u] = true
	}
	wctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	// The watch starts before the first read, so no change between the two is missed.
	watch, err := cfg.Store.WatchACLs(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("acl: watch: %w", err)
	}
	if err := a.Reload(ctx); err != nil {
		cancel()
		return nil, err
	}
	go a.run(wctx, watch)
	return a, nil
}

// Close stops watching. It is idempotent and waits for the watch goroutine.
func (a *Authorizer) Close() error {
	a.closeOnce.Do(a.cancel)
	<-a.done
	return nil
}

// run re-reads the ACLs on every watch signal and every refresh, re-opening a watch that ended
// while the Authorizer is open.
func (a *Authorizer) run(ctx context.Context, watch <-chan struct{}) {
	defer close(a.done)
	tick := time.NewTicker(a.refresh)
	defer tick.Stop()
	reload := func() {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := a.Reload(rctx); err != nil && ctx.Err() == nil {
			a.log.Warn("acl: re-reading ACLs failed; keeping the previous ones", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			reload()
		case _, ok := <-watch:
			if ok {
				reload()
				continue
			}
			// The watch ended (the store is closing, or lost its server): try again shortly,
			// and re-read, since changes may have been missed meanwhile.
			watch = nil
			for watch == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
				w, err := a.store.WatchACLs(ctx)
				if err != nil {
					a.log.Warn("acl: re-opening the ACL watch failed", "err", err)
					continue
				}
				watch = w
			}
			reload()
		}
	}
}

// Reload re-reads every ACL now.
func (a *Authorizer) Reload(ctx context.Context) error {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	acls, err := a.store.ListACLs(ctx)
	if err != nil {
		return fmt.Errorf("acl: list: %w", err)
	}
	a.snap.Store(newSnapshot(acls))
	a.m.entries.Set(float64(len(acls)))
	a.m.reloads.Inc()
	return nil
}

// IsSuperUser reports whether principal is allowed everything.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.super[principal] }

// Authorize reports whether principal, connected from host (an IP address), may perform op on
// the resource of type rt named name.
func (a *Authorizer) Authorize(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	if a.super[principal] {
		return true
	}
	ok := a.snap.Load().allowed(principal, host, op, rt, name)
	if !ok {
		a.m.denied.WithLabelValues(resourceLabel(rt)).Inc()
	}
	return ok
}

// Check is Authorize without counting a denial: for a check whose denial is not the answer (one
// of two resources that would each allow the request, like CREATE on the cluster or the topic).
func (a *Authorizer) Check(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	return a.super[principal] || a.snap.Load().allowed(principal, host, op, rt, name)
}

// Allowed returns the operations of ops that principal may perform on the resource (Kafka's
// authorized operations), in the order given. Unlike Authorize it counts no denial.
func (a *Authorizer) Allowed(principal, host string, rt metadata.ResourceType, name string, ops []metadata.ACLOperation) []metadata.ACLOperation {
	var out []metadata.ACLOperation
	snap := a.snap.Load()
	for _, op := range ops {
		if a.super[principal] || snap.allowed(principal, host, op, rt, name) {
			out = append(out, op)
		}
	}
	return out
}

// AuthorizeAny reports whether principal may perform op on at least one resource of type rt
// (Kafka's authorizeByResourceType): some ALLOW ACL for op (or ALL) whose pattern no DENY ACL
// covers.
func (a *Authorizer) AuthorizeAny(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType) bool {
	if a.super[principal] {
		return true
	}
	ok := a.snap.Load().allowedAny(principal, host, op, rt)
	if !ok {
		a.m.denied.WithLabelValues(resourceLabel(rt)).Inc()
	}
	return ok
}

// Create stores acls (each must pass metadata.ACL.Validate) and applies them here before it
// returns.
func (a *Authorizer) Create(ctx context.Context, acls []metadata.ACL) error {
	if err := a.store.CreateACLs(ctx, acls); err != nil {
		return err
	}
	return a.Reload(ctx)
}

// Delete removes the ACLs f matches, returns them, and applies the removal here before it returns.
func (a *Authorizer) Delete(ctx context.Context, f metadata.ACLFilter) ([]metadata.ACL, error) {
	out, err := a.store.DeleteACLs(ctx, f)
	if err != nil {
		return nil, err
	}
	return out, a.Reload(ctx)
}

// Describe returns the stored ACLs f matches, read from the store (not the snapshot), in
// metadata.CompareACLs order.
func (a *Authorizer) Describe(ctx context.Context, f metadata.ACLFilter) ([]metadata.ACL, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	all, err := a.store.ListACLs(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(x metadata.ACL) bool { return !f.Matches(x) }), nil
}

func resourceLabel(rt metadata.ResourceType) string {
	switch rt {
	case metadata.ResourceTopic:
		return "topic"
	case metadata.ResourceGroup:
		return "group"
	case metadata.ResourceCluster:
		return "cluster"
	case metadata.ResourceTransactionalID:
		return "transactional_id"
	}
	return "other"
}

type metrics struct {
	denied  *prometheus.CounterVec
	entries prometheus.Gauge
	reloads prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_acl_denials_total",
			Help: "Authorization checks the ACLs denied, by resource type.",
		}, []string{"resource"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_acl_entries",
			Help: "ACLs in the authorizer's snapshot.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_acl_reloads_total",
			Help: "Times the authorizer re-read every ACL (at start, on a change, and periodically).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.denied, m.entries, m.reloads} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
			}
		}
	}
	return m, nil
}
