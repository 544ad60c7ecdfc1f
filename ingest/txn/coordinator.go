// Package txn is Strata's Kafka transaction coordinator: InitProducerId with a transactional id,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, the staging of TxnOffsetCommit, and the timeout
// loop that aborts transactions a producer abandoned.
//
// # State
//
// A transactional id's state (metadata.Transaction: producer id and epoch, state, partitions,
// groups, staged offsets, timeout) lives only in the metadata service, written under
// compare-and-swap, so any node can become an id's coordinator after a failover and pick up a
// transaction where the last one left it. Within one process the calls for one id are serialized
// by a per-id lock; across nodes the compare-and-swap decides.
//
//	EndTxn(commit)   Ongoing ─▶ PrepareCommit ─ markers ─▶ offsets to the group ─▶ CompleteCommit
//	EndTxn(abort)    Ongoing ─▶ PrepareAbort  ─ markers ───────────────────────▶ CompleteAbort
//	InitProducerId   Ongoing ─▶ PrepareAbort at epoch+1 (fences the old producer) ─▶ …, then epoch+1
//	timeout          Ongoing ─▶ PrepareAbort at epoch+1 ─▶ CompleteAbort
//	EndTxnV2         Ongoing ─▶ Prepare* at epoch+1 ─ markers at epoch+1 ─▶ Complete*
//
// EndTxn answers once the outcome is recorded (Prepare*), as Kafka does, after trying to write
// every marker (Markers) within Config.MarkerTimeout; the transaction is Complete only when every
// marker is durable on its partition. A Prepare* state left behind (markers failed, or the
// coordinator died) is completed by the next call for the id or by the loop, on whichever node
// coordinates the id then. Staged offsets become the group's committed offsets only after the
// commit markers are written.
//
// # Concurrency
//
// A Coordinator is safe for concurrent use. Start runs the timeout loop; Close stops it and
// waits. Methods return Kafka errors as *kerr.Error values (wrapped); anything else is a failure
// of the metadata service.
//
// # transaction.version 2 (KIP-890 part 2)
//
// A producer that uses EndTxn v5 (EndTxnV2) gets its epoch bumped each time it ends a
// transaction: the outcome is recorded at epoch+1, the markers carry epoch+1, and EndTxn answers
// the producer id and epoch to use next; at the last epoch the producer moves to a new producer id
// at epoch 0 (the markers carry the old id at epoch math.MaxInt16). A late write or EndTxn of a
// finished transaction is fenced by its epoch. A retry at the previous epoch of an EndTxn that
// took effect succeeds (PrevProducerID/Epoch); an abort with no ongoing transaction succeeds and
// bumps the epoch. Produce v12 and TxnOffsetCommit v5 add partitions and groups implicitly
// (AddImplicitly), without AddPartitionsToTxn or AddOffsetsToTxn. Whether a transaction runs so
// is recorded (metadata.Transaction.Version); a producer on EndTxn v4 or older keeps one epoch
// across transactions, as before.
//
// # Deviations from Apache Kafka
//
//   - Transactional ids never expire (transactional.id.expiration.ms).
//   - Markers carry the transaction's sequence as their coordinator epoch (MarkerEpoch), not a
//     coordinator's: a transaction may be completed by two nodes at once (the id's coordinator
//     moved while one was writing markers), and a partition must not let a late marker of one
//     transaction end the producer's next (ingest/broker txn.go). Under transaction.version 1 the
//     producer's epoch does not tell one transaction from the next; the partition leader verifies
//     every transactional write against this state (KIP-890 part 1).
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// ErrConfig wraps configuration errors from New.
var ErrConfig = errors.New("txn: invalid config")

// Defaults.
const (
	// DefaultMaxTimeout is Kafka's transaction.max.timeout.ms.
	DefaultMaxTimeout = 15 * time.Minute
	// DefaultCheckInterval is how often the loop looks for timed-out transactions (Kafka's
	// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s).
	DefaultCheckInterval = 5 * time.Second
	// DefaultMarkerTimeout bounds EndTxn's wait for its markers.
	DefaultMarkerTimeout = 30 * time.Second
)

