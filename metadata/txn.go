package metadata

import (
	"fmt"
	"slices"
	"time"
)

// TxnState is where a transaction stands in the coordinator's state machine (Apache Kafka's
// TransactionState, minus Dead and PrepareEpochFence):
//
//	Empty ──AddPartitions/AddOffsets──▶ Ongoing ──EndTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
//	  ▲                                   │  ▲                PrepareAbort  ──markers──▶ CompleteAbort
//	  │                                   │  └─────────── (from Complete*: the next transaction)
//	  └── InitProducerId (epoch bump) ────┘  timeout, or InitProducerId: abort
type TxnState int8

// The transaction states. The zero value is Empty.
const (
	TxnEmpty TxnState = iota
	TxnOngoing
	TxnPrepareCommit
	TxnPrepareAbort
	TxnCompleteCommit
	TxnCompleteAbort
)

var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort"}

// String is the state's name as Kafka's DescribeTransactions and ListTransactions spell it.
func (s TxnState) String() string {
	if s < 0 || int(s) >= len(txnStateNames) {
		return fmt.Sprintf("TxnState(%d)", int8(s))
	}
	return txnStateNames[s]
}

// Preparing reports whether the transaction's outcome is decided but its markers are not all
// written yet.
func (s TxnState) Preparing() bool { return s == TxnPrepareCommit || s == TxnPrepareAbort }

// TxnOffset is one offset a transaction commits for a consumer group (TxnOffsetCommit), applied to
// the group's committed offsets only when the transaction commits.
type TxnOffset struct {
	Group string
	TopicPartition
	OffsetCommit
}

// Transaction is a transactional id's coordinator state. It lives in the metadata service so that
// any node can take over as the id's coordinator.
type Transaction struct {
	ID            string // the transactional.id
	ProducerID    int64
	ProducerEpoch int16
	TimeoutMs     int32
	State         TxnState
	// Partitions are the partitions added to the ongoing (or preparing) transaction, sorted.
	Partitions []TopicPartition
	// Groups are the consumer groups added with AddOffsetsToTxn, sorted; Offsets what
	// TxnOffsetCommit staged for them.
	Groups  []string
	Offsets []TxnOffset
	// Sequence counts the transactions this id started (Empty/Complete* → Ongoing).
	Sequence int64
	// Version is the transaction.version the transaction runs under: 2 when its producer uses
	// KIP-890 part 2 (EndTxn v5 bumps the epoch; Produce v12 and TxnOffsetCommit v5 add
	// partitions and groups implicitly), 0 otherwise.
	Version int8
	// PrevProducerID and PrevProducerEpoch are the producer id and epoch of the last EndTxn under
	// version 2, which moved the producer to ProducerID and ProducerEpoch: a retry of that EndTxn
	// is recognised by them. PrevProducerID is -1 once a transaction begins after it.
	PrevProducerID    int64
	PrevProducerEpoch int16
	// NextProducerID is the producer id the producer moves to, at epoch 0, when a transaction
	// ended under version 2 with its epoch exhausted completes: it is preparing at epoch
	// math.MaxInt16 (its markers' epoch) and the producer already holds NextProducerID.
	NextProducerID int64
	StartedAt      time.Time // when the current transaction began (Ongoing); zero otherwise
	UpdatedAt      time.Time
}

// Clone returns a deep copy of t.
func (t Transaction) Clone() Transaction {
	t.Partitions = slices.Clone(t.Partitions)
	t.Groups = slices.Clone(t.Groups)
	t.Offsets = slices.Clone(t.Offsets)
	return t
}

// HasPartition reports whether tp was added to the transaction.
func (t Transaction) HasPartition(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(t.Partitions, tp, func(a, b TopicPartition) int { return a.Compare(b) })
	return ok
}

// AddPartition adds tp, keeping Partitions sorted.
func (t *Transaction) AddPartition(tp TopicPartition) {
	i, ok := slices.BinarySearchFunc(t.Partitions, tp, func(a, b TopicPartition) int { return a.Compare(b) })
	if !ok {
		t.Partitions = slices.Insert(t.Partitions, i, tp)
	}
}

// HasGroup reports whether group was added with AddOffsetsToTxn.
func (t Transaction) HasGroup(group string) bool {
	_, ok := slices.BinarySearch(t.Groups, group)
	return ok
}

// AddGroup adds group, keeping Groups sorted.
func (t *Transaction) AddGroup(group string) {
	i, ok := slices.BinarySearch(t.Groups, group)
	if !ok {
		t.Groups = slices.Insert(t.Groups, i, group)
	}
}

// StageOffset records an offset for group, replacing an earlier one for the same partition.
func (t *Transaction) StageOffset(o TxnOffset) {
	for i := range t.Offsets {
		if t.Offsets[i].Group == o.Group && t.Offsets[i].TopicPartition == o.TopicPartition {
			t.Offsets[i] = o
			return
		}
	}
	t.Offsets = append(t.Offsets, o)
}
