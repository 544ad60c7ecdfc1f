// Package memmeta is an in-memory metadata.Store for tests and single-process tools. It applies the
// catalog rules of package metadata (PartitionCatalog.RegisterSegment and its siblings) under one
// mutex, as natsmeta applies them inside a compare-and-swap.
//
// State lives in maps behind one mutex; nothing survives Close or the process. Node expiry is
// judged by Config.Now, so tests may inject a clock; the default is time.Now. While a leadership
// watch runs, one goroutine owned by the Store looks for lapsed node registrations every
// Config.ExpiryCheck, removes them and signals the watches (as the NATS server deletes a key whose
// TTL ran out); with an injected clock a lapse is seen at the first look after the clock passed it.
//
// A Store is safe for concurrent use. Values handed out are copies; callers may keep and change
// them. Close ends every watch and waits for the goroutines behind them.
package memmeta

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

var _ metadata.Store = (*Store)(nil)

// Config tunes a Store. The zero value is ready to use.
type Config struct {
	// Now is the clock that judges lease and node expiry. Default time.Now.
	Now func() time.Time
	// FirstProducerID is the first producer id handed out. Default 0.
	FirstProducerID int64
	// ExpiryCheck is how often, while a leadership watch runs, the Store looks for node
	// registrations that lapsed. Default DefaultExpiryCheck.
	ExpiryCheck time.Duration
}

// DefaultExpiryCheck is Config.ExpiryCheck's default.
const DefaultExpiryCheck = 100 * time.Millisecond

// Validate checks c.
func (c Config) Validate() error {
	if c.FirstProducerID < 0 {
		return fmt.Errorf("memmeta: FirstProducerID %d is negative", c.FirstProducerID)
	}
	if c.ExpiryCheck < 0 {
		return fmt.Errorf("memmeta: ExpiryCheck %v is negative", c.ExpiryCheck)
	}
	return nil
}

// lease is a partition's lease record; it is live while its node is registered.
type lease struct {
	node  int32
	epoch int32
}

type liveNode struct {
	node    metadata.Node
	expires time.Time
}

// Store is the in-memory metadata.Store.
type Store struct {
	now         func() time.Time
	expiryCheck time.Duration
	wg          sync.WaitGroup // watch goroutines and the expiry loop; Close waits

	mu       sync.Mutex
	closed   bool
	done     chan struct{} // closed by Close; stops watchers
	topics   map[string]metadata.Topic
	leases   map[metadata.TopicPartition]lease
	catalogs map[metadata.TopicPartition]metadata.PartitionCatalog
	offsets  map[string]map[metadata.TopicPartition]metadata.OffsetCommit
	nextPID  int64
	txns     map[string]metadata.Transaction // transactions.go; nil until the first write
	acls     map[metadata.ACL]struct{}       // acls.go; nil until the first write
	aclWatch signals                         // acls.go; nil until the first watch
	nodes    map[int32]liveNode
	departs  signals // leadership watches' channels, signalled under mu
	// Catalog and offsets watches (watch.go), notified under mu; nil until the first watch.
	catalogWatchers watchers[metadata.TopicPartition]
	offsetWatchers  watchers[string]
	expiring        bool // the expiry loop runs
}

// New returns an empty Store.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ExpiryCheck == 0 {
		cfg.ExpiryCheck = DefaultExpiryCheck
	}
	return &Store{
		now:         cfg.Now,
		expiryCheck: cfg.ExpiryCheck,
		done:        make(chan struct{}),
		topics:      map[string]metadata.Topic{},
		leases:      map[metadata.TopicPartition]lease{},
		catalogs:    map[metadata.TopicPartition]metadata.PartitionCatalog{},
		offsets:     map[string]map[metadata.TopicPartition]metadata.OffsetCommit{},
		nextPID:     cfg.FirstProducerID,
		nodes:       map[int32]liveNode{},
		departs:     signals{},
	}, nil
}

var errClosed = fmt.Errorf("memmeta: store closed")

// lock takes the mutex unless ctx is done or the store is closed.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

func cloneTopic(t metadata.Topic) metadata.Topic {
	t.Configs = maps.Clone(t.Configs)
	return t
}