// Store is what the coordinator asks of the metadata service. Every metadata.Store is one.
type Store interface {
	metadata.Transactions
	metadata.ProducerIDs
	CommitOffsets(ctx context.Context, group string, offsets map[metadata.TopicPartition]metadata.OffsetCommit) error
	GetTopic(ctx context.Context, name string) (metadata.Topic, error)
}

var _ Store = metadata.Store(nil)

// Markers writes end-transaction markers to partitions, through each partition's leader, and
// returns once every one is durable. It may be called again with the same arguments (a retry).
// coordinatorEpoch is the transaction's MarkerEpoch: a partition appends no marker whose
// coordinator epoch is not newer than its producer's last one, so a late marker of a transaction
// cannot end the producer's next one (clients keep their epoch across transactions).
type Markers interface {
	WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, coordinatorEpoch int32, tps []metadata.TopicPartition) error
}

// MarkerEpoch is the coordinator epoch the markers of t carry: its sequence, which grows with
// each transaction of the id, or 0 (not checked by partitions) once past MaxInt32.
func MarkerEpoch(t metadata.Transaction) int32 {
	if t.Sequence <= 0 || t.Sequence > math.MaxInt32 {
		return 0
	}
	return int32(t.Sequence)
}

// Config configures a Coordinator.
type Config struct {
	Store   Store   // required
	Markers Markers // required
	// IsCoordinator reports whether this node coordinates a transactional id (the timeout loop
	// acts only on those). Nil means always.
	IsCoordinator func(id string) bool
	MaxTimeout    time.Duration // default DefaultMaxTimeout
	CheckInterval time.Duration // default DefaultCheckInterval
	MarkerTimeout time.Duration // default DefaultMarkerTimeout
	// TransactionVersion is the transaction.version the cluster finalizes (ApiVersions): 2 serves
	// KIP-890 part 2 (EndTxn v5, Produce v12, TxnOffsetCommit v5); 0 or 1 only part 1. Default 0.
	TransactionVersion int8
	Logger             *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.IsCoordinator == nil {
		c.IsCoordinator = func(string) bool { return true }
	}
	if c.MaxTimeout == 0 {
		c.MaxTimeout = DefaultMaxTimeout
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.MarkerTimeout == 0 {
		c.MarkerTimeout = DefaultMarkerTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first invalid field. It expects defaults to be applied (New does that).
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.Markers == nil:
		return fmt.Errorf("%w: Markers is required", ErrConfig)
	case c.MaxTimeout < 0 || c.CheckInterval < 0 || c.MarkerTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.TransactionVersion < 0 || c.TransactionVersion > MaxTransactionVersion:
		return fmt.Errorf("%w: TransactionVersion %d outside [0, %d]", ErrConfig, c.TransactionVersion, MaxTransactionVersion)
	}
	return nil
}

// Coordinator is the transaction coordinator of one node.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	locksMu sync.Mutex
	locks   map[string]*idLock

	startOnce, closeOnce sync.Once
	stop                 chan struct{}
	done                 chan struct{}
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// New returns a Coordinator; Start runs its timeout loop.
func New(cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger, locks: map[string]*idLock{}, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// lock serializes the calls for one transactional id in this process.
func (c *Coordinator) lock(id string) func() {
	c.locksMu.Lock()
	l := c.locks[id]
	if l == nil {
		l = &idLock{}
		c.locks[id] = l
	}
	l.refs++
	c.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		c.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(c.locks, id)
		}
		c.locksMu.Unlock()
	}
}

// MaxTransactionVersion is the highest transaction.version served.
const MaxTransactionVersion = 2

// TransactionVersion is the transaction.version this coordinator serves (Config).
func (c *Coordinator) TransactionVersion() int8 { return c.cfg.TransactionVersion }

// IsCoordinator reports whether this node coordinates id.
func (c *Coordinator) IsCoordinator(id string) bool { return c.cfg.IsCoordinator(id) }

func txnErr(ke *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("txn: %s: %w", fmt.Sprintf(format, args...), ke)
}

