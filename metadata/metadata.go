// Package metadata owns Strata's catalog types and the Store interface that every coordination
// backend implements: topics, partition leadership leases with epochs, the per-partition segment
// catalog, consumer group offsets, producer-id allocation and the live-node registry.
//
// Imports flow one way: metadata ← tier ← ingest, compaction, query ← cmd. This package imports no
// other Strata package.
//
// # Fencing
//
// Every partition has a leader epoch that grows by one each time a new holder takes its lease. Writes
// that only a leader may make (RegisterSegment, ReplaceSegments, SetLogStartOffset) carry the writer's
// epoch; a store rejects a write whose epoch is older than the partition's current epoch with
// ErrFenced. A fenced writer must stop acting as leader.
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines and many processes. Every read-modify-write is
// a compare-and-swap on the backend's revision; a CAS retried after a timeout re-reads before it is
// reported as ErrConflict. Every method honours ctx and has its own bounded timeout as well.
package metadata

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Implementations wrap them with %w and a "metadata:" prefix.
var (
	ErrNotFound = errors.New("metadata: not found")
	ErrExists   = errors.New("metadata: already exists")
	ErrConflict = errors.New("metadata: conflict")
	ErrFenced   = errors.New("metadata: fenced by a newer leader epoch")
)

// TopicID is a topic's immutable identity (a Kafka topic UUID). A topic deleted and created again
// under the same name gets a new ID, so its objects never mix with the old ones.
type TopicID [16]byte

// NewTopicID returns a random version-4 UUID.
func NewTopicID() TopicID {
	var id TopicID
	_, _ = rand.Read(id[:])
	id[6] = (id[6] & 0x0f) | 0x40
	id[8] = (id[8] & 0x3f) | 0x80
	return id
}

// String is the 32 hex digits of the ID, as used in object keys.
func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether the ID was never set.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// ParseTopicID parses the form produced by String.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("metadata: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// Topic is a named log with a fixed identity and a number of partitions.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// Configs holds only explicitly set configs, under their Kafka names ("retention.ms",
	// "cleanup.policy", "strata.durability", ...). Defaults are applied by readers.
	Configs   map[string]string
	CreatedAt time.Time
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Lease is a partition's leadership grant. Epoch grows by one for every new holder.
type Lease struct {
	TopicPartition
	Node    int32
	Epoch   int32
	Expires time.Time // as seen by the holder's clock when it last acquired or renewed
}

// SegmentRef describes one sealed segment object in the catalog.
type SegmentRef struct {
	Key          string // object key, relative to the bucket
	BaseOffset   int64  // first offset in the segment
	NextOffset   int64  // one past the last offset in the segment
	Size         int64  // object size in bytes
	MinTimestamp int64  // milliseconds; -1 when unknown
	MaxTimestamp int64  // milliseconds; -1 when unknown
	Epoch        int32  // leader epoch that wrote the segment
	Records      int64  // number of records
	CreatedAt    time.Time
}

// PartitionCatalog is the tiered view of one partition.
type PartitionCatalog struct {
	TopicID TopicID
	// Epoch is the newest leader epoch seen by the catalog; writes under an older epoch are fenced.
	Epoch int32
	// LogStartOffset is the first offset still readable in any tier (moved by retention and
	// DeleteRecords).
	LogStartOffset int64
	// Segments are ordered by BaseOffset and do not overlap.
	Segments []SegmentRef
}

// TieredEnd is one past the last offset held in object storage (LogStartOffset when none).
func (c PartitionCatalog) TieredEnd() int64 {
	if n := len(c.Segments); n > 0 {
		return c.Segments[n-1].NextOffset
	}
	return c.LogStartOffset
}

// HasSegment reports whether a segment of the catalog is stored under key.
func (c PartitionCatalog) HasSegment(key string) bool {
	for _, s := range c.Segments {
		if s.Key == key {
			return true
		}
	}
	return false
}

// OffsetCommit is a consumer group's committed position for one partition.
type OffsetCommit struct {
	Offset      int64
	LeaderEpoch int32 // -1 when the client sent none
	Metadata    string
	CommittedAt time.Time
}

// Node is a live broker as registered in the node registry.
type Node struct {
	ID        int32
	KafkaAddr string // host:port advertised to Kafka clients
	HTTPAddr  string
	Rack      string
	StartedAt time.Time
}

