// Package memmeta is an in-memory metadata.Store for tests and single-process tools. It applies the
// catalog rules of package metadata (PartitionCatalog.RegisterSegment and its siblings) under one
// mutex, as natsmeta applies them inside a compare-and-swap.
//
// State lives in maps behind one mutex; nothing survives Close or the process. Lease and node expiry
// are judged by Config.Now, so tests may inject a clock; the default is time.Now. While a departure
// watch runs, one goroutine owned by the Store looks for lapsed leases and node registrations every
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
	// ExpiryCheck is how often, while a departure watch runs, the Store looks for leases and node
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

type lease struct {
	node    int32
	epoch   int32
	expires time.Time
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
	nodes    map[int32]liveNode
	watchers map[*watcher]struct{}
	departs  map[chan struct{}]struct{} // departure watches' channels, signalled under mu
	expiring bool                       // the expiry loop runs
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
		watchers:    map[*watcher]struct{}{},
		departs:     map[chan struct{}]struct{}{},
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
	for p := int32(0); p < t.Partitions; p++ {
		tp := metadata.TopicPartition{Topic: name, Partition: p}
		if _, ok := s.leases[tp]; ok {
			delete(s.leases, tp)
			s.departedLocked()
		}
		if _, ok := s.catalogs[tp]; ok {
			delete(s.catalogs, tp)
			s.notifyLocked(tp)
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
	s.notifyLocked(tp)
}

func ttlCheck(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("metadata: ttl %v must be positive", ttl)
	}
	return nil
}

// AcquireLease implements metadata.Store.
func (s *Store) AcquireLease(ctx context.Context, tp metadata.TopicPartition, node int32, ttl time.Duration) (metadata.Lease, error) {
	if err := ttlCheck(ttl); err != nil {
		return metadata.Lease{}, err
	}
	if err := s.lock(ctx); err != nil {
		return metadata.Lease{}, err
	}
	defer s.mu.Unlock()
	c, err := s.catalogLocked(tp)
	if err != nil {
		return metadata.Lease{}, err
	}
	now := s.now()
	l, ok := s.leases[tp]
	live := ok && now.Before(l.expires)
	if live && l.node != node {
		return metadata.Lease{}, fmt.Errorf("%w: lease on %s held by node %d", metadata.ErrConflict, tp, l.node)
	}
	// A free lease, or the holder's own whose epoch a writer has since passed, gets a new epoch.
	if !live || l.epoch < c.Epoch {
		c.Epoch++
		s.putCatalogLocked(tp, c)
		l = lease{node: node, epoch: c.Epoch}
	}
	l.expires = now.Add(ttl)
	s.leases[tp] = l
	return metadata.Lease{TopicPartition: tp, Node: l.node, Epoch: l.epoch, Expires: l.expires}, nil
}

// RenewLease implements metadata.Store.
func (s *Store) RenewLease(ctx context.Context, l metadata.Lease, ttl time.Duration) (metadata.Lease, error) {
	if err := ttlCheck(ttl); err != nil {
		return metadata.Lease{}, err
	}
	if err := s.lock(ctx); err != nil {
		return metadata.Lease{}, err
	}
	defer s.mu.Unlock()
	now := s.now()
	cur, ok := s.leases[l.TopicPartition]
	if !ok || !now.Before(cur.expires) || cur.node != l.Node || cur.epoch != l.Epoch {
		return metadata.Lease{}, fmt.Errorf("%w: lease on %s lost by node %d epoch %d", metadata.ErrFenced, l.TopicPartition, l.Node, l.Epoch)
	}
	cur.expires = now.Add(ttl)
	s.leases[l.TopicPartition] = cur
	l.Expires = cur.expires
	return l, nil
}

// ReleaseLease implements metadata.Store. Releasing a lease that already lapsed is not an error;
// releasing one that another holder has since taken is ErrFenced.
func (s *Store) ReleaseLease(ctx context.Context, l metadata.Lease) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	cur, ok := s.leases[l.TopicPartition]
	if !ok || !s.now().Before(cur.expires) {
		return nil
	}
	if cur.node != l.Node || cur.epoch != l.Epoch {
		return fmt.Errorf("%w: lease on %s is held by node %d epoch %d", metadata.ErrFenced, l.TopicPartition, cur.node, cur.epoch)
	}
	delete(s.leases, l.TopicPartition)
	s.departedLocked()
	return nil
}

// GetLease implements metadata.Store.
func (s *Store) GetLease(ctx context.Context, tp metadata.TopicPartition) (metadata.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return metadata.Lease{}, err
	}
	defer s.mu.Unlock()
	l, ok := s.leases[tp]
	if !ok || !s.now().Before(l.expires) {
		return metadata.Lease{}, fmt.Errorf("%w: no live lease on %s", metadata.ErrNotFound, tp)
	}
	return metadata.Lease{TopicPartition: tp, Node: l.node, Epoch: l.epoch, Expires: l.expires}, nil
}

// ListLeases implements metadata.Store. Leases come ordered by topic, then partition.
func (s *Store) ListLeases(ctx context.Context) ([]metadata.Lease, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.now()
	var out []metadata.Lease
	for tp, l := range s.leases {
		if now.Before(l.expires) {
			out = append(out, metadata.Lease{TopicPartition: tp, Node: l.node, Epoch: l.epoch, Expires: l.expires})
		}
	}
	slices.SortFunc(out, func(a, b metadata.Lease) int { return a.TopicPartition.Compare(b.TopicPartition) })
	return out, nil
}
