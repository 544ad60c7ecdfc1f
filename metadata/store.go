package metadata

import (
	"context"
	"time"
)

// Topics is the topic registry.
type Topics interface {
	// CreateTopic stores t; a zero t.ID is replaced by a fresh one. ErrExists if the name is taken.
	// The name and partition count must pass Topic.Validate.
	CreateTopic(ctx context.Context, t Topic) (Topic, error)
	// GetTopic returns ErrNotFound for an unknown name.
	GetTopic(ctx context.Context, name string) (Topic, error)
	// ListTopics returns every topic, ordered by name.
	ListTopics(ctx context.Context) ([]Topic, error)
	// UpdateTopic applies fn to the current value under CAS, retrying on a concurrent change. fn may
	// be called more than once and must not keep t. Name and ID cannot change; the partition count
	// may grow but not shrink. ErrNotFound for an unknown name; an error from fn is returned as is.
	UpdateTopic(ctx context.Context, name string, fn func(t *Topic) error) (Topic, error)
	// DeleteTopic removes the topic and its leases and catalog entries. The leases' removal is a
	// departure (DepartureWatcher); objects in the bucket are the caller's to delete.
	DeleteTopic(ctx context.Context, name string) error
}

// Leases grants partition leadership. A lease is live until its TTL lapses without a renewal or
// it is released; only a live lease's holder may lead.
type Leases interface {
	// AcquireLease grants node the partition's lease for ttl if it is free or expired, bumping the
	// epoch (and the catalog's epoch with it). ErrConflict if another node holds a live lease;
	// ErrNotFound if tp names no partition of an existing topic. A node that already holds the
	// lease gets it back renewed, same epoch.
	AcquireLease(ctx context.Context, tp TopicPartition, node int32, ttl time.Duration) (Lease, error)
	// RenewLease extends a held lease; ErrFenced if it was lost (expired and taken, or released).
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up early so another node can take it at once. Releasing a lease
	// that already lapsed is not an error; releasing one another holder has taken is ErrFenced.
	ReleaseLease(ctx context.Context, l Lease) error
	// GetLease returns the current live lease, or ErrNotFound if none.
	GetLease(ctx context.Context, tp TopicPartition) (Lease, error)
	// ListLeases returns every live lease, ordered by topic, then partition.
	ListLeases(ctx context.Context) ([]Lease, error)
}

// Catalog is the per-partition segment catalog: which objects hold which offsets, and where the
// log starts. Its writes are fenced by the leader epoch; the rules are PartitionCatalog's methods
// of the same names.
type Catalog interface {
	// GetCatalog returns the partition's catalog; an empty catalog (not an error) for a partition of
	// an existing topic that has tiered nothing yet, ErrNotFound for no such partition.
	GetCatalog(ctx context.Context, tp TopicPartition) (PartitionCatalog, error)
	// RegisterSegment appends seg under the leader's epoch. ErrFenced if epoch is stale; ErrConflict
	// if seg overlaps or leaves a gap after the current tiered end. Registering the exact same segment
	// twice succeeds (idempotent retry).
	RegisterSegment(ctx context.Context, tp TopicPartition, epoch int32, seg SegmentRef) error
	// ListSegments returns the segments holding any offset in [from, to), in order.
	ListSegments(ctx context.Context, tp TopicPartition, from, to int64) ([]SegmentRef, error)
	// ReplaceSegments atomically swaps the segments keyed by oldKeys for repl (compaction, retention).
	// ErrFenced if epoch is stale; ErrConflict if any old key is gone or the result would overlap.
	// A replacement that already took effect succeeds (idempotent retry).
	ReplaceSegments(ctx context.Context, tp TopicPartition, epoch int32, oldKeys []string, repl []SegmentRef) error
	// SetLogStartOffset moves the log start forward (never back) and drops segments wholly below it,
	// returning the dropped ones so their objects can be deleted after a grace period.
	SetLogStartOffset(ctx context.Context, tp TopicPartition, epoch int32, offset int64) ([]SegmentRef, error)
}

