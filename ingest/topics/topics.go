package topics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// maxTopicNameLen is Kafka's limit (249).
const maxTopicNameLen = 249

// ValidateName applies Kafka's rules: 1–249 characters of [a-zA-Z0-9._-], not "." or "..".
func ValidateName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLen {
		return kafkaErr(kerr.InvalidTopicException, "invalid topic name %q", name)
	}
	for _, c := range []byte(name) {
		ok := c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return kafkaErr(kerr.InvalidTopicException, "invalid character %q in topic name %q", c, name)
		}
	}
	return nil
}

// internalPrefix starts the names Kafka gives its internal topics (__consumer_offsets,
// __transaction_state, __cluster_metadata, __share_group_state).
const internalPrefix = "__"

// ValidateNewName is ValidateName for a topic about to be created: names starting with "__" are
// reserved for internal topics and answer INVALID_TOPIC_EXCEPTION. Strata keeps group offsets and
// transaction state in the metadata store; its one internal topic, OffsetsTopic, is a changelog
// of the offsets that Strata creates itself, and a client asking for __consumer_offsets must not
// get an ordinary topic by that name. (Apache Kafka refuses to create
// __cluster_metadata and auto-creates only its own internal topics, with their internal configs,
// under these names; Strata reserves the whole prefix so a future internal topic cannot collide.)
func ValidateNewName(name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, internalPrefix) {
		return kafkaErr(kerr.InvalidTopicException, "topic name %q is reserved: names starting with %q are for internal topics", name, internalPrefix)
	}
	return nil
}

// Spec is a CreateTopics entry.
type Spec struct {
	Name string
	// Partitions: -1 means the broker default.
	Partitions int32
	// ReplicationFactor: -1 or ≥ 1. Strata keeps one copy on the leader's disk plus object storage,
	// so the value is accepted and not used.
	ReplicationFactor int16
	Configs           map[string]string
	ValidateOnly      bool
}

// CreateTopic validates spec and creates the topic; the partitions this node should lead are taken
// before it returns.
func (a *Admin) CreateTopic(ctx context.Context, spec Spec) (metadata.Topic, error) {
	if err := ValidateNewName(spec.Name); err != nil {
		return metadata.Topic{}, err
	}
	return a.create(ctx, spec)
}

// create is CreateTopic for a name already checked (or an internal topic's).
func (a *Admin) create(ctx context.Context, spec Spec) (metadata.Topic, error) {
	if spec.Partitions == -1 {
		spec.Partitions = a.cfg.Defaults.NumPartitions
	}
	if spec.Partitions <= 0 {
		return metadata.Topic{}, kafkaErr(kerr.InvalidPartitions, "topic %q: %d partitions", spec.Name, spec.Partitions)
	}
	if spec.ReplicationFactor == 0 || spec.ReplicationFactor < -1 {
		return metadata.Topic{}, kafkaErr(kerr.InvalidReplicationFactor, "topic %q: replication factor %d", spec.Name, spec.ReplicationFactor)
	}
	if err := ValidateConfigs(spec.Configs); err != nil {
		return metadata.Topic{}, err
	}
	t := metadata.Topic{Name: spec.Name, Partitions: spec.Partitions, Configs: maps.Clone(spec.Configs), CreatedAt: time.Now()}
	if t.Configs == nil {
		t.Configs = map[string]string{}
	}
	if spec.ValidateOnly {
		if _, err := a.cfg.Store.GetTopic(ctx, spec.Name); err == nil {
			return metadata.Topic{}, kafkaErr(kerr.TopicAlreadyExists, "topic %q exists", spec.Name)
		}
		return t, nil
	}
	t, err := a.cfg.Store.CreateTopic(ctx, t)
	switch {
	case errors.Is(err, metadata.ErrExists):
		return metadata.Topic{}, kafkaErr(kerr.TopicAlreadyExists, "topic %q exists", spec.Name)
	case err != nil:
		return metadata.Topic{}, fmt.Errorf("topics: create topic %q: %w", spec.Name, err)
	}
	a.created.Inc()
	a.reconcile(ctx, "create", spec.Name)
	return t, nil
}

// AutoCreateEnabled reports auto.create.topics.enable.
func (a *Admin) AutoCreateEnabled() bool { return !a.cfg.Defaults.AutoCreateTopicsDisabled }

// EnsureTopic returns the topic, creating it with the defaults when auto-creation is enabled
// (UNKNOWN_TOPIC_OR_PARTITION otherwise). A concurrent creation elsewhere is not an error.
func (a *Admin) EnsureTopic(ctx context.Context, name string, allowAutoCreate bool) (metadata.Topic, error) {
	t, err := a.Topic(ctx, name)
	if err == nil || !allowAutoCreate || a.cfg.Defaults.AutoCreateTopicsDisabled || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return t, err
	}
	if err := ValidateNewName(name); err != nil {
		return metadata.Topic{}, err
	}
	return a.createOrGet(ctx, Spec{Name: name, Partitions: -1, ReplicationFactor: -1})
}

