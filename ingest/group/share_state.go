package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// The share state of this node: the share partitions of the partitions it leads (KIP-932 keeps
// them on the partition leader, where ShareFetch arrives), share sessions, and share group
// configs. Every share partition's SPSO is written to the metadata store's offsets role under
// the group's name, in the background, at most every shareFlushInterval: a new leader starts at
// the stored SPSO, so a leader move redelivers the records acknowledged since (never skips).
// In-flight records, locks and delivery counts live in memory only.

// Share group config defaults (Kafka's group.share.*).
const (
	DefaultShareLockDuration  = 30 * time.Second
	DefaultShareDeliveryLimit = 5
	// shareMaxRecordLocks is Kafka's group.share.partition.max.record.locks: how many offsets past
	// the SPSO one share partition tracks.
	shareMaxRecordLocks = 2000
	shareFlushInterval  = 500 * time.Millisecond
	// shareMaxSessions bounds the share sessions a node keeps (Kafka's
	// group.share.max.share.sessions); a new one past it answers SHARE_SESSION_LIMIT_REACHED.
	shareMaxSessions = 2000
)

// ErrShareConfig reports an unknown or invalid share group config.
var ErrShareConfig = errors.New("group: invalid share group config")

type shareKey struct {
	group string
	tp    metadata.TopicPartition
}

type sessionKey struct{ group, member string }

type shareSession struct {
	next  int32 // the epoch the next request must carry
	parts []metadata.TopicPartition
}

type shares struct {
	c    *Coordinator
	mu   sync.Mutex
	part map[shareKey]*sharePartition
	sess map[sessionKey]*shareSession
	conf map[string]map[string]string // group → config name → value
	// dirty holds SPSOs not yet written to the store.
	dirty map[shareKey]int64

	stop, done chan struct{}
	once       sync.Once
}

func newShares(c *Coordinator) *shares {
	s := &shares{c: c, part: map[shareKey]*sharePartition{}, sess: map[sessionKey]*shareSession{},
		conf: map[string]map[string]string{}, dirty: map[shareKey]int64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

// close stops the flusher after a last flush; idempotent.
func (s *shares) close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
}

func (s *shares) run() {
	defer close(s.done)
	t := time.NewTicker(shareFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flush()
			return
		case <-t.C:
			s.flush()
		}
	}
}

// flush writes the dirty SPSOs, one commit per group.
func (s *shares) flush() {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return
	}
	byGroup := map[string]map[metadata.TopicPartition]metadata.OffsetCommit{}
	for k, off := range s.dirty {
		if byGroup[k.group] == nil {
			byGroup[k.group] = map[metadata.TopicPartition]metadata.OffsetCommit{}
		}
		byGroup[k.group][k.tp] = metadata.OffsetCommit{Offset: off, LeaderEpoch: -1, CommittedAt: time.Now()}
	}
	s.dirty = map[shareKey]int64{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for g, offs := range byGroup {
		if err := s.c.cfg.Store.CommitOffsets(ctx, g, offs); err != nil {
			s.c.log.Warn("share group: store start offsets", "group", g, "err", err)
			s.mu.Lock()
			for tp, oc := range offs {
				if _, newer := s.dirty[shareKey{g, tp}]; !newer {
					s.dirty[shareKey{g, tp}] = oc.Offset
				}
			}
			s.mu.Unlock()
		}
	}
}

// noteLocked records p's SPSO for the flusher if it moved. s.mu must be held.
func (s *shares) noteLocked(k shareKey, p *sharePartition, before int64) {
	if p.spso != before {
		s.dirty[k] = p.spso
	}
}

// ShareConfig is a share group's effective configuration.
type ShareConfig struct {
	AutoOffsetReset string // "latest" or "earliest"
	LockDuration    time.Duration
	DeliveryLimit   int16
}