// get returns id's state; found false for an unknown id.
func (c *Coordinator) get(ctx context.Context, id string) (metadata.Transaction, bool, error) {
	t, err := c.cfg.Store.GetTransaction(ctx, id)
	if errors.Is(err, metadata.ErrNotFound) {
		return metadata.Transaction{ID: id}, false, nil
	}
	if err != nil {
		return metadata.Transaction{}, false, fmt.Errorf("txn: read %q: %w", id, err)
	}
	return t, true, nil
}

// Producer is the producer id and epoch the producer of t holds: ProducerID and ProducerEpoch,
// except while a transaction ended under transaction.version 2 with its epoch exhausted is
// preparing (its markers carry epoch math.MaxInt16): its producer has moved to NextProducerID at
// epoch 0 already.
func Producer(t metadata.Transaction) (int64, int16) {
	if t.Version >= 2 && t.ProducerEpoch == math.MaxInt16 {
		return t.NextProducerID, 0
	}
	return t.ProducerID, t.ProducerEpoch
}

// checkProducer compares a request's producer id and epoch with the state's (Producer).
func checkProducer(t metadata.Transaction, found bool, pid int64, epoch int16) error {
	cur, curEpoch := Producer(t)
	switch {
	case !found || cur != pid:
		return txnErr(kerr.InvalidProducerIDMapping, "%q: producer id %d is not the transaction's", t.ID, pid)
	case epoch < curEpoch:
		return txnErr(kerr.ProducerFenced, "%q: epoch %d < %d", t.ID, epoch, curEpoch)
	case epoch > curEpoch:
		return txnErr(kerr.InvalidProducerEpoch, "%q: epoch %d > %d", t.ID, epoch, curEpoch)
	}
	return nil
}

// bumpEpoch moves t's producer to its next epoch as an EndTxn under transaction.version 2 does,
// remembering the one it had (PrevProducerID, for a retry). At the last epoch but one the
// transaction ends at epoch math.MaxInt16 and the producer moves to fresh, a new producer id
// (Producer; complete switches ProducerID to it), as Apache Kafka does.
func bumpEpoch(t *metadata.Transaction, fresh int64) {
	t.Version = 2
	t.PrevProducerID, t.PrevProducerEpoch = Producer(*t)
	if t.ProducerEpoch < math.MaxInt16-1 {
		t.ProducerEpoch++
		return
	}
	t.ProducerEpoch, t.NextProducerID = math.MaxInt16, fresh
}

// begin makes t, which has no ongoing or preparing transaction, the start of a new one.
func begin(t *metadata.Transaction, now time.Time) {
	t.State, t.StartedAt = metadata.TxnOngoing, now
	t.Sequence++
	t.Version, t.PrevProducerID = 0, -1
	t.Partitions, t.Groups, t.Offsets = nil, nil, nil
}

// errChanged aborts an update whose precondition no longer holds (another node moved the state).
var errChanged = txnErr(kerr.ConcurrentTransactions, "state changed concurrently")

// InitProducerID gives the producer of transactional id its producer id and a new epoch, fencing
// every older producer of the id: an ongoing transaction of the old epoch is aborted (its markers
// written at the new epoch) first. pid and epoch are what the client already holds (-1: none,
// KIP-360).
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeout time.Duration, pid int64, epoch int16) (int64, int16, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, txnErr(kerr.InvalidTransactionTimeout, "%q: timeout %v outside (0, %v]", id, timeout, c.cfg.MaxTimeout)
	}
	defer c.lock(id)()
	t, found, err := c.get(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	if cur, curEpoch := Producer(t); found && pid >= 0 && (pid != cur || epoch > curEpoch) &&
		(t.Version < 2 || pid != t.PrevProducerID || epoch != t.PrevProducerEpoch) {
		return -1, -1, txnErr(kerr.ProducerFenced, "%q: producer %d epoch %d is not the transaction's (%d, %d)", id, pid, epoch, cur, curEpoch)
	}
	if found {
		if t, err = c.finish(ctx, t); err != nil {
			return -1, -1, err
		}
	}
	// An epoch that would run out moves the id to a fresh producer id.
	var fresh int64 = -1
	if !found || t.ProducerEpoch >= math.MaxInt16-1 {
		if fresh, err = c.cfg.Store.AllocateProducerIDs(ctx, 1); err != nil {
			return -1, -1, fmt.Errorf("txn: allocate producer id: %w", err)
		}
	}
	now := c.cfg.Now()
	out, err := c.cfg.Store.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, ok bool) error {
		if ok && (cur.ProducerID != t.ProducerID || cur.ProducerEpoch != t.ProducerEpoch || cur.State != t.State) {
			return errChanged
		}
		if fresh >= 0 {
			cur.ProducerID, cur.ProducerEpoch = fresh, 0
		} else {
			cur.ProducerEpoch++
		}
		cur.State, cur.TimeoutMs, cur.UpdatedAt = metadata.TxnEmpty, int32(timeout.Milliseconds()), now
		cur.Partitions, cur.Groups, cur.Offsets, cur.StartedAt = nil, nil, nil, time.Time{}
		cur.PrevProducerID = -1
		return nil
	})
	if err != nil {
		return -1, -1, err
	}
	c.log.Debug("txn: producer initialized", "transactional_id", id, "producer_id", out.ProducerID, "epoch", out.ProducerEpoch)
	return out.ProducerID, out.ProducerEpoch, nil
}

