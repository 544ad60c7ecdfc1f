package natsmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Transactions live in their own bucket, one key per transactional id (nameKey), a JSON value
// written under compare-and-swap.

type txnOffsetJSON struct {
	Group       string `json:"group"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	CommittedAt int64  `json:"committed_at_ms"`
}

type txnPartitionJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type txnJSON struct {
	V          int                `json:"v"`
	ID         string             `json:"id"`
	ProducerID int64              `json:"producer_id"`
	Epoch      int16              `json:"producer_epoch"`
	TimeoutMs  int32              `json:"timeout_ms"`
	State      int8               `json:"state"`
	Partitions []txnPartitionJSON `json:"partitions,omitempty"`
	Groups     []string           `json:"groups,omitempty"`
	Offsets    []txnOffsetJSON    `json:"offsets,omitempty"`
	Sequence   int64              `json:"sequence"`
	Version    int8               `json:"version,omitempty"`
	PrevID     int64              `json:"prev_producer_id,omitempty"`
	PrevEpoch  int16              `json:"prev_producer_epoch,omitempty"`
	NextID     int64              `json:"next_producer_id,omitempty"`
	StartedAt  int64              `json:"started_at_ms,omitempty"`
	UpdatedAt  int64              `json:"updated_at_ms"`
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func encodeTxn(t metadata.Transaction) []byte {
	j := txnJSON{V: jsonVersion, ID: t.ID, ProducerID: t.ProducerID, Epoch: t.ProducerEpoch, TimeoutMs: t.TimeoutMs,
		State: int8(t.State), Groups: t.Groups, Sequence: t.Sequence, Version: t.Version, PrevID: t.PrevProducerID,
		PrevEpoch: t.PrevProducerEpoch, NextID: t.NextProducerID, StartedAt: msOrZero(t.StartedAt), UpdatedAt: msOrZero(t.UpdatedAt)}
	for _, tp := range t.Partitions {
		j.Partitions = append(j.Partitions, txnPartitionJSON{tp.Topic, tp.Partition})
	}
	for _, o := range t.Offsets {
		j.Offsets = append(j.Offsets, txnOffsetJSON{Group: o.Group, Topic: o.Topic, Partition: o.Partition, Offset: o.Offset,
			LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommittedAt: msOrZero(o.CommittedAt)})
	}
	b, _ := json.Marshal(j)
	return b
}

func decodeTxn(b []byte) (metadata.Transaction, error) {
	var j txnJSON
	if err := decodeJSON(b, &j, &j.V); err != nil {
		return metadata.Transaction{}, err
	}
	t := metadata.Transaction{ID: j.ID, ProducerID: j.ProducerID, ProducerEpoch: j.Epoch, TimeoutMs: j.TimeoutMs,
		State: metadata.TxnState(j.State), Groups: j.Groups, Sequence: j.Sequence, Version: j.Version,
		PrevProducerID: j.PrevID, PrevProducerEpoch: j.PrevEpoch, NextProducerID: j.NextID,
		StartedAt: timeOrZero(j.StartedAt), UpdatedAt: timeOrZero(j.UpdatedAt)}
	if t.State < metadata.TxnEmpty || t.State > metadata.TxnCompleteAbort {
		return metadata.Transaction{}, fmt.Errorf("%w: transaction %q: state %d", ErrCorrupt, j.ID, j.State)
	}
	for _, p := range j.Partitions {
		t.Partitions = append(t.Partitions, metadata.TopicPartition{Topic: p.Topic, Partition: p.Partition})
	}
	for _, o := range j.Offsets {
		t.Offsets = append(t.Offsets, metadata.TxnOffset{Group: o.Group,
			TopicPartition: metadata.TopicPartition{Topic: o.Topic, Partition: o.Partition},
			OffsetCommit: metadata.OffsetCommit{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata,
				CommittedAt: timeOrZero(o.CommittedAt)}})
	}
	return t, nil
}

// GetTransaction implements metadata.Store.
func (s *Store) GetTransaction(ctx context.Context, id string) (_ metadata.Transaction, err error) {
	defer s.observe("get_transaction", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	if id == "" {
		return metadata.Transaction{}, fmt.Errorf("%w: empty transactional id", metadata.ErrNotFound)
	}
	e, err := s.get(ctx, s.txns, nameKey(id))
	if err != nil {
		return metadata.Transaction{}, err
	}
	if !e.live {
		return metadata.Transaction{}, fmt.Errorf("%w: transaction %q", metadata.ErrNotFound, id)
	}
	return decodeTxn(e.value)
}

// UpdateTransaction implements metadata.Store.
func (s *Store) UpdateTransaction(ctx context.Context, id string, fn func(t *metadata.Transaction, found bool) error) (_ metadata.Transaction, err error) {
	defer s.observe("update_transaction", time.Now(), &err)
	if id == "" {
		return metadata.Transaction{}, fmt.Errorf("metadata: empty transactional id")
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	var out metadata.Transaction
	err = s.update(ctx, s.txns, nameKey(id), putOpts{}, func(cur entry) ([]byte, bool, error) {
		next := metadata.Transaction{ID: id}
		if cur.live {
			old, err := decodeTxn(cur.value)
			if err != nil {
				return nil, false, err
			}
			next = old
		}
		if err := fn(&next, cur.live); err != nil {
			return nil, false, err
		}
		if next.ID != id {
			return nil, false, fmt.Errorf("metadata: UpdateTransaction may not change the id of %q", id)
		}
		out = next.Clone()
		return encodeTxn(next), true, nil
	})
	if err != nil {
		return metadata.Transaction{}, err
	}
	return out, nil
}

// ListTransactions implements metadata.Store.
func (s *Store) ListTransactions(ctx context.Context) (_ []metadata.Transaction, err error) {
	defer s.observe("list_transactions", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.txns)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.Transaction, 0, len(es))
	for _, e := range es {
		t, err := decodeTxn(e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
