package topics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("topics: invalid config")

// Defaults are the node-level defaults that topics inherit unless they set their own config.
type Defaults struct {
	// NumPartitions for auto-created topics and CreateTopics with -1 partitions (default 1).
	NumPartitions int32
	// AutoCreateTopicsDisabled turns off auto.create.topics.enable (on by default, as in Kafka).
	AutoCreateTopicsDisabled bool
	// SegmentBytes is the default segment.bytes (default 128 MiB).
	SegmentBytes int64
	// SegmentMs is the default segment.ms (default 7 days).
	SegmentMs int64
	// RetentionMs is the default retention.ms (default 7 days; -1 keeps forever).
	RetentionMs int64
	// RetentionBytes is the default retention.bytes (default -1: no size limit).
	RetentionBytes int64
	// MaxMessageBytes is the default max.message.bytes (default 1048588, Kafka's).
	MaxMessageBytes int32
	// OffsetsTopicPartitions is offsets.topic.num.partitions, the partitions OffsetsTopic is
	// created with (default DefaultOffsetsTopicPartitions).
	OffsetsTopicPartitions int32
}

// Apply fills the zero fields with the defaults named above.
func (d *Defaults) Apply() {
	if d.NumPartitions == 0 {
		d.NumPartitions = 1
	}
	if d.SegmentBytes == 0 {
		d.SegmentBytes = 128 << 20
	}
	if d.SegmentMs == 0 {
		d.SegmentMs = 7 * 24 * 3600 * 1000
	}
	if d.RetentionMs == 0 {
		d.RetentionMs = 7 * 24 * 3600 * 1000
	}
	if d.RetentionBytes == 0 {
		d.RetentionBytes = -1
	}
	if d.MaxMessageBytes == 0 {
		d.MaxMessageBytes = 1048588
	}
	if d.OffsetsTopicPartitions == 0 {
		d.OffsetsTopicPartitions = DefaultOffsetsTopicPartitions
	}
}

// Validate reports defaults that cannot work (after Apply: zero fields are filled).
func (d Defaults) Validate() error {
	switch {
	case d.NumPartitions < 1:
		return fmt.Errorf("%w: Defaults.NumPartitions %d < 1", ErrConfig, d.NumPartitions)
	case d.OffsetsTopicPartitions < 1:
		return fmt.Errorf("%w: Defaults.OffsetsTopicPartitions %d < 1", ErrConfig, d.OffsetsTopicPartitions)
	case d.MaxMessageBytes < 0:
		return fmt.Errorf("%w: Defaults.MaxMessageBytes %d < 0", ErrConfig, d.MaxMessageBytes)
	}
	return nil
}

// Store is the part of the metadata service topic administration uses.
type Store interface {
	CreateTopic(ctx context.Context, t metadata.Topic) (metadata.Topic, error)
	GetTopic(ctx context.Context, name string) (metadata.Topic, error)
	ListTopics(ctx context.Context) ([]metadata.Topic, error)
	UpdateTopic(ctx context.Context, name string, fn func(t *metadata.Topic) error) (metadata.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
}

// Node is the local node's part in a topic change: the broker (ingest/broker.Broker).
type Node interface {
	// Reconcile takes the partitions of new topics this node should lead and drops those of
	// deleted ones, before an admin request is answered.
	Reconcile(ctx context.Context) error
	// ApplyTopic pushes a topic's new configs to the partitions this node leads.
	ApplyTopic(t metadata.Topic)
}

// Config configures an Admin.
type Config struct {
	// NodeID is reported as broker.id / node.id by DescribeBrokerConfigs.
	NodeID int32
	// Store holds the topics. Required.
	Store Store
	// Node is told about every change made here. Required.
	Node     Node
	Defaults Defaults
	Logger   *slog.Logger
	// Registerer receives strata_broker_topics_created_total.
	Registerer prometheus.Registerer
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Node == nil:
		return fmt.Errorf("%w: Node is required", ErrConfig)
	}
	return c.Defaults.Validate()
}

// Admin administers topics: creation and deletion, partitions, and configs. Safe for concurrent
// use; every change is a compare-and-swap in the metadata store, so Admins on many nodes may act
// at once.
type Admin struct {
	cfg     Config
	log     *slog.Logger
	created prometheus.Counter
}

// New validates cfg and returns an Admin.
func New(cfg Config) (*Admin, error) {
	cfg.Defaults.Apply()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Admin{cfg: cfg, log: cfg.Logger, created: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_broker_topics_created_total",
		Help: "Topics created through this node.",
	})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(a.created); err != nil {
			return nil, fmt.Errorf("topics: register metrics: %w", err)
		}
	}
	return a, nil
}

// Defaults are the node-level defaults in force (zero fields filled).
func (a *Admin) Defaults() Defaults { return a.cfg.Defaults }

// reconcileWait bounds how long an admin request waits for the node to take the partitions it
// should lead: a small topic is led when the answer comes, a topic of thousands of partitions is
// answered once created while the node goes on taking them (clients retry LEADER_NOT_AVAILABLE,
// as with Kafka's controller).
const reconcileWait = 3 * time.Second

// reconcile tells the node a topic was created, deleted or grown, and waits for it at most
// reconcileWait (or until ctx ends).
func (a *Admin) reconcile(ctx context.Context, op, topic string) {
	done := make(chan error, 1)
	go func() { done <- a.cfg.Node.Reconcile(context.WithoutCancel(ctx)) }()
	t := time.NewTimer(reconcileWait)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			a.log.Warn("topics: reconcile after "+op, "topic", topic, "err", err)
		}
	case <-t.C:
		a.log.Info("topics: answering before every partition is led; the node goes on taking them", "op", op, "topic", topic)
	case <-ctx.Done():
	}
}

// kafkaErr wraps a kerr value with detail while keeping it matchable with errors.Is.
func kafkaErr(ke *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("topics: %s: %w", fmt.Sprintf(format, args...), ke)
}

// isKafkaErr reports whether err carries a Kafka error for the client (one a CAS callback
// returned), rather than a failure of the store.
func isKafkaErr(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke)
}