// finish brings a transaction to a Complete or Empty state: an ongoing one is aborted at a bumped
// epoch (fencing its producer), a preparing one is completed. Callers hold the id's lock.
func (c *Coordinator) finish(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	switch {
	case t.State == metadata.TxnOngoing:
		return c.abortBumped(ctx, t)
	case t.State.Preparing():
		return c.complete(ctx, t)
	}
	return t, nil
}

// abortBumped aborts an ongoing transaction with the epoch bumped, so that its producer is fenced.
func (c *Coordinator) abortBumped(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	p, err := Fence(ctx, c.cfg.Store, t, c.cfg.Now())
	if err != nil {
		return t, err
	}
	return c.complete(ctx, p)
}

// Fence decides the abort of t, an ongoing transaction, with its producer's epoch bumped: its
// producer is fenced (its EndTxn and further writes are refused) and the transaction is recorded
// PrepareAbort, which the coordinator's loop then completes (its markers) if nobody else does.
// It fails with CONCURRENT_TRANSACTIONS when t is no longer the id's ongoing transaction. Under
// transaction.version 2 the producer's epoch before the bump is kept (PrevProducerEpoch), so that
// its EndTxn abort at that epoch succeeds as a retry, as in Apache Kafka.
func Fence(ctx context.Context, st metadata.Transactions, t metadata.Transaction, now time.Time) (metadata.Transaction, error) {
	return st.UpdateTransaction(ctx, t.ID, func(cur *metadata.Transaction, ok bool) error {
		if !ok || cur.State != metadata.TxnOngoing || cur.Sequence != t.Sequence || cur.ProducerEpoch != t.ProducerEpoch {
			return errChanged
		}
		cur.State, cur.UpdatedAt = metadata.TxnPrepareAbort, now
		if cur.Version >= 2 {
			cur.PrevProducerID, cur.PrevProducerEpoch = cur.ProducerID, cur.ProducerEpoch
		}
		if cur.ProducerEpoch < math.MaxInt16-1 {
			cur.ProducerEpoch++
		}
		return nil
	})
}

