package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// Tiering is the part of the tiering engine the broker drives for the partitions it leads:
// tier.Uploader. Track on gaining a partition (and again on a topic config change), Untrack on
// losing it; WaitTiered backs acks=all for strata.durability=object.
type Tiering interface {
	Track(plog *tier.PartitionLog, epoch int32, policy tier.Policy) error
	Untrack(tp metadata.TopicPartition)
	WaitTiered(ctx context.Context, tp metadata.TopicPartition, upTo int64) error
	LatestTiered(tp metadata.TopicPartition) int64
	Expedite(tp metadata.TopicPartition)
	ScheduleDelete(segs []metadata.SegmentRef)
}

var _ Tiering = (*tier.Uploader)(nil)

// Fenced is the tier.Config.OnFenced hook: the catalog rejected a write under this node's epoch,
// so another node leads tp now. The broker stops serving it at once.
func (b *Broker) Fenced(tp metadata.TopicPartition) {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil {
		return
	}
	b.log.Warn("broker: fenced by the catalog; stepping down", "partition", tp)
	b.m.leadershipChanges.WithLabelValues("fenced").Inc()
	b.dropPartition(context.Background(), p, false)
}

// policy is the tiering policy of t: its explicit configs over the broker defaults.
func (b *Broker) policy(t metadata.Topic) tier.Policy {
	base := tier.DefaultPolicy()
	base.RetentionMs, base.RetentionBytes = b.cfg.Defaults.RetentionMs, b.cfg.Defaults.RetentionBytes
	p, err := tier.PolicyFromConfigs(t.Configs, base)
	if err != nil {
		b.log.Warn("broker: topic configs rejected by the tiering policy; using defaults", "topic", t.Name, "err", err)
		return base
	}
	return p
}

// track starts (or updates) tiering of a led partition.
func (b *Broker) track(p *partition, t metadata.Topic) {
	if b.cfg.Tiering == nil {
		return
	}
	if err := b.cfg.Tiering.Track(p.plog, p.currentLease().Epoch, b.policy(t)); err != nil {
		b.log.Warn("broker: start tiering", "partition", p.tp, "err", err)
	}
}

func (b *Broker) untrack(tp metadata.TopicPartition) {
	if b.cfg.Tiering != nil {
		b.cfg.Tiering.Untrack(tp)
	}
}

// waitTiered backs acks=all for object durability (the caller checked that p has it).
func (b *Broker) waitTiered(ctx context.Context, p *partition, upTo int64) error {
	err := b.cfg.Tiering.WaitTiered(ctx, p.tp, upTo)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return kafkaErr(kerr.RequestTimedOut, "%s: waiting for object storage: %v", p.tp, err)
	case errors.Is(err, tier.ErrNotTracked):
		return kafkaErr(kerr.NotLeaderForPartition, "%s: lost leadership before the data was tiered: %v", p.tp, err)
	}
	return err
}

// Expedite asks for the object-durability data that acks on tp wait for to be flushed as soon as
// the roll floor allows instead of at its flush deadline (see tier.Uploader.Expedite). The Kafka
// listener calls it when a connection's pipeline of Produce requests is full of such waits.
func (b *Broker) Expedite(tp metadata.TopicPartition) {
	if b.cfg.Tiering == nil {
		return
	}
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p != nil && p.cfg.Load().durability == "object" {
		b.cfg.Tiering.Expedite(tp)
	}
}