// shareConfigDefaults are the configs a share group has until altered, as Kafka names them.
var shareConfigDefaults = map[string]string{
	"share.auto.offset.reset":       "latest",
	"share.record.lock.duration.ms": strconv.Itoa(int(DefaultShareLockDuration / time.Millisecond)),
	"share.delivery.count.limit":    strconv.Itoa(DefaultShareDeliveryLimit),
	"share.isolation.level":         "read_uncommitted",
	"share.session.timeout.ms":      strconv.Itoa(int(shareSessionTimeout / time.Millisecond)),
	"share.heartbeat.interval.ms":   strconv.Itoa(int(shareHeartbeatInterval / time.Millisecond)),
}

func validShareConfig(name, v string) error {
	intIn := func(lo, hi int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%w: %s must be an integer in [%d, %d], not %q", ErrShareConfig, name, lo, hi, v)
		}
		return nil
	}
	switch name {
	case "share.auto.offset.reset":
		if v != "latest" && v != "earliest" {
			return fmt.Errorf("%w: %s must be latest or earliest, not %q", ErrShareConfig, name, v)
		}
	case "share.record.lock.duration.ms":
		return intIn(1000, 3600000)
	case "share.delivery.count.limit":
		return intIn(2, 10)
	case "share.isolation.level":
		if v != "read_uncommitted" {
			return fmt.Errorf("%w: %s: only read_uncommitted is supported", ErrShareConfig, name)
		}
	case "share.session.timeout.ms", "share.heartbeat.interval.ms":
		if v != shareConfigDefaults[name] {
			return fmt.Errorf("%w: %s cannot be changed", ErrShareConfig, name)
		}
	default:
		return fmt.Errorf("%w: unknown group config %q", ErrShareConfig, name)
	}
	return nil
}

// ShareConfigOp is one IncrementalAlterConfigs operation on a group (0 set, 1 delete).
type ShareConfigOp struct {
	Name  string
	Op    int8
	Value *string
}

// AlterShareGroupConfigs applies ops to group's configs (all or nothing). Group configs live in
// this node's memory.
func (c *Coordinator) AlterShareGroupConfigs(group string, ops []ShareConfigOp, validateOnly bool) error {
	if group == "" {
		return fmt.Errorf("%w: empty group id", ErrShareConfig)
	}
	for _, op := range ops {
		switch {
		case op.Op == 1:
			if _, ok := shareConfigDefaults[op.Name]; !ok {
				return fmt.Errorf("%w: unknown group config %q", ErrShareConfig, op.Name)
			}
		case op.Op != 0:
			return fmt.Errorf("%w: operation %d is not valid for group configs", ErrShareConfig, op.Op)
		case op.Value == nil:
			return fmt.Errorf("%w: %s needs a value", ErrShareConfig, op.Name)
		default:
			if err := validShareConfig(op.Name, *op.Value); err != nil {
				return err
			}
		}
	}
	if validateOnly {
		return nil
	}
	s := c.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.conf[group]
	if m == nil {
		m = map[string]string{}
		s.conf[group] = m
	}
	for _, op := range ops {
		if op.Op == 1 {
			delete(m, op.Name)
		} else {
			m[op.Name] = *op.Value
		}
	}
	return nil
}

// ShareConfigEntry is one described group config.
type ShareConfigEntry struct {
	Name, Value string
	IsDefault   bool
}

// DescribeShareGroupConfigs lists group's configs (those named, or all), sorted by name.
func (c *Coordinator) DescribeShareGroupConfigs(group string, names []string) []ShareConfigEntry {
	s := c.shares
	s.mu.Lock()
	set := maps.Clone(s.conf[group])
	s.mu.Unlock()
	var out []ShareConfigEntry
	for _, n := range slices.Sorted(maps.Keys(shareConfigDefaults)) {
		if len(names) > 0 && !slices.Contains(names, n) {
			continue
		}
		v, ok := set[n]
		if !ok {
			v = shareConfigDefaults[n]
		}
		out = append(out, ShareConfigEntry{Name: n, Value: v, IsDefault: !ok})
	}
	return out
}

