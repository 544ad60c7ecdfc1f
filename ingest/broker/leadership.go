package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// logName is the hot-log directory name of a partition.
func logName(id metadata.TopicID, partition int32) string {
	return id.String() + "-" + strconv.Itoa(int(partition))
}

// parseLogName splits a hot-log name into topic id and partition.
func parseLogName(name string) (metadata.TopicID, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return metadata.TopicID{}, 0, false
	}
	id, err := metadata.ParseTopicID(name[:i])
	if err != nil {
		return metadata.TopicID{}, 0, false
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil {
		return metadata.TopicID{}, 0, false
	}
	return id, int32(n), true
}

// rendezvous picks the node that should lead tp among live nodes (highest random weight). All nodes
// compute the same answer from the same node list.
func rendezvous(tp metadata.TopicPartition, nodes []metadata.Node) int32 {
	best, bestScore := int32(-1), uint64(0)
	for _, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(tp.Topic))
		var buf [8]byte
		binary.BigEndian.PutUint32(buf[:4], uint32(tp.Partition))
		binary.BigEndian.PutUint32(buf[4:], uint32(n.ID))
		h.Write(buf[:])
		s := mix64(h.Sum64())
		if best < 0 || s > bestScore || (s == bestScore && n.ID < best) {
			best, bestScore = n.ID, s
		}
	}
	return best
}

// mix64 is a 64-bit finalizer (splitmix64) so that near-identical inputs spread well.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// reconcile brings the set of led partitions in line with the metadata store. See the package doc.
func (b *Broker) reconcile(ctx context.Context) error {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()

	listed := time.Now()
	topics, err := b.store.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("broker: list topics: %w", err)
	}
	nodes, err := b.store.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("broker: list nodes: %w", err)
	}
	leases, err := b.store.ListLeases(ctx)
	if err != nil {
		return fmt.Errorf("broker: list leases: %w", err)
	}
	nodes = withSelf(nodes, b.cfg.NodeID)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	byName := make(map[string]metadata.Topic, len(topics))
	for _, t := range topics {
		byName[t.Name] = t
	}
	held := make(map[metadata.TopicPartition]metadata.Lease, len(leases))
	for _, l := range leases {
		held[l.TopicPartition] = l
	}
	now := time.Now()

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.nodes = nodes
	seen := make(map[int32]time.Time, len(nodes))
	for _, n := range nodes {
		if t, ok := b.seen[n.ID]; ok {
			seen[n.ID] = t
		} else {
			seen[n.ID] = now
		}
	}
	b.seen = seen
	parts := make([]*partition, 0, len(b.parts))
	for _, p := range b.parts {
		parts = append(parts, p)
	}
	b.mu.Unlock()

	// Drop what is gone or lost; apply config changes; hand off what the placement gives another
	// node that has settled in.
	var moves []*partition
	missing := 0
	var wake time.Duration // until a newcomer the placement prefers may take partitions
	for _, p := range parts {
		t, ok := byName[p.tp.Topic]
		if !ok || t.ID != p.topicID || p.tp.Partition >= t.Partitions {
			b.dropPartition(ctx, p, true)
			continue
		}
		if l, ok := held[p.tp]; ok && (l.Node != b.cfg.NodeID || l.Epoch != p.currentLease().Epoch) {
			// The store names another holder or a newer term: another node took the partition
			// (which it can only do after this node's registration lapsed, which the heartbeat
			// is about to notice). A record missing from the list proves nothing: the heartbeat
			// alone judges whether this node's registration, and with it its leases, lives.
			b.log.Warn("broker: lost partition lease; stepping down", "partition", p.tp, "epoch", p.currentLease().Epoch,
				"holder", l.Node, "holder_epoch", l.Epoch)
			b.m.leadershipChanges.WithLabelValues("lost").Inc()
			b.dropPartition(ctx, p, false)
			continue
		} else if !ok {
			missing++
		}
		b.applyTopic(p, t)
		if p.leading() {
			// No catalog read here: only the leader moves the log start, through its PartitionLog,
			// which keeps its view of the catalog's start itself.
			p.expireProducers(now.Add(-b.cfg.ProducerIDExpiration).UnixMilli())
		}
		if want := rendezvous(p.tp, nodes); want != b.cfg.NodeID {
			switch d, ok := b.movable(want, seen, now); {
			case !ok:
			case d == 0:
				if b.aliveNow() {
					moves = append(moves, p)
				}
			case wake == 0 || d < wake:
				wake = d
			}
		}
	}
	b.handOffSome(moves, nodes)
	if wake > 0 {
		b.triggerAfter(wake + 10*time.Millisecond) // the join's reconcile came too early to move them
	}
	if missing > 0 {
		b.log.Info("broker: led partitions missing from the live leases listed", "missing", missing, "led", len(parts), "leases", len(leases),
			"nodes", len(nodes), "alive_for", time.Until(time.Unix(0, b.alive.Load())))
	}

	// Take free partitions the placement gives us, and any whose lease record still names us (a
	// restart, or a lapsed registration: a new term either way): many at once, since each take
	// waits on the metadata store and on fsyncs (a new topic's partitions, or a dead node's, arrive
	// together). Nothing is taken while the registration is not surely live.
	if !b.aliveNow() {
		return nil
	}
	var todo []partitionOf
	for _, t := range topics {
		for i := int32(0); i < t.Partitions; i++ {
			tp := metadata.TopicPartition{Topic: t.Name, Partition: i}
			b.mu.RLock()
			_, leading := b.parts[tp]
			b.mu.RUnlock()
			if leading {
				continue
			}
			if l, ok := held[tp]; ok && (l.Node != b.cfg.NodeID || b.releasedSince(tp, listed)) {
				continue
			} else if !ok && rendezvous(tp, nodes) != b.cfg.NodeID {
				continue
			}
			todo = append(todo, partitionOf{t, i})
		}
	}
	if err := b.takeAll(ctx, todo); err != nil {
		return err
	}

	b.discardStaleLogs(topics, held)
	return nil
}

