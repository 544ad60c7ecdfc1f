package group

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// OffsetLog keeps the __consumer_offsets changelog: for every partition of that topic this node
// leads, it appends a record for each committed offset of the groups that map to the partition
// (topics.OffsetsPartition), in Apache Kafka's format (key: OffsetCommitKey v1 of group, topic
// and partition; value: OffsetCommitValue v3, or null when the offset was deleted). The offsets
// themselves live in the metadata service; the topic is a copy that follows it, for tools that
// read __consumer_offsets.
//
// It follows the offsets with WatchOffsets and rereads each changed group. A partition it starts
// leading (a takeover, a restart) first gets every current offset of its groups again, so the
// changelog is complete from the latest of those records on; a reader keeps the last record per
// key (the topic is compacted). Deleted offsets become tombstones when the deletion happens while
// this node leads the partition. Records follow commits within about a second; they are written
// without waiting for durability, since a leader that loses them rewrites them after a restart.
//
// Share groups' start offsets, stored like committed offsets, appear as well. Kafka's group
// metadata records (key versions 2 and up) are not written: group membership is not persisted.
type OffsetLog struct {
	cfg     OffsetLogConfig
	log     *slog.Logger
	records prometheus.Counter
	want    chan struct{}
}

// OffsetLogConfig configures an OffsetLog.
type OffsetLogConfig struct {
	// Store holds the committed offsets. Required.
	Store interface {
		metadata.Offsets
		metadata.OffsetsWatcher
	}
	// Topic returns the changelog topic, creating it first when create is set. Required.
	Topic func(ctx context.Context, create bool) (metadata.Topic, error)
	// Led lists the partitions this node leads, with their epochs. Required.
	Led func() map[metadata.TopicPartition]int32
	// Append appends a batch to a partition this node leads. Required.
	Append func(ctx context.Context, tp metadata.TopicPartition, batch []byte) error
	// Poll is how often leadership is checked and failed writes retried (default 1 s).
	Poll       time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// NewOffsetLog validates cfg and returns an OffsetLog; Run starts it.
func NewOffsetLog(cfg OffsetLogConfig) (*OffsetLog, error) {
	if cfg.Store == nil || cfg.Topic == nil || cfg.Led == nil || cfg.Append == nil {
		return nil, fmt.Errorf("%w: OffsetLog needs Store, Topic, Led and Append", ErrConfig)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &OffsetLog{cfg: cfg, log: cfg.Logger, want: make(chan struct{}, 1), records: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_group_offsets_log_records_total",
		Help: "Records this node appended to the __consumer_offsets changelog (tombstones included).",
	})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(l.records); err != nil {
			return nil, fmt.Errorf("group: register metrics: %w", err)
		}
	}
	return l, nil
}

// Want asks for the changelog topic to exist (a client looked for a group coordinator, as Kafka
// creates __consumer_offsets then). It does not block.
func (l *OffsetLog) Want() {
	select {
	case l.want <- struct{}{}:
	default:
	}
}

// offsetLogPartition is what this node wrote to one partition of the changelog in its term.
type offsetLogPartition struct {
	epoch   int32
	written map[string]map[metadata.TopicPartition]metadata.OffsetCommit // by group
}

// Run keeps the changelog until ctx ends.
func (l *OffsetLog) Run(ctx context.Context) {
	var changes <-chan string
	for changes == nil {
		var err error
		if changes, err = l.cfg.Store.WatchOffsets(ctx); err != nil {
			l.log.Warn("group: offsets changelog: watch offsets", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(l.cfg.Poll):
			}
		}
	}
	var (
		topic  metadata.Topic
		create bool // a group exists or a client looked for a coordinator
		parts  = map[int32]*offsetLogPartition{}
		dirty  = map[string]bool{}
		tick   = time.NewTicker(l.cfg.Poll)
	)
	defer tick.Stop()
	if gs, err := l.cfg.Store.ListGroups(ctx); err == nil && len(gs) > 0 {
		create = true
	}
	led := true // leadership is looked at on the first pass and then once per Poll
	for {
		if topic.Partitions == 0 {
			t, err := l.cfg.Topic(ctx, create)
			if err == nil {
				topic, led = t, true
			} else if create {
				l.log.Warn("group: offsets changelog: create topic", "err", err)
			}
		}
		if topic.Partitions > 0 {
			if led {
				l.follow(ctx, topic, parts, dirty)
			}
			l.write(ctx, topic, parts, dirty)
		}
		led = false
		select {
		case <-ctx.Done():
			return
		case g, ok := <-changes:
			if !ok {
				return // the store closed
			}
			dirty[g], create = true, true
		drain: // take what else is queued, to reread each group once
			for {
				select {
				case g, ok := <-changes:
					if !ok {
						return
					}
					dirty[g] = true
				default:
					break drain
				}
			}
		case <-l.want:
			create = true
		case <-tick.C:
			led = true
		}
	}
}

