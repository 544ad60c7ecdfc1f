package broker

import (
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
)

// partitionLog is the cross-tier log of a partition this node leads: its hot log over the
// catalog's objects. Its high watermark is the line consumers see up to: for strata.durability=object
// the tiered end (in object storage and registered, so no node's death loses it), otherwise the hot
// log's durable offset (fsynced, so no crash loses it). A record is never visible before an
// acks=all produce of it could have been answered.
func (b *Broker) partitionLog(tp metadata.TopicPartition, id metadata.TopicID, log *hotlog.Log, st *topicSettings) (*tier.PartitionLog, error) {
	cfg := tier.PartitionLogConfig{Partition: tp, TopicID: id, Hot: log, Objects: b.cfg.TieredReader,
		Catalog: b.store, ObjectDurability: b.objectDurability(st), Logger: b.log}
	if b.cfg.Tiering != nil {
		cfg.Tiered, _ = b.cfg.Tiering.(tier.TieredView)
	}
	return tier.NewPartitionLog(cfg)
}

// objectDurability reports whether the high watermark is the tiered end: the topic has
// strata.durability=object and a Tiering that reports tiered ends is attached.
func (b *Broker) objectDurability(st *topicSettings) bool {
	if b.cfg.Tiering == nil || st.durability != "object" {
		return false
	}
	_, ok := b.cfg.Tiering.(tier.TieredView)
	return ok
}
