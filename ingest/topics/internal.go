package topics

import (
	"context"
	"errors"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// OffsetsTopic is the internal topic holding a changelog of committed offsets (ingest/group's
// OffsetLog writes it). Strata keeps committed offsets in its metadata service; the topic mirrors
// them in Apache Kafka's record format for tools that read __consumer_offsets (lag monitors such
// as Burrow), and clients see it as Kafka's internal topic: listed with is_internal set, readable,
// not writable, not deletable. It is created with the first group that commits or looks for its
// coordinator, as Kafka creates it.
const OffsetsTopic = "__consumer_offsets"

// DefaultOffsetsTopicPartitions is offsets.topic.num.partitions, Kafka's default.
const DefaultOffsetsTopicPartitions = 50

// IsInternal reports whether name is a topic Strata maintains itself (OffsetsTopic).
func IsInternal(name string) bool { return name == OffsetsTopic }

// CheckClientWrite refuses a client's write to an internal topic with INVALID_TOPIC_EXCEPTION, as
// Kafka refuses appends to its internal topics from clients.
func CheckClientWrite(name string) error {
	if IsInternal(name) {
		return kafkaErr(kerr.InvalidTopicException, "cannot append to internal topic %q", name)
	}
	return nil
}

// OffsetsPartition is the partition of OffsetsTopic that holds group's records: Kafka's choice, the
// group id's Java String.hashCode made non-negative, modulo the partition count, so a tool that
// looks for a group's partition finds it where it would on Kafka.
func OffsetsPartition(group string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(group)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 { // Kafka's Utils.abs
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// EnsureOffsetsTopic returns OffsetsTopic, creating it first (Defaults.OffsetsTopicPartitions
// partitions, cleanup.policy=compact) when it does not exist. A concurrent creation elsewhere is
// not an error.
func (a *Admin) EnsureOffsetsTopic(ctx context.Context) (metadata.Topic, error) {
	t, err := a.Topic(ctx, OffsetsTopic)
	if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return t, err
	}
	return a.createOrGet(ctx, Spec{
		Name:              OffsetsTopic,
		Partitions:        a.cfg.Defaults.OffsetsTopicPartitions,
		ReplicationFactor: -1,
		Configs:           map[string]string{"cleanup.policy": "compact"},
	})
}