// ShareGroupConfig is group's effective share configuration.
func (c *Coordinator) ShareGroupConfig(group string) ShareConfig {
	c.shares.mu.Lock()
	defer c.shares.mu.Unlock()
	return c.shares.configLocked(group)
}

func (s *shares) configLocked(group string) ShareConfig {
	get := func(n string) string {
		if v, ok := s.conf[group][n]; ok {
			return v
		}
		return shareConfigDefaults[n]
	}
	lock, _ := strconv.Atoi(get("share.record.lock.duration.ms"))
	limit, _ := strconv.Atoi(get("share.delivery.count.limit"))
	return ShareConfig{AutoOffsetReset: get("share.auto.offset.reset"), LockDuration: time.Duration(lock) * time.Millisecond, DeliveryLimit: int16(limit)}
}

// ShareSession validates and advances member's share session for a request carrying epoch: 0
// opens a new session (replacing any), -1 is the last request of the session (the caller closes
// it with ShareCloseSession), any other must be the session's next epoch. add joins partitions
// to the session, forget removes them. It returns the session's partitions. ack is set for
// ShareAcknowledge, which cannot open a session.
func (c *Coordinator) ShareSession(group, member string, epoch int32, add, forget []metadata.TopicPartition, ack bool) ([]metadata.TopicPartition, int16) {
	s := c.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sessionKey{group, member}
	ss := s.sess[k]
	switch {
	case epoch == 0 && ack:
		return nil, kerr.InvalidShareSessionEpoch.Code
	case epoch == 0 && ss == nil && len(s.sess) >= shareMaxSessions:
		return nil, kerr.ShareSessionLimitReached.Code
	case epoch == 0:
		ss = &shareSession{next: 0}
		s.sess[k] = ss
	case ss == nil:
		return nil, kerr.ShareSessionNotFound.Code
	case epoch != -1 && epoch != ss.next:
		return nil, kerr.InvalidShareSessionEpoch.Code
	}
	if ss.next == 2147483647 {
		ss.next = 1
	} else {
		ss.next++
	}
	for _, tp := range add {
		if !slices.Contains(ss.parts, tp) {
			ss.parts = append(ss.parts, tp)
		}
	}
	for _, tp := range forget {
		ss.parts = slices.DeleteFunc(ss.parts, func(x metadata.TopicPartition) bool { return x == tp })
	}
	return slices.Clone(ss.parts), 0
}

// ShareCloseSession ends member's session and releases the records it holds on this node.
func (c *Coordinator) ShareCloseSession(group, member string) {
	c.shares.mu.Lock()
	delete(c.shares.sess, sessionKey{group, member})
	c.shares.mu.Unlock()
	c.shares.memberGone(group, member)
}

// memberGone releases every record member holds in group's share partitions on this node.
func (s *shares) memberGone(group, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sess, sessionKey{group, member})
	limit := s.configLocked(group).DeliveryLimit
	for k, p := range s.part {
		if k.group == group {
			before := p.spso
			p.releaseMember(member, limit)
			s.noteLocked(k, p, before)
		}
	}
}