// createOrGet creates the topic spec describes (its name already checked), or returns it when a
// concurrent creation elsewhere came first.
func (a *Admin) createOrGet(ctx context.Context, spec Spec) (metadata.Topic, error) {
	t, err := a.create(ctx, spec)
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return a.Topic(ctx, spec.Name)
	}
	return t, err
}

// Topic returns a topic; UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
func (a *Admin) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	t, err := a.cfg.Store.GetTopic(ctx, name)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return metadata.Topic{}, kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	case err != nil:
		return metadata.Topic{}, fmt.Errorf("topics: get topic %q: %w", name, err)
	}
	return t, nil
}

// Topics lists every topic, ordered by name.
func (a *Admin) Topics(ctx context.Context) ([]metadata.Topic, error) {
	ts, err := a.cfg.Store.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("topics: list topics: %w", err)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts, nil
}

// DeleteTopic deletes a topic; its partitions stop being served and their local logs go.
func (a *Admin) DeleteTopic(ctx context.Context, name string) error {
	if IsInternal(name) {
		return kafkaErr(kerr.InvalidTopicException, "internal topic %q cannot be deleted", name)
	}
	err := a.cfg.Store.DeleteTopic(ctx, name)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	case err != nil:
		return fmt.Errorf("topics: delete topic %q: %w", name, err)
	}
	a.reconcile(ctx, "delete", name)
	return nil
}

// CreatePartitions grows a topic to count partitions.
func (a *Admin) CreatePartitions(ctx context.Context, name string, count int32, validateOnly bool) error {
	if IsInternal(name) {
		// A group's partition of OffsetsTopic follows from the partition count.
		return kafkaErr(kerr.InvalidTopicException, "internal topic %q cannot grow", name)
	}
	check := func(t *metadata.Topic) error {
		switch {
		case count == t.Partitions:
			return kafkaErr(kerr.InvalidPartitions, "topic %q already has %d partitions", name, count)
		case count < t.Partitions:
			return kafkaErr(kerr.InvalidPartitions, "topic %q has %d partitions and cannot shrink to %d: partitions can be added, not removed", name, t.Partitions, count)
		}
		return nil
	}
	if validateOnly {
		t, err := a.Topic(ctx, name)
		if err != nil {
			return err
		}
		return check(&t)
	}
	_, err := a.cfg.Store.UpdateTopic(ctx, name, func(t *metadata.Topic) error {
		if err := check(t); err != nil {
			return err
		}
		t.Partitions = count
		return nil
	})
	if errors.Is(err, metadata.ErrNotFound) {
		return kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	}
	if err != nil {
		if isKafkaErr(err) {
			return err
		}
		return fmt.Errorf("topics: create partitions of %q: %w", name, err)
	}
	a.reconcile(ctx, "create partitions", name)
	return nil
}

// DescribeTopicConfigs lists a topic's configs (names nil: all), defaults included.
func (a *Admin) DescribeTopicConfigs(ctx context.Context, name string, names []string) ([]ConfigEntry, error) {
	t, err := a.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	return describeTopic(t, a.cfg.Defaults, names), nil
}

// DescribeBrokerConfigs lists the broker-level defaults of this node (static, read-only).
func (a *Admin) DescribeBrokerConfigs(names []string) []ConfigEntry {
	return describeBroker(a.cfg.NodeID, a.cfg.Defaults, names)
}

// SetTopicConfigs replaces a topic's explicit configs (AlterConfigs semantics: unnamed configs
// revert to their defaults).
func (a *Admin) SetTopicConfigs(ctx context.Context, name string, cfgs map[string]string, validateOnly bool) error {
	if err := ValidateConfigs(cfgs); err != nil {
		return err
	}
	return a.updateConfigs(ctx, name, validateOnly, func(m map[string]string) error {
		clear(m)
		maps.Copy(m, cfgs)
		return nil
	})
}

// AlterTopicConfigs applies IncrementalAlterConfigs operations to a topic.
func (a *Admin) AlterTopicConfigs(ctx context.Context, name string, ops []ConfigOp, validateOnly bool) error {
	return a.updateConfigs(ctx, name, validateOnly, func(m map[string]string) error {
		return applyIncremental(m, ops, a.cfg.Defaults)
	})
}

func (a *Admin) updateConfigs(ctx context.Context, name string, validateOnly bool, fn func(map[string]string) error) error {
	if validateOnly {
		t, err := a.Topic(ctx, name)
		if err != nil {
			return err
		}
		m := maps.Clone(t.Configs)
		if m == nil {
			m = map[string]string{}
		}
		return fn(m)
	}
	t, err := a.cfg.Store.UpdateTopic(ctx, name, func(t *metadata.Topic) error {
		m := maps.Clone(t.Configs)
		if m == nil {
			m = map[string]string{}
		}
		if err := fn(m); err != nil {
			return err
		}
		t.Configs = m
		return nil
	})
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	case isKafkaErr(err):
		return err
	case err != nil:
		return fmt.Errorf("topics: update configs of %q: %w", name, err)
	}
	a.cfg.Node.ApplyTopic(t)
	return nil
}
