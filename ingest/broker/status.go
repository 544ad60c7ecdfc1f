package broker

import (
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// TierStatus is a led partition's place across the tiers, as last seen (no I/O): for views such as
// the console's, which draw where a partition's data lives.
type TierStatus struct {
	Epoch   int32        // the lease epoch this node serves the partition under
	Offsets tier.Offsets // log start, local start, high watermark, log end
	// HotBytes and HotSegments are the hot log's files on this node's disk.
	HotBytes    int64
	HotSegments int
}

// TierStatus returns tp's TierStatus, and false when this node does not lead tp.
func (b *Broker) TierStatus(tp metadata.TopicPartition) (TierStatus, bool) {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil || !p.leading() {
		return TierStatus{}, false
	}
	st := TierStatus{Epoch: p.currentLease().Epoch, Offsets: p.plog.Offsets()}
	for _, s := range p.log.Segments() {
		st.HotBytes += s.Size
		st.HotSegments++
	}
	return st, true
}