// complete writes a preparing transaction's markers, then (on commit) its staged offsets, then
// records it Complete. Callers hold the id's lock.
func (c *Coordinator) complete(ctx context.Context, t metadata.Transaction) (metadata.Transaction, error) {
	commit := t.State == metadata.TxnPrepareCommit
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.MarkerTimeout)
	defer cancel()
	if len(t.Partitions) > 0 {
		if err := c.cfg.Markers.WriteMarkers(mctx, t.ProducerID, t.ProducerEpoch, commit, MarkerEpoch(t), t.Partitions); err != nil {
			return t, fmt.Errorf("txn: %q: markers: %w", t.ID, err)
		}
	}
	if commit {
		byGroup := map[string]map[metadata.TopicPartition]metadata.OffsetCommit{}
		for _, o := range t.Offsets {
			if byGroup[o.Group] == nil {
				byGroup[o.Group] = map[metadata.TopicPartition]metadata.OffsetCommit{}
			}
			byGroup[o.Group][o.TopicPartition] = o.OffsetCommit
		}
		for g, offs := range byGroup {
			if err := c.cfg.Store.CommitOffsets(mctx, g, offs); err != nil {
				return t, fmt.Errorf("txn: %q: commit offsets of group %q: %w", t.ID, g, err)
			}
		}
	}
	now := c.cfg.Now()
	return c.cfg.Store.UpdateTransaction(mctx, t.ID, func(cur *metadata.Transaction, ok bool) error {
		if !ok || cur.State != t.State || cur.Sequence != t.Sequence || cur.ProducerEpoch != t.ProducerEpoch {
			return errChanged
		}
		cur.State = metadata.TxnCompleteAbort
		if commit {
			cur.State = metadata.TxnCompleteCommit
		}
		cur.ProducerID, cur.ProducerEpoch = Producer(*cur)
		cur.Partitions, cur.Groups, cur.Offsets, cur.StartedAt, cur.UpdatedAt = nil, nil, nil, time.Time{}, now
		return nil
	})
}

// begin returns the state of id ready for more of the producer's transaction: its current
// transaction, or a new one. Callers hold the id's lock.
func (c *Coordinator) ongoing(ctx context.Context, id string, pid int64, epoch int16, add func(t *metadata.Transaction)) error {
	t, found, err := c.get(ctx, id)
	if err != nil {
		return err
	}
	if err := checkProducer(t, found, pid, epoch); err != nil {
		return err
	}
	if t.State.Preparing() {
		if t, err = c.complete(ctx, t); err != nil {
			c.log.Warn("txn: completing a prepared transaction failed", "transactional_id", id, "err", err)
			return txnErr(kerr.ConcurrentTransactions, "%q: previous transaction still completing", id)
		}
	}
	now := c.cfg.Now()
	_, err = c.cfg.Store.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, ok bool) error {
		if err := checkProducer(*cur, ok, pid, epoch); err != nil {
			return err
		}
		if cur.State != metadata.TxnOngoing {
			if cur.State.Preparing() {
				return errChanged
			}
			begin(cur, now)
		}
		add(cur)
		cur.UpdatedAt = now
		return nil
	})
	return err
}

// AddPartitions adds partitions to the producer's transaction (starting one if none is ongoing).
// Partitions of unknown topics fail the whole call: their codes are UNKNOWN_TOPIC_OR_PARTITION,
// the others' OPERATION_NOT_ATTEMPTED, as in Kafka. A nil map and a nil error: all added.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, tps []metadata.TopicPartition) (map[metadata.TopicPartition]int16, error) {
	bad := map[metadata.TopicPartition]int16{}
	topics := map[string]int32{}
	for _, tp := range tps {
		n, ok := topics[tp.Topic]
		if !ok {
			t, err := c.cfg.Store.GetTopic(ctx, tp.Topic)
			switch {
			case errors.Is(err, metadata.ErrNotFound):
				n = -1
			case err != nil:
				return nil, fmt.Errorf("txn: topic %q: %w", tp.Topic, err)
			default:
				n = t.Partitions
			}
			topics[tp.Topic] = n
		}
		if tp.Partition < 0 || tp.Partition >= n {
			bad[tp] = kerr.UnknownTopicOrPartition.Code
		}
	}
	if len(bad) > 0 {
		for _, tp := range tps {
			if _, ok := bad[tp]; !ok {
				bad[tp] = kerr.OperationNotAttempted.Code
			}
		}
		return bad, nil
	}
	defer c.lock(id)()
	return nil, c.ongoing(ctx, id, pid, epoch, func(t *metadata.Transaction) {
		for _, tp := range tps {
			t.AddPartition(tp)
		}
	})
}

// AddOffsets adds a consumer group to the producer's transaction, so that TxnOffsetCommit may
// stage offsets for it.
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) error {
	if group == "" {
		return txnErr(kerr.InvalidGroupID, "%q: empty group", id)
	}
	defer c.lock(id)()
	return c.ongoing(ctx, id, pid, epoch, func(t *metadata.Transaction) { t.AddGroup(group) })
}

