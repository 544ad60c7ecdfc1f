package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"

	"github.com/strata-log/strata/metadata"
)

// The cluster as this node sees it: live leases and nodes, group coordinator placement, producer
// ids. Answers for Metadata, FindCoordinator, DescribeCluster and InitProducerId.

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