// follow updates parts to the changelog partitions this node leads; a partition newly led (or led
// under a new epoch) marks every group dirty, to be written again in the new term.
func (l *OffsetLog) follow(ctx context.Context, topic metadata.Topic, parts map[int32]*offsetLogPartition, dirty map[string]bool) {
	led := map[int32]int32{}
	for tp, epoch := range l.cfg.Led() {
		if tp.Topic == topic.Name {
			led[tp.Partition] = epoch
		}
	}
	fresh := false
	for p, epoch := range led {
		if st := parts[p]; st == nil || st.epoch != epoch {
			parts[p] = &offsetLogPartition{epoch: epoch, written: map[string]map[metadata.TopicPartition]metadata.OffsetCommit{}}
			fresh = true
		}
	}
	for p := range parts {
		if _, ok := led[p]; !ok {
			delete(parts, p)
		}
	}
	if fresh { // a new term writes every group of its partitions again
		gs, err := l.cfg.Store.ListGroups(ctx)
		if err != nil {
			l.log.Warn("group: offsets changelog: list groups", "err", err)
			for p := range parts {
				if len(parts[p].written) == 0 {
					delete(parts, p) // fresh again at the next look
				}
			}
		}
		for _, g := range gs {
			dirty[g] = true
		}
	}
}

// write appends the records of dirty groups that map to partitions this node leads; groups whose
// write failed stay dirty, the others are done (another node writes the rest).
func (l *OffsetLog) write(ctx context.Context, topic metadata.Topic, parts map[int32]*offsetLogPartition, dirty map[string]bool) {
	for g := range dirty {
		tp := metadata.TopicPartition{Topic: topic.Name, Partition: topics.OffsetsPartition(g, topic.Partitions)}
		st := parts[tp.Partition]
		if st == nil {
			delete(dirty, g) // another node leads its partition
			continue
		}
		if err := l.writeGroup(ctx, tp, g, st); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("group: offsets changelog: write", "group", g, "partition", tp.Partition, "err", err)
			}
			continue
		}
		delete(dirty, g)
	}
}

// offsetLogBatch bounds the records of one appended batch.
const offsetLogBatch = 500

// writeGroup appends the records that bring group g's entries in partition tp from what st says was
// written to its current offsets.
func (l *OffsetLog) writeGroup(ctx context.Context, tp metadata.TopicPartition, g string, st *offsetLogPartition) error {
	cur, err := l.cfg.Store.FetchOffsets(ctx, g)
	if err != nil {
		return err
	}
	prev := st.written[g]
	now := time.Now().UnixMilli()
	var recs []segment.Record
	for otp, oc := range cur {
		if old, ok := prev[otp]; !ok || !old.Equal(oc) {
			recs = append(recs, offsetRecord(now, g, otp, &oc))
		}
	}
	for otp := range prev {
		if _, ok := cur[otp]; !ok {
			recs = append(recs, offsetRecord(now, g, otp, nil))
		}
	}
	for len(recs) > 0 {
		n := min(len(recs), offsetLogBatch)
		batch := segment.AppendBatch(nil, segment.NewBatch{FirstTimestamp: now, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs[:n]})
		if err := l.cfg.Append(ctx, tp, batch); err != nil {
			// Part may be written: the whole group is written again, which a reader of the
			// latest record per key does not notice.
			delete(st.written, g)
			return err
		}
		l.records.Add(float64(n))
		recs = recs[n:]
	}
	if len(cur) == 0 {
		delete(st.written, g)
	} else {
		st.written[g] = cur
	}
	return nil
}

// offsetRecord is the changelog record of one committed offset (oc nil: its tombstone).
func offsetRecord(ts int64, group string, tp metadata.TopicPartition, oc *metadata.OffsetCommit) segment.Record {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	r := segment.Record{Timestamp: ts, Key: k.AppendTo(nil)}
	if oc != nil {
		v := kmsg.OffsetCommitValue{Version: 3, Offset: oc.Offset, LeaderEpoch: oc.LeaderEpoch, Metadata: oc.Metadata, CommitTimestamp: oc.CommittedAt.UnixMilli()}
		r.Value = v.AppendTo(nil)
	}
	return r
}