// ShareFetchOffset prepares group's share partition tp for a fetch and returns the offset to
// read from; ok is false when there is nothing to acquire below the high watermark hw. A share
// partition seen for the first time starts at its stored SPSO or, without one, per
// share.auto.offset.reset (earliest asks for the log start).
func (c *Coordinator) ShareFetchOffset(ctx context.Context, group string, tp metadata.TopicPartition, hw int64, earliest func(context.Context) (int64, error)) (offset int64, ok bool, err error) {
	s := c.shares
	k := shareKey{group, tp}
	s.mu.Lock()
	p := s.part[k]
	s.mu.Unlock()
	if p == nil {
		logStart, err := earliest(ctx)
		if err != nil {
			return 0, false, err
		}
		start, err := c.shareStart(ctx, group, tp, logStart, hw)
		if err != nil {
			return 0, false, err
		}
		s.mu.Lock()
		if s.part[k] == nil {
			s.part[k] = newSharePartition(start)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p = s.part[k]
	cfg := s.configLocked(group)
	before := p.spso
	c.met.shareExpired.Add(float64(p.expire(time.Now(), cfg.DeliveryLimit)))
	s.noteLocked(k, p, before)
	off, ok := p.fetchOffset(shareMaxRecordLocks)
	return off, ok && off < hw, nil
}

// ShareTrim moves group's share partition tp up to the log start: records deleted from the log
// cannot be delivered.
func (c *Coordinator) ShareTrim(group string, tp metadata.TopicPartition, logStart int64) {
	s := c.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	k := shareKey{group, tp}
	if p := s.part[k]; p != nil {
		before := p.spso
		p.trim(logStart)
		s.noteLocked(k, p, before)
	}
}

// shareStart is where a new share partition starts: the stored SPSO within the log, else the
// log start or high watermark per the group's share.auto.offset.reset.
func (c *Coordinator) shareStart(ctx context.Context, group string, tp metadata.TopicPartition, logStart, hw int64) (int64, error) {
	stored, err := c.cfg.Store.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	if oc, ok := stored[tp]; ok {
		return min(max(oc.Offset, logStart), hw), nil
	}
	start := hw
	if c.ShareGroupConfig(group).AutoOffsetReset == "earliest" {
		start = logStart
	}
	c.shares.mu.Lock()
	c.shares.dirty[shareKey{group, tp}] = start
	c.shares.mu.Unlock()
	return start, nil
}

// ShareAcquire gives member up to maxRecords available records of the batches read from tp,
// locked for the group's share.record.lock.duration.ms.
func (c *Coordinator) ShareAcquire(group, member string, tp metadata.TopicPartition, batches []BatchSpan, maxRecords int) []AcquiredRange {
	s := c.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	k := shareKey{group, tp}
	p := s.part[k]
	if p == nil || maxRecords <= 0 {
		return nil
	}
	cfg := s.configLocked(group)
	before := p.spso
	out := p.acquire(time.Now(), member, batches, maxRecords, cfg.LockDuration, shareMaxRecordLocks)
	s.noteLocked(k, p, before)
	for _, r := range out {
		c.met.shareAcquired.Add(float64(r.Last - r.First + 1))
	}
	return out
}

// ShareAcknowledge applies one acknowledgement batch of member on tp.
func (c *Coordinator) ShareAcknowledge(group, member string, tp metadata.TopicPartition, first, last int64, types []int8) int16 {
	s := c.shares
	s.mu.Lock()
	defer s.mu.Unlock()
	k := shareKey{group, tp}
	p := s.part[k]
	if p == nil {
		return kerr.InvalidRecordState.Code
	}
	cfg := s.configLocked(group)
	before := p.spso
	code := p.acknowledge(time.Now(), member, first, last, types, cfg.LockDuration, cfg.DeliveryLimit)
	s.noteLocked(k, p, before)
	if code == 0 {
		for _, t := range types {
			n := last - first + 1
			if len(types) > 1 {
				n = 1
			}
			if int(t) < len(ackTypeNames) {
				c.met.shareAcks.WithLabelValues(ackTypeNames[t]).Add(float64(n))
			}
		}
	}
	return code
}

// ackTypeNames label the acknowledgement metric by type (AckGap..AckRenew).
var ackTypeNames = []string{"gap", "accept", "release", "reject", "renew"}

// dropGroup forgets every share partition, session and config of group (DeleteGroups).
func (s *shares) dropGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.part {
		if k.group == group {
			delete(s.part, k)
			delete(s.dirty, k)
		}
	}
	for k := range s.sess {
		if k.group == group {
			delete(s.sess, k)
		}
	}
	delete(s.conf, group)
}