// StageOffsets records TxnOffsetCommit's offsets in the producer's ongoing transaction; they
// reach the group when the transaction commits. The group must have been added (AddOffsets).
func (c *Coordinator) StageOffsets(ctx context.Context, id string, pid int64, epoch int16, group string, offsets []metadata.TxnOffset) error {
	defer c.lock(id)()
	_, err := c.cfg.Store.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, ok bool) error {
		if err := checkProducer(*cur, ok, pid, epoch); err != nil {
			return err
		}
		if cur.State != metadata.TxnOngoing || !cur.HasGroup(group) {
			return txnErr(kerr.InvalidTxnState, "%q: group %q not in an ongoing transaction (%v)", id, group, cur.State)
		}
		for _, o := range offsets {
			o.Group = group
			cur.StageOffset(o)
		}
		cur.UpdatedAt = c.cfg.Now()
		return nil
	})
	return err
}

// AddImplicitly adds partitions or a group (add) to the ongoing transaction of id under
// transaction.version 2, starting one if none is ongoing: KIP-890 part 2's implicit add by a
// Produce v12+ (the partition's leader, before it appends) or a TxnOffsetCommit v5+ (the group's
// coordinator). It is one compare-and-swap of the metadata service, so any node may call it; the
// add is durable when it returns. A transaction still preparing (its markers not all written)
// fails with CONCURRENT_TRANSACTIONS, which the caller answers as retriable.
func AddImplicitly(ctx context.Context, st metadata.Transactions, id string, pid int64, epoch int16, now time.Time, add func(t *metadata.Transaction)) (metadata.Transaction, error) {
	return st.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, ok bool) error {
		if err := checkProducer(*cur, ok, pid, epoch); err != nil {
			return err
		}
		switch {
		case cur.State.Preparing():
			return txnErr(kerr.ConcurrentTransactions, "%q: previous transaction still completing", id)
		case cur.State != metadata.TxnOngoing:
			begin(cur, now)
		}
		cur.Version = 2
		add(cur)
		cur.UpdatedAt = now
		return nil
	})
}

// StageOffsetsV2 is StageOffsets under transaction.version 2 (TxnOffsetCommit v5+): the group
// is added to the transaction implicitly (AddImplicitly), with the offsets, in one update.
func (c *Coordinator) StageOffsetsV2(ctx context.Context, id string, pid int64, epoch int16, group string, offsets []metadata.TxnOffset) error {
	if group == "" {
		return txnErr(kerr.InvalidGroupID, "%q: empty group", id)
	}
	defer c.lock(id)()
	_, err := AddImplicitly(ctx, c.cfg.Store, id, pid, epoch, c.cfg.Now(), func(t *metadata.Transaction) {
		t.AddGroup(group)
		for _, o := range offsets {
			o.Group = group
			t.StageOffset(o)
		}
	})
	return err
}

// EndTxn commits or aborts the producer's ongoing transaction (EndTxn v4 and older). A retry of
// an EndTxn that already took effect succeeds; the opposite outcome, or ending no transaction, is
// INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	_, _, err := c.end(ctx, id, pid, epoch, commit, false)
	return err
}

// EndTxnV2 is EndTxn under transaction.version 2 (KIP-890 part 2, EndTxn v5+): deciding the
// outcome bumps the producer's epoch (at the last epoch, moves it to a new producer id), the
// markers carry the new epoch, and the producer id and epoch to use next are returned. A retry
// at the previous epoch of an EndTxn that took effect (same outcome) succeeds with the current
// ones; an abort with no ongoing transaction succeeds and bumps the epoch.
func (c *Coordinator) EndTxnV2(ctx context.Context, id string, pid int64, epoch int16, commit bool) (int64, int16, error) {
	return c.end(ctx, id, pid, epoch, commit, true)
}

