package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// maxTopicNameLen is Kafka's limit (249).
const maxTopicNameLen = 249

// ValidateTopicName applies Kafka's rules: 1–249 characters of [a-zA-Z0-9._-], not "." or "..".
func ValidateTopicName(name string) error {
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

// TopicSpec is a CreateTopics entry.
type TopicSpec struct {
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
func (b *Broker) CreateTopic(ctx context.Context, spec TopicSpec) (metadata.Topic, error) {
	if err := ValidateTopicName(spec.Name); err != nil {
		return metadata.Topic{}, err
	}
	if spec.Partitions == -1 {
		spec.Partitions = b.cfg.Defaults.NumPartitions
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
		if _, err := b.store.GetTopic(ctx, spec.Name); err == nil {
			return metadata.Topic{}, kafkaErr(kerr.TopicAlreadyExists, "topic %q exists", spec.Name)
		}
		return t, nil
	}
	t, err := b.store.CreateTopic(ctx, t)
	switch {
	case errors.Is(err, metadata.ErrExists):
		return metadata.Topic{}, kafkaErr(kerr.TopicAlreadyExists, "topic %q exists", spec.Name)
	case err != nil:
		return metadata.Topic{}, fmt.Errorf("broker: create topic %q: %w", spec.Name, err)
	}
	b.m.topicsCreated.Inc()
	if err := b.reconcile(ctx); err != nil {
		b.log.Warn("broker: reconcile after create", "topic", spec.Name, "err", err)
	}
	return t, nil
}

// AutoCreateEnabled reports auto.create.topics.enable.
func (b *Broker) AutoCreateEnabled() bool { return !b.cfg.Defaults.AutoCreateTopicsDisabled }

// EnsureTopic returns the topic, creating it with the defaults when auto-creation is enabled
// (UNKNOWN_TOPIC_OR_PARTITION otherwise). A concurrent creation elsewhere is not an error.
func (b *Broker) EnsureTopic(ctx context.Context, name string, allowAutoCreate bool) (metadata.Topic, error) {
	t, err := b.Topic(ctx, name)
	if err == nil || !allowAutoCreate || b.cfg.Defaults.AutoCreateTopicsDisabled || Code(err) != kerr.UnknownTopicOrPartition.Code {
		return t, err
	}
	if err := ValidateTopicName(name); err != nil {
		return metadata.Topic{}, err
	}
	t, err = b.CreateTopic(ctx, TopicSpec{Name: name, Partitions: -1, ReplicationFactor: -1})
	if Code(err) == kerr.TopicAlreadyExists.Code {
		return b.Topic(ctx, name)
	}
	return t, err
}

// Topic returns a topic; UNKNOWN_TOPIC_OR_PARTITION when it does not exist.
func (b *Broker) Topic(ctx context.Context, name string) (metadata.Topic, error) {
	t, err := b.store.GetTopic(ctx, name)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return metadata.Topic{}, kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	case err != nil:
		return metadata.Topic{}, fmt.Errorf("broker: get topic %q: %w", name, err)
	}
	return t, nil
}

// Topics lists every topic, ordered by name.
func (b *Broker) Topics(ctx context.Context) ([]metadata.Topic, error) {
	ts, err := b.store.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: list topics: %w", err)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts, nil
}

// DeleteTopic deletes a topic; its partitions stop being served and their local logs go.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	err := b.store.DeleteTopic(ctx, name)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return kafkaErr(kerr.UnknownTopicOrPartition, "unknown topic %q", name)
	case err != nil:
		return fmt.Errorf("broker: delete topic %q: %w", name, err)
	}
	if err := b.reconcile(ctx); err != nil {
		b.log.Warn("broker: reconcile after delete", "topic", name, "err", err)
	}
	return nil
}

