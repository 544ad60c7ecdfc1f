// Package topics administers topics and their configs for the Kafka listener and the HTTP API:
// names (Kafka's rules; names starting with "__" are reserved for internal topics and never
// created, explicitly or by auto-creation), creation (explicit and auto-creation with the node's defaults), deletion,
// growing the partition count, and the Kafka-style topic configs — which names exist, their types,
// defaults and value rules (INVALID_CONFIG for an unknown name or a bad value), AlterConfigs and
// IncrementalAlterConfigs semantics, and DescribeConfigs answers. Topics live in the metadata
// store; this package keeps no state of its own.
//
// Strata stores every accepted config and acts on segment.bytes, segment.ms, max.message.bytes,
// message.timestamp.*, strata.durability and strata.flush.ms in the broker (ingest/broker), and on
// retention.*, local.retention.*, remote.storage.enable and cleanup.policy in the tiering engine
// (tier.PolicyFromConfigs: cleanup.policy=compact alone keeps every record, as there is no key
// compaction yet). strata.durability is `local` (acks=all waits for the local fsync) or `object`
// (acks=all waits until the batch's segment is in object storage and registered).
// strata.cold.format (`segment` or `parquet`) and strata.value.format (`bytes`, `json` or
// `json-columns`) are acted on by compaction, which converts a `parquet` topic's tiered segments
// to Parquet objects (tier/columnar) with JSON columns under `json` and `json-columns`.
//
// After a change the local node is told (Config.Node, the broker): a created, deleted or grown
// topic makes it reconcile leadership before the request is answered, so a new topic's partitions
// this node should lead are served at once; changed configs reach the partitions it leads. Other
// nodes see the change through the metadata store at their next reconcile.
//
// Errors meant for a Kafka client wrap kerr values (errors.Is(err, kerr.TopicAlreadyExists)).
package topics
