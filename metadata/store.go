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

// Leases grants partition leadership. A lease record names a partition's leader and its epoch
// and has no expiry of its own: it is live exactly while its holder's node registration (Nodes) is
// live. A node keeps every partition it leads by refreshing one registration, so leadership costs
// metadata writes per node, not per partition, and a dead node's partitions all become free
// together when its registration lapses. Only a live lease's holder may lead.
type Leases interface {
	// AcquireLease makes node the partition's leader under a new epoch, above every epoch the
	// partition had (the record's and the catalog's), when the lease is free: no record, a record
	// of a deleted incarnation of the topic, a holder whose registration is not live, or node
	// itself (a new term: a restarted node, or one whose registration lapsed, never continues an
	// old one). Taken from another node, the new epoch is raised in the catalog too, fencing the
	// old holder's writes. ErrConflict if another registered node holds it; ErrNotFound if tp
	// names no partition of an existing topic. Of concurrent acquirers exactly one wins; the
	// others get ErrConflict.
	AcquireLease(ctx context.Context, tp TopicPartition, node int32) (Lease, error)
	// ReleaseLease gives the lease up so another node can take it at once; the catalog keeps its
	// epoch, so the next term's is newer. Releasing a lease that is gone is not an error;
	// releasing one another holder has taken is ErrFenced.
	ReleaseLease(ctx context.Context, l Lease) error
	// GetLease returns the live lease, or ErrNotFound if none.
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

// OffsetsWatcher reports changes of committed offsets, so a mirror of them (the
// __consumer_offsets changelog) can follow without polling.
type OffsetsWatcher interface {
	// WatchOffsets reports groups whose committed offsets changed (a commit or a delete) until ctx
	// ends or the store closes, then closes the channel. Changes made before the call are not
	// reported. The channel may coalesce several changes of one group into one report; a
	// receiver re-reads the group's offsets.
	WatchOffsets(ctx context.Context) (<-chan string, error)
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
	// RefreshNode extends n's registration for ttl only if it is live: ErrNotFound if it lapsed or
	// was deregistered since it was last written. So a refresh that succeeds proves the
	// registration never lapsed, and no other node can have taken the node's partitions, even if
	// the refresh came later than the node's own deadline. After ErrNotFound the node must
	// RegisterNode again and treat every lease it held as lost.
	RefreshNode(ctx context.Context, n Node, ttl time.Duration) error
	// DeregisterNode removes the node at once (clean shutdown). An unknown id is not an error.
	DeregisterNode(ctx context.Context, id int32) error
	// ListNodes returns live nodes ordered by ID.
	ListNodes(ctx context.Context) ([]Node, error)
}

// LeadershipWatcher reports the changes after which partition leadership may have to move, so a
// node reacts the moment they happen instead of at its next poll.
type LeadershipWatcher interface {
	// WatchLeadership signals, until ctx ends, every time a node joins (its first registration, or
	// its first after a lapse) or leaves (DeregisterNode, or its registration lapsed: then ListNodes
	// no longer reports it), a lease is released (ReleaseLease, DeleteTopic), or a topic is
	// created, changed or deleted. Registration refreshes, acquisitions and catalog writes do not
	// signal.
	//
	// The channel carries no detail and coalesces: one signal may stand for many changes, and a
	// signal may come when nothing the receiver can see changed. A receiver re-reads what it
	// needs (ListTopics, ListNodes, ListLeases). The channel is closed when ctx ends or the store
	// closes.
	WatchLeadership(ctx context.Context) (<-chan struct{}, error)
}

// ACLs holds the cluster's access control lists (acl.go). Each distinct ACL is stored once.
type ACLs interface {
	// CreateACLs stores acls; an ACL already stored is not an error. Every ACL must pass
	// ACL.Validate (else nothing is stored and the error wraps ErrInvalidACL).
	CreateACLs(ctx context.Context, acls []ACL) error
	// DeleteACLs removes every stored ACL that f matches and returns them, in ListACLs order.
	DeleteACLs(ctx context.Context, f ACLFilter) ([]ACL, error)
	// ListACLs returns every ACL, ordered by CompareACLs.
	ListACLs(ctx context.Context) ([]ACL, error)
	// WatchACLs signals, until ctx ends, every time an ACL is created or deleted. Like
	// WatchLeadership's, the channel carries no detail and coalesces; a receiver re-reads with
	// ListACLs. It is closed when ctx ends or the store closes.
	WatchACLs(ctx context.Context) (<-chan struct{}, error)
}

// Store is the whole coordination service: every role, and Close. Backends implement it; cmd opens
// one and passes it (or the roles a consumer asks for) around.
type Store interface {
	Topics
	Leases
	Catalog
	CatalogWatcher
	Offsets
	OffsetsWatcher
	ProducerIDs
	Transactions
	Nodes
	LeadershipWatcher
	ACLs

	// Close releases the store's connections and ends its watches, waiting for their goroutines.
	// It is idempotent; other methods fail after it.
	Close() error
}