// Store is the coordination service. See the package doc for fencing and concurrency rules.
type Store interface {
	// CreateTopic stores t; a zero t.ID is replaced by a fresh one. ErrExists if the name is taken.
	CreateTopic(ctx context.Context, t Topic) (Topic, error)
	// GetTopic returns ErrNotFound for an unknown name.
	GetTopic(ctx context.Context, name string) (Topic, error)
	ListTopics(ctx context.Context) ([]Topic, error)
	// UpdateTopic applies fn to the current value under CAS, retrying on a concurrent change. fn may
	// be called more than once and must not keep t. Name and ID cannot change.
	UpdateTopic(ctx context.Context, name string, fn func(t *Topic) error) (Topic, error)
	// DeleteTopic removes the topic and its leases and catalog entries.
	DeleteTopic(ctx context.Context, name string) error

	// AcquireLease grants node the partition's lease for ttl if it is free or expired, bumping the
	// epoch. ErrConflict if another node holds a live lease. A node that already holds the lease
	// gets it back renewed, same epoch.
	AcquireLease(ctx context.Context, tp TopicPartition, node int32, ttl time.Duration) (Lease, error)
	// RenewLease extends a held lease; ErrFenced if it was lost (expired and taken, or released).
	RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up early so another node can take it at once.
	ReleaseLease(ctx context.Context, l Lease) error
	// GetLease returns the current live lease, or ErrNotFound if none.
	GetLease(ctx context.Context, tp TopicPartition) (Lease, error)
	// ListLeases returns every live lease.
	ListLeases(ctx context.Context) ([]Lease, error)

	// GetCatalog returns the partition's catalog; an empty catalog (not an error) for a partition of an
	// existing topic that has tiered nothing yet.
	GetCatalog(ctx context.Context, tp TopicPartition) (PartitionCatalog, error)
	// RegisterSegment appends seg under the leader's epoch. ErrFenced if epoch is stale; ErrConflict
	// if seg overlaps or leaves a gap after the current tiered end. Registering the exact same segment
	// twice succeeds (idempotent retry).
	RegisterSegment(ctx context.Context, tp TopicPartition, epoch int32, seg SegmentRef) error
	// ListSegments returns the segments holding any offset in [from, to), in order.
	ListSegments(ctx context.Context, tp TopicPartition, from, to int64) ([]SegmentRef, error)
	// ReplaceSegments atomically swaps the segments keyed by oldKeys for repl (compaction, retention).
	// ErrConflict if any old key is gone.
	ReplaceSegments(ctx context.Context, tp TopicPartition, epoch int32, oldKeys []string, repl []SegmentRef) error
	// SetLogStartOffset moves the log start forward (never back) and drops segments wholly below it,
	// returning the dropped ones so their objects can be deleted after a grace period.
	SetLogStartOffset(ctx context.Context, tp TopicPartition, epoch int32, offset int64) ([]SegmentRef, error)
	// WatchCatalogs reports partitions whose catalog changed until ctx ends. The channel may coalesce.
	WatchCatalogs(ctx context.Context) (<-chan TopicPartition, error)

	// CommitOffsets stores a group's offsets (all or nothing).
	CommitOffsets(ctx context.Context, group string, offsets map[TopicPartition]OffsetCommit) error
	// FetchOffsets returns the group's committed offsets; an empty map for an unknown group.
	FetchOffsets(ctx context.Context, group string) (map[TopicPartition]OffsetCommit, error)
	// DeleteOffsets removes some partitions' offsets, or the whole group when tps is empty.
	DeleteOffsets(ctx context.Context, group string, tps []TopicPartition) error
	// ListGroups returns the names of groups with committed offsets.
	ListGroups(ctx context.Context) ([]string, error)

	// AllocateProducerIDs reserves n consecutive producer ids cluster-wide and returns the first.
	AllocateProducerIDs(ctx context.Context, n int64) (int64, error)

	// RegisterNode adds or refreshes n in the live-node registry for ttl.
	RegisterNode(ctx context.Context, n Node, ttl time.Duration) error
	// DeregisterNode removes the node at once (clean shutdown).
	DeregisterNode(ctx context.Context, id int32) error
	// ListNodes returns live nodes ordered by ID.
	ListNodes(ctx context.Context) ([]Node, error)

	Close() error
}
