package metadata

import (
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

// Lease is a partition's leadership grant, live while its holder's node registration is. Epoch
// grows by one for every new term, whoever holds it.
type Lease struct {
	TopicPartition
	Node  int32
	Epoch int32
}

// SegmentRef describes one sealed segment in the catalog: a whole object, or a byte range of an
// object shared by several partitions (one flush of a node's object-durability partitions). The
// segment's bytes are [Position, Position+Size) of the object under Key; a whole object has
// Position 0 and Size equal to the object's size, so catalogs written before ranges existed read
// the same. A partition's catalog names at most one range of any object, so Key still identifies
// a segment within one catalog.
type SegmentRef struct {
	Key          string // object key, relative to the bucket
	BaseOffset   int64  // first offset in the segment
	NextOffset   int64  // one past the last offset in the segment
	Size         int64  // bytes of the segment: the object's size, or the range's length
	Position     int64  // byte position of the segment within the object (0: it starts the object)
	MinTimestamp int64  // milliseconds; -1 when unknown
	MaxTimestamp int64  // milliseconds; -1 when unknown
	Epoch        int32  // leader epoch that wrote the segment
	Records      int64  // number of records
	CreatedAt    time.Time
	// Format is the layout of the segment's bytes; the zero value is FormatSegment, so entries
	// written before formats existed read as segments.
	Format SegmentFormat
}

// SegmentFormat is the layout of a catalog entry's bytes.
type SegmentFormat uint8

const (
	// FormatSegment: Kafka record batches in a segment object (tier/segment).
	FormatSegment SegmentFormat = iota
	// FormatParquet: a Parquet object of the cold tier's table layout (tier/columnar), whole
	// (Position 0).
	FormatParquet
)

func (f SegmentFormat) String() string {
	switch f {
	case FormatSegment:
		return "segment"
	case FormatParquet:
		return "parquet"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// PartitionCatalog is the tiered view of one partition.
//
// Its methods RegisterSegment, ReplaceSegments and SetLogStartOffset are the catalog rules every
// Store applies, as pure functions: they change only the catalog they are called on, do no I/O and
// take no locks, so a backend runs them inside its own compare-and-swap (or under its own mutex).
// The caller owns the catalog and calls them on a private copy (Clone) when it may be shared. The
// rules, beyond fencing (see the package doc):
//   - A segment is valid when Key is non-empty, BaseOffset >= 0, NextOffset > BaseOffset, and
//     Position and Size are not negative.
//   - Two segments are the same (SegmentRef.Same) when Key, BaseOffset, NextOffset, Size,
//     Position and Format agree; a Parquet segment (FormatParquet) is a whole object;
//     timestamps and CreatedAt are not compared, so a retry that rebuilt the ref still matches.
//   - On an empty catalog a new segment must hold LogStartOffset (BaseOffset <= LogStartOffset <
//     NextOffset); after that each segment starts where the previous one ended: no gap, no overlap.
//   - A write under an epoch newer than the catalog's raises the catalog's epoch; a registration
//     or a log-start move raises it even when it is then refused or changes nothing else.
//   - A retried write that already took effect succeeds without changing anything, even if the
//     writer has been fenced since: the catalog holds exactly what it asked for.
//   - The log start only moves forward; segments wholly below it are dropped.
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

// Equal reports whether c and o are the same commit (CommittedAt compared as an instant, so a
// commit read back from a store equals the one written).
func (c OffsetCommit) Equal(o OffsetCommit) bool {
	return c.Offset == o.Offset && c.LeaderEpoch == o.LeaderEpoch && c.Metadata == o.Metadata && c.CommittedAt.Equal(o.CommittedAt)
}

// Node is a live broker as registered in the node registry.
type Node struct {
	ID        int32
	KafkaAddr string // host:port advertised to Kafka clients
	HTTPAddr  string
	Rack      string
	StartedAt time.Time
}
