package broker

import (
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// tieredView is the part of the tiering engine that bounds what consumers of a
// strata.durability=object partition may see: tier.Uploader.
type tieredView interface {
	// TieredEnd is one past the last offset registered in the catalog (-1: not known yet).
	TieredEnd(tp metadata.TopicPartition) int64
	// TieredChanged is closed when TieredEnd next moves (nil: never).
	TieredChanged(tp metadata.TopicPartition) <-chan struct{}
}

var _ tieredView = (*tier.Uploader)(nil)

// objectView returns the tiering engine's view when p's high watermark is its tiered end: the topic
// has strata.durability=object and a Tiering that reports tiered ends is attached.
func (b *Broker) objectView(p *partition) (tieredView, bool) {
	if b.cfg.Tiering == nil || p.cfg.Load().durability != "object" {
		return nil, false
	}
	tv, ok := b.cfg.Tiering.(tieredView)
	return tv, ok
}

// highWatermark is the first offset consumers may not see yet, given the hot log's end: for
// strata.durability=object the tiered end (in object storage and registered, so no node's death
// loses it), otherwise the hot log's durable offset (fsynced, so no crash loses it). A record is
// never visible before an acks=all produce of it could have been answered.
func (b *Broker) highWatermark(p *partition, end int64) int64 {
	if tv, ok := b.objectView(p); ok {
		te := tv.TieredEnd(p.tp)
		if te < 0 { // the catalog was not read yet: nothing is known to be tiered
			return min(b.logStart(p), end)
		}
		return min(te, end)
	}
	return min(p.log.DurableOffset(), end)
}

// visibleChanged is closed when p's high watermark may have moved.
func (b *Broker) visibleChanged(p *partition) <-chan struct{} {
	if tv, ok := b.objectView(p); ok {
		return tv.TieredChanged(p.tp)
	}
	return p.log.DurableChanged()
}