func (c *Coordinator) end(ctx context.Context, id string, pid int64, epoch int16, commit, v2 bool) (int64, int16, error) {
	defer c.lock(id)()
	t, found, err := c.get(ctx, id)
	if err != nil {
		return -1, -1, err
	}
	want := map[bool][2]metadata.TxnState{true: {metadata.TxnPrepareCommit, metadata.TxnCompleteCommit},
		false: {metadata.TxnPrepareAbort, metadata.TxnCompleteAbort}}[commit]
	retry := v2 && found && t.Version >= 2 && pid >= 0 && pid == t.PrevProducerID && epoch == t.PrevProducerEpoch &&
		(t.State == want[0] || t.State == want[1])
	if !retry {
		if err := checkProducer(t, found, pid, epoch); err != nil {
			return -1, -1, err
		}
	}
	// Under version 2 an epoch that would run out moves the producer to a fresh producer id.
	var fresh int64 = -1
	if v2 && !retry && t.ProducerEpoch >= math.MaxInt16-1 {
		if fresh, err = c.cfg.Store.AllocateProducerIDs(ctx, 1); err != nil {
			return -1, -1, fmt.Errorf("txn: allocate producer id: %w", err)
		}
	}
	decide := func(to metadata.TxnState) error {
		now := c.cfg.Now()
		t, err = c.cfg.Store.UpdateTransaction(ctx, id, func(cur *metadata.Transaction, ok bool) error {
			if err := checkProducer(*cur, ok, pid, epoch); err != nil {
				return err
			}
			if cur.State != t.State || cur.Sequence != t.Sequence {
				return errChanged
			}
			if v2 {
				bumpEpoch(cur, fresh)
			}
			cur.State, cur.UpdatedAt = to, now
			if !to.Preparing() { // an empty abort: nothing to complete
				cur.ProducerID, cur.ProducerEpoch = Producer(*cur)
				cur.Partitions, cur.Groups, cur.Offsets, cur.StartedAt = nil, nil, nil, time.Time{}
			}
			return nil
		})
		return err
	}
	switch {
	case retry:
	case t.State == metadata.TxnOngoing:
		if err := decide(want[0]); err != nil {
			return -1, -1, err
		}
	case v2 && !commit && (t.State == metadata.TxnEmpty || t.State == metadata.TxnCompleteCommit || t.State == metadata.TxnCompleteAbort):
		if err := decide(metadata.TxnCompleteAbort); err != nil {
			return -1, -1, err
		}
	case t.State == want[0]:
	case t.State == want[1]:
		pid, epoch := Producer(t)
		return pid, epoch, nil
	default:
		return -1, -1, txnErr(kerr.InvalidTxnState, "%q: cannot end (commit=%v) a transaction in state %v", id, commit, t.State)
	}
	if t.State.Preparing() {
		if _, err := c.complete(ctx, t); err != nil {
			// The outcome is recorded: the next call for the id, or the loop, finishes it.
			c.log.Warn("txn: transaction decided but not yet complete", "transactional_id", id, "commit", commit, "err", err)
		}
	}
	npid, nepoch := Producer(t)
	return npid, nepoch, nil
}

// Describe returns id's state (DescribeTransactions); found false for an unknown id.
func (c *Coordinator) Describe(ctx context.Context, id string) (metadata.Transaction, bool, error) {
	return c.get(ctx, id)
}

// PendingOffsets reports the partitions of group for which an ongoing or preparing transaction
// has staged offsets (for OffsetFetch's require_stable; group.Config.PendingOffsets). It reads
// every transactional id's state: its cost grows with the number of ids.
func (c *Coordinator) PendingOffsets(ctx context.Context, group string) (map[metadata.TopicPartition]bool, error) {
	ts, err := c.cfg.Store.ListTransactions(ctx)
	if err != nil {
		return nil, fmt.Errorf("txn: list transactions: %w", err)
	}
	var out map[metadata.TopicPartition]bool
	for _, t := range ts {
		if t.State != metadata.TxnOngoing && !t.State.Preparing() {
			continue
		}
		for _, o := range t.Offsets {
			if o.Group == group {
				if out == nil {
					out = map[metadata.TopicPartition]bool{}
				}
				out[o.TopicPartition] = true
			}
		}
	}
	return out, nil
}

// List returns every transactional id's state (ListTransactions).
func (c *Coordinator) List(ctx context.Context) ([]metadata.Transaction, error) {
	return c.cfg.Store.ListTransactions(ctx)
}