// CatalogWatcher reports catalog changes, so a cache of catalogs can stay fresh without polling.
type CatalogWatcher interface {
	// WatchCatalogs reports partitions whose catalog changed (a write, a raised epoch, a deleted
	// topic) until ctx ends or the store closes, then closes the channel. The channel may coalesce
	// several changes of one partition into one report; a receiver re-reads the catalog.
	WatchCatalogs(ctx context.Context) (<-chan TopicPartition, error)
}

// Offsets holds consumer groups' committed offsets.
type Offsets interface {
	// CommitOffsets stores a group's offsets (all or nothing), replacing those of the same
	// partitions and keeping the others.
	CommitOffsets(ctx context.Context, group string, offsets map[TopicPartition]OffsetCommit) error
	// FetchOffsets returns the group's committed offsets; an empty map for an unknown group.
	FetchOffsets(ctx context.Context, group string) (map[TopicPartition]OffsetCommit, error)
	// DeleteOffsets removes some partitions' offsets, or the whole group when tps is empty.
	DeleteOffsets(ctx context.Context, group string, tps []TopicPartition) error
	// ListGroups returns the names of groups with committed offsets, sorted.
	ListGroups(ctx context.Context) ([]string, error)
}

// ProducerIDs hands out idempotent-producer ids.
type ProducerIDs interface {
	// AllocateProducerIDs reserves n consecutive producer ids cluster-wide and returns the first.
	// No id is handed out twice.
	AllocateProducerIDs(ctx context.Context, n int64) (int64, error)
}

// Transactions holds transaction coordinator state, one Transaction per transactional id.
type Transactions interface {
	// GetTransaction returns ErrNotFound for an unknown id.
	GetTransaction(ctx context.Context, id string) (Transaction, error)
	// UpdateTransaction applies fn to the current value under CAS, retrying on a concurrent change,
	// and stores the result. For an unknown id fn sees a zero Transaction with only ID set and
	// found false. fn may be called more than once and must not keep t; an error from fn is
	// returned as is and nothing is written. The ID cannot change.
	UpdateTransaction(ctx context.Context, id string, fn func(t *Transaction, found bool) error) (Transaction, error)
	// ListTransactions returns every transaction, ordered by id.
	ListTransactions(ctx context.Context) ([]Transaction, error)
}

// Nodes is the live-node registry. A registration is live until its TTL lapses without a refresh
// or the node deregisters.
type Nodes interface {
	// RegisterNode adds or refreshes n in the live-node registry for ttl.
	RegisterNode(ctx context.Context, n Node, ttl time.Duration) error
	// DeregisterNode removes the node at once (clean shutdown). An unknown id is not an error.
	DeregisterNode(ctx context.Context, id int32) error
	// ListNodes returns live nodes ordered by ID.
	ListNodes(ctx context.Context) ([]Node, error)
}

// DepartureWatcher reports leases and node registrations going away, so a node can take over a
// dead peer's partitions the moment their leases lapse instead of at its next poll.
type DepartureWatcher interface {
	// WatchDepartures signals, until ctx ends, every time a lease or a node registration goes
	// away: released (ReleaseLease, DeleteTopic, DeregisterNode) or lapsed (its TTL ran out
	// without a renewal). Acquisitions, renewals and registrations do not signal. A lapse is
	// signalled once the backend sees it, after the TTL: then GetLease and ListNodes no longer
	// report it.
	//
	// The channel carries no detail and coalesces: one signal may stand for many departures, and
	// a signal may come when nothing the receiver can see changed. A receiver re-reads what it
	// needs (ListLeases, ListNodes). The channel is closed when ctx ends or the store closes.
	WatchDepartures(ctx context.Context) (<-chan struct{}, error)
}

// Store is the whole coordination service: every role, and Close. Backends implement it; cmd opens
// one and passes it (or the roles a consumer asks for) around.
type Store interface {
	Topics
	Leases
	Catalog
	CatalogWatcher
	Offsets
	ProducerIDs
	Transactions
	Nodes
	DepartureWatcher

	// Close releases the store's connections and ends its watches, waiting for their goroutines.
	// It is idempotent; other methods fail after it.
	Close() error
}
