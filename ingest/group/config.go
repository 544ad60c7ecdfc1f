package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
)

var (
	// ErrConfig reports an invalid Config.
	ErrConfig = errors.New("group: invalid config")
	// ErrNoCoordinator is returned by Committed on a nil Coordinator.
	ErrNoCoordinator = errors.New("group: no coordinator")
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultRebalanceDelay is shorter than Kafka's 3s group.initial.rebalance.delay.ms: Strata
	// targets small groups that start together, and 300ms still lets a burst of consumers that
	// start at once share the first generation.
	DefaultRebalanceDelay    = 300 * time.Millisecond
	DefaultMinSessionTimeout = 6 * time.Second
	DefaultMaxSessionTimeout = 30 * time.Minute
	// DefaultOffsetMetadataMaxBytes is Kafka's offset.metadata.max.bytes.
	DefaultOffsetMetadataMaxBytes = 4096
	// DefaultMaxGroupSize mirrors Kafka's group.max.size.
	DefaultMaxGroupSize = math.MaxInt32
	// DefaultConsumerSessionTimeout and DefaultConsumerHeartbeatInterval are Kafka's
	// group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms.
	DefaultConsumerSessionTimeout    = 45 * time.Second
	DefaultConsumerHeartbeatInterval = 5 * time.Second
)

// Store is what a Coordinator asks of the metadata store: committed offsets, topic lookups to
// refuse commits for partitions that do not exist, and the topic list that consumer groups'
// subscriptions resolve against. Every metadata.Store is one.
type Store interface {
	metadata.Offsets
	GetTopic(ctx context.Context, name string) (metadata.Topic, error)
	ListTopics(ctx context.Context) ([]metadata.Topic, error)
}

var _ Store = metadata.Store(nil)

// Config configures a Coordinator.
type Config struct {
	// Store keeps committed offsets. Required.
	Store Store
	// NodeID is this node's broker id (used in logs).
	NodeID int32
	// IsCoordinator reports whether this node coordinates group. Nil means always true.
	IsCoordinator func(group string) bool
	// PendingOffsets, when set, reports the partitions of group for which an ongoing transaction
	// has staged offsets (TxnOffsetCommit): OffsetFetch with require_stable answers them
	// UNSTABLE_OFFSET_COMMIT. Nil: nothing is ever pending.
	PendingOffsets func(ctx context.Context, group string) (map[metadata.TopicPartition]bool, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; nil means no metrics are registered.
	Registerer prometheus.Registerer
	// RebalanceDelay is Kafka's group.initial.rebalance.delay.ms: how long the first rebalance of an
	// empty group waits for more members (extended per new member, bounded by the rebalance
	// timeout). Zero means DefaultRebalanceDelay; a negative value means no delay.
	RebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session timeout (Kafka's
	// group.min/max.session.timeout.ms); JoinGroup outside them answers INVALID_SESSION_TIMEOUT.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// OffsetMetadataMaxBytes bounds the metadata string of a committed offset.
	OffsetMetadataMaxBytes int
	// MaxGroupSize bounds members per group (GROUP_MAX_SIZE_REACHED beyond it).
	MaxGroupSize int
	// ConsumerSessionTimeout is how long a KIP-848 consumer group member may go without a
	// heartbeat before it is removed; ConsumerHeartbeatInterval is the interval the coordinator
	// asks members to heartbeat at. Zero means the defaults.
	ConsumerSessionTimeout    time.Duration
	ConsumerHeartbeatInterval time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IsCoordinator == nil {
		c.IsCoordinator = func(string) bool { return true }
	}
	switch {
	case c.RebalanceDelay == 0:
		c.RebalanceDelay = DefaultRebalanceDelay
	case c.RebalanceDelay < 0:
		c.RebalanceDelay = 0
	}
	if c.MinSessionTimeout == 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout == 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.OffsetMetadataMaxBytes == 0 {
		c.OffsetMetadataMaxBytes = DefaultOffsetMetadataMaxBytes
	}
	if c.MaxGroupSize == 0 {
		c.MaxGroupSize = DefaultMaxGroupSize
	}
	if c.ConsumerSessionTimeout == 0 {
		c.ConsumerSessionTimeout = DefaultConsumerSessionTimeout
	}
	if c.ConsumerHeartbeatInterval == 0 {
		c.ConsumerHeartbeatInterval = DefaultConsumerHeartbeatInterval
	}
}

// Validate reports the first invalid field. It expects defaults to be applied (New does that).
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("%w: session timeout bounds [%v, %v]", ErrConfig, c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("%w: OffsetMetadataMaxBytes %d", ErrConfig, c.OffsetMetadataMaxBytes)
	case c.MaxGroupSize < 1:
		return fmt.Errorf("%w: MaxGroupSize %d", ErrConfig, c.MaxGroupSize)
	case c.ConsumerHeartbeatInterval <= 0 || c.ConsumerSessionTimeout <= c.ConsumerHeartbeatInterval:
		return fmt.Errorf("%w: consumer heartbeat interval %v must be positive and below the session timeout %v", ErrConfig, c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	}
	return nil
}