// CreateTopic implements metadata.Store.
func (s *Store) CreateTopic(ctx context.Context, t metadata.Topic) (metadata.Topic, error) {
	if err := t.Validate(); err != nil {
		return metadata.Topic{}, err
	}
	if err := s.lock(ctx); err != nil {
		return metadata.Topic{}, err
	}
	defer s.mu.Unlock()
	if _, ok := s.topics[t.Name]; ok {
		return metadata.Topic{}, fmt.Errorf("%w: topic %q", metadata.ErrExists, t.Name)
	}
	t = cloneTopic(t)
	if t.ID.IsZero() {
		t.ID = metadata.NewTopicID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	s.topics[t.Name] = t
	s.changedLocked()
	return cloneTopic(t), nil
}

// GetTopic implements metadata.Store.
func (s *Store) GetTopic(ctx context.Context, name string) (metadata.Topic, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Topic{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok {
		return metadata.Topic{}, fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
	}
	return cloneTopic(t), nil
}

// ListTopics implements metadata.Store. Topics come ordered by name.
func (s *Store) ListTopics(ctx context.Context) ([]metadata.Topic, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]metadata.Topic, 0, len(s.topics))
	for _, t := range s.topics {
		out = append(out, cloneTopic(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateTopic implements metadata.Store.
func (s *Store) UpdateTopic(ctx context.Context, name string, fn func(t *metadata.Topic) error) (metadata.Topic, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Topic{}, err
	}
	defer s.mu.Unlock()
	cur, ok := s.topics[name]
	if !ok {
		return metadata.Topic{}, fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
	}
	next := cloneTopic(cur)
	if err := fn(&next); err != nil {
		return metadata.Topic{}, err
	}
	if next.Name != cur.Name || next.ID != cur.ID {
		return metadata.Topic{}, fmt.Errorf("metadata: UpdateTopic may not change name or id of %q", name)
	}
	if next.Partitions < cur.Partitions {
		return metadata.Topic{}, fmt.Errorf("metadata: topic %q cannot shrink from %d to %d partitions", name, cur.Partitions, next.Partitions)
	}
	s.topics[name] = cloneTopic(next)
	s.changedLocked()
	return next, nil
}

// DeleteTopic implements metadata.Store.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	if !ok {
		return fmt.Errorf("%w: topic %q", metadata.ErrNotFound, name)
	}
	delete(s.topics, name)
	s.changedLocked()
	for p := int32(0); p < t.Partitions; p++ {
		tp := metadata.TopicPartition{Topic: name, Partition: p}
		delete(s.leases, tp)
		if _, ok := s.catalogs[tp]; ok {
			delete(s.catalogs, tp)
			s.catalogWatchers.notify(tp)
		}
	}
	return nil
}

// partitionLocked checks that tp names a partition of an existing topic and returns the topic.
func (s *Store) partitionLocked(tp metadata.TopicPartition) (metadata.Topic, error) {
	t, ok := s.topics[tp.Topic]
	if !ok || tp.Partition < 0 || tp.Partition >= t.Partitions {
		return metadata.Topic{}, fmt.Errorf("%w: partition %s", metadata.ErrNotFound, tp)
	}
	return t, nil
}

// catalogLocked returns a private copy of tp's catalog.
func (s *Store) catalogLocked(tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	t, err := s.partitionLocked(tp)
	if err != nil {
		return metadata.PartitionCatalog{}, err
	}
	c, ok := s.catalogs[tp]
	if !ok || c.TopicID != t.ID {
		return metadata.PartitionCatalog{TopicID: t.ID}, nil
	}
	return c.Clone(), nil
}

func (s *Store) putCatalogLocked(tp metadata.TopicPartition, c metadata.PartitionCatalog) {
	s.catalogs[tp] = c
	s.catalogWatchers.notify(tp)
}

func ttlCheck(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("metadata: ttl %v must be positive", ttl)
	}
	return nil
}

// registeredLocked reports whether node's registration is live.
func (s *Store) registeredLocked(node int32) bool {
	n, ok := s.nodes[node]
	return ok && s.now().Before(n.expires)
}

// liveLeaseLocked returns tp's lease if its holder is registered.
func (s *Store) liveLeaseLocked(tp metadata.TopicPartition) (metadata.Lease, bool) {
	l, ok := s.leases[tp]
	if !ok || !s.registeredLocked(l.node) {
		return metadata.Lease{}, false
	}
	return metadata.Lease{TopicPartition: tp, Node: l.node, Epoch: l.epoch}, true
}

// AcquireLease implements metadata.Store.
func (s *Store) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32) (metadata.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Lease{}, err
	}
	defer s.mu.Unlock()
	c, err := s.catalogLocked(tp)
	if err != nil {
		return metadata.Lease{}, err
	}
	if l, live := s.liveLeaseLocked(tp); live && l.Node != node {
		return metadata.Lease{}, fmt.Errorf("%w: lease on %s held by node %d", metadata.ErrConflict, tp, l.Node)
	}
	prev, had := s.leases[tp]
	epoch := c.Epoch + 1
	if had {
		epoch = max(c.Epoch, prev.epoch) + 1
	}
	if had && prev.node != node {
		c.Epoch = epoch // fences a write the old holder may still have in flight
		s.putCatalogLocked(tp, c)
	}
	s.leases[tp] = lease{node: node, epoch: epoch}
	return metadata.Lease{TopicPartition: tp, Node: node, Epoch: epoch}, nil
}

// ReleaseLease implements metadata.Store. Releasing a lease that is gone is not an error;
// releasing one that another holder has since taken is ErrFenced.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	cur, ok := s.leases[l.TopicPartition]
	if !ok {
		return nil
	}
	if cur.node != l.Node || cur.epoch != l.Epoch {
		return fmt.Errorf("%w: lease on %s is held by node %d epoch %d", metadata.ErrFenced, l.TopicPartition, cur.node, cur.epoch)
	}
	if c, err := s.catalogLocked(l.TopicPartition); err == nil && c.Epoch < cur.epoch {
		c.Epoch = cur.epoch // the record goes; the catalog keeps the epoch
		s.putCatalogLocked(l.TopicPartition, c)
	}
	delete(s.leases, l.TopicPartition)
	s.changedLocked()
	return nil
}

// GetLease implements metadata.Store.
func (s *Store) GetLease(ctx context.Context, tp metadata.TopicPartition) (metadata.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Lease{}, err
	}
	defer s.mu.Unlock()
	l, ok := s.liveLeaseLocked(tp)
	if !ok {
		return metadata.Lease{}, fmt.Errorf("%w: no live lease on %s", metadata.ErrNotFound, tp)
	}
	return l, nil
}

// ListLeases implements metadata.Store. Leases come ordered by topic, then partition.
func (s *Store) ListLeases(ctx context.Context) ([]metadata.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []metadata.Lease
	for tp := range s.leases {
		if l, ok := s.liveLeaseLocked(tp); ok {
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b metadata.Lease) int { return a.TopicPartition.Compare(b.TopicPartition) })
	return out, nil
}