// CreatePartitions grows a topic to count partitions.
func (b *Broker) CreatePartitions(ctx context.Context, name string, count int32, validateOnly bool) error {
	check := func(t *metadata.Topic) error {
		if count <= t.Partitions {
			return kafkaErr(kerr.InvalidPartitions, "topic %q has %d partitions; asked for %d", name, t.Partitions, count)
		}
		return nil
	}
	if validateOnly {
		t, err := b.Topic(ctx, name)
		if err != nil {
			return err
		}
		return check(&t)
	}
	_, err := b.store.UpdateTopic(ctx, name, func(t *metadata.Topic) error {
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
		if Code(err) != kerr.UnknownServerError.Code {
			return err
		}
		return fmt.Errorf("broker: create partitions of %q: %w", name, err)
	}
	if err := b.reconcile(ctx); err != nil {
		b.log.Warn("broker: reconcile after create partitions", "topic", name, "err", err)
	}
	return nil
}

// DescribeTopicConfigs lists a topic's configs (names nil: all), defaults included.
func (b *Broker) DescribeTopicConfigs(ctx context.Context, name string, names []string) ([]ConfigEntry, error) {
	t, err := b.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	return describeTopic(t, b.cfg.Defaults, names), nil
}

// DescribeBrokerConfigs lists the broker-level defaults of this node (static, read-only).
func (b *Broker) DescribeBrokerConfigs(names []string) []ConfigEntry {
	return describeBroker(b.cfg.NodeID, b.cfg.Defaults, names)
}

// SetTopicConfigs replaces a topic's explicit configs (AlterConfigs semantics: unnamed configs
// revert to their defaults).
func (b *Broker) SetTopicConfigs(ctx context.Context, name string, cfgs map[string]string, validateOnly bool) error {
	if err := ValidateConfigs(cfgs); err != nil {
		return err
	}
	return b.updateConfigs(ctx, name, validateOnly, func(m map[string]string) error {
		clear(m)
		maps.Copy(m, cfgs)
		return nil
	})
}

// AlterTopicConfigs applies IncrementalAlterConfigs operations to a topic.
func (b *Broker) AlterTopicConfigs(ctx context.Context, name string, ops []ConfigOp, validateOnly bool) error {
	return b.updateConfigs(ctx, name, validateOnly, func(m map[string]string) error {
		return applyIncremental(m, ops, b.cfg.Defaults)
	})
}

func (b *Broker) updateConfigs(ctx context.Context, name string, validateOnly bool, fn func(map[string]string) error) error {
	if validateOnly {
		t, err := b.Topic(ctx, name)
		if err != nil {
			return err
		}
		m := maps.Clone(t.Configs)
		if m == nil {
			m = map[string]string{}
		}
		return fn(m)
	}
	t, err := b.store.UpdateTopic(ctx, name, func(t *metadata.Topic) error {
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
	case err != nil && Code(err) != kerr.UnknownServerError.Code:
		return err
	case err != nil:
		return fmt.Errorf("broker: update configs of %q: %w", name, err)
	}
	b.mu.RLock()
	var led []*partition
	for tp, p := range b.parts {
		if tp.Topic == name {
			led = append(led, p)
		}
	}
	b.mu.RUnlock()
	for _, p := range led {
		b.applyTopic(p, t)
	}
	return nil
}

// Leaders returns the live lease of every partition that has one.
func (b *Broker) Leaders(ctx context.Context) (map[metadata.TopicPartition]metadata.Lease, error) {
	ls, err := b.store.ListLeases(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: list leases: %w", err)
	}
	out := make(map[metadata.TopicPartition]metadata.Lease, len(ls))
	for _, l := range ls {
		out[l.TopicPartition] = l
	}
	return out, nil
}

// LiveNodes returns the registered live nodes ordered by id (this node included even if its
// registration is momentarily missing).
func (b *Broker) LiveNodes(ctx context.Context) ([]metadata.Node, error) {
	ns, err := b.store.ListNodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: list nodes: %w", err)
	}
	b.mu.RLock()
	self := metadata.Node{ID: b.cfg.NodeID, KafkaAddr: b.cfg.KafkaAddr, HTTPAddr: b.cfg.HTTPAddr, Rack: b.cfg.Rack}
	b.mu.RUnlock()
	found := false
	for _, n := range ns {
		found = found || n.ID == self.ID
	}
	if !found {
		ns = append(ns, self)
	}
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
	b.mu.Lock()
	b.nodes = slices.Clone(ns) // the caller owns ns
	b.mu.Unlock()
	return ns, nil
}

// CoordinatorOf picks a group's coordinator among nodes (non-empty) by rendezvous hash: every node
// computes the same answer from the same list, groups spread evenly, and a node's departure moves
// only the groups it coordinated.
func CoordinatorOf(key string, nodes []metadata.Node) metadata.Node {
	best, bestScore := 0, uint64(0)
	for i, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(key))
		var buf [4]byte
		binary.BigEndian.PutUint32(buf[:], uint32(n.ID))
		h.Write(buf[:])
		if s := mix64(h.Sum64()); i == 0 || s > bestScore || (s == bestScore && n.ID < nodes[best].ID) {
			best, bestScore = i, s
		}
	}
	return nodes[best]
}

// CoordinatorFor returns the live node that coordinates a consumer group: the group hashed over
// live nodes ordered by id. A single node coordinates everything.
func (b *Broker) CoordinatorFor(ctx context.Context, group string) (metadata.Node, error) {
	ns, err := b.LiveNodes(ctx)
	if err != nil {
		return metadata.Node{}, err
	}
	return CoordinatorOf(group, ns), nil
}

// IsCoordinator reports, from the last known live-node list, whether this node coordinates group.
// It suits group.Config.IsCoordinator.
func (b *Broker) IsCoordinator(group string) bool {
	b.mu.RLock()
	ns := b.nodes
	b.mu.RUnlock()
	if len(ns) == 0 {
		return true
	}
	return CoordinatorOf(group, ns).ID == b.cfg.NodeID
}

// InitProducerID allocates a fresh idempotent producer id with epoch 0.
func (b *Broker) InitProducerID(ctx context.Context) (int64, int16, error) {
	id, err := b.store.AllocateProducerIDs(ctx, 1)
	if err != nil {
		return -1, -1, fmt.Errorf("broker: allocate producer id: %w", err)
	}
	return id, 0, nil
}