// takeParallelism bounds the partitions one reconcile takes at once.
const takeParallelism = 64

// partitionOf names one partition of a topic as last listed.
type partitionOf struct {
	topic metadata.Topic
	index int32
}

// takeAll takes the partitions, takeParallelism at a time, and waits for every take it started.
// A partition another node took first is skipped quietly; other failures are logged and left to
// the next reconcile.
func (b *Broker) takeAll(ctx context.Context, todo []partitionOf) error {
	sem := make(chan struct{}, takeParallelism)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, p := range todo {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case sem <- struct{}{}:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.takePartition(ctx, p.topic, p.index); err != nil && !errors.Is(err, metadata.ErrConflict) {
				b.log.Warn("broker: take partition", "partition", metadata.TopicPartition{Topic: p.topic.Name, Partition: p.index}, "err", err)
			}
		}()
	}
	return nil
}

func withSelf(nodes []metadata.Node, self int32) []metadata.Node {
	for _, n := range nodes {
		if n.ID == self {
			return nodes
		}
	}
	return append(nodes, metadata.Node{ID: self})
}

// Leads reports whether this node currently serves tp.
func (b *Broker) Leads(tp metadata.TopicPartition) bool {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	return p != nil && p.leading()
}

// LedPartitions returns the partitions this node serves with their lease epochs.
func (b *Broker) LedPartitions() map[metadata.TopicPartition]int32 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[metadata.TopicPartition]int32, len(b.parts))
	for tp, p := range b.parts {
		if p.leading() {
			out[tp] = p.currentLease().Epoch
		}
	}
	return out
}

// TopicIDOf is the ID of the topic of tp as this node leads it; ok is false when it does not
// lead tp.
func (b *Broker) TopicIDOf(tp metadata.TopicPartition) (id metadata.TopicID, ok bool) {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil || !p.leading() {
		return id, false
	}
	return p.topicID, true
}

// Epoch returns the leader epoch under which this node serves tp, or -1 when it does not.
func (b *Broker) Epoch(tp metadata.TopicPartition) int32 {
	b.mu.RLock()
	p := b.parts[tp]
	b.mu.RUnlock()
	if p == nil || !p.leading() {
		return -1
	}
	return p.currentLease().Epoch
}
