package group

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator serves the consumer group APIs for the groups this node coordinates.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	met *metrics

	mu     sync.Mutex
	groups map[string]*groupEntry
	closed bool

	nextWaiter atomic.Uint64
	topicList  topicList
	shares     *shares // KIP-932 share-partition state and sessions (share_state.go)

	// The deadline loop: one goroutine wakes each group at its machine's next deadline.
	schedMu sync.Mutex
	sched   deadlineHeap
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// groupEntry drives one machine. mu guards every field.
type groupEntry struct {
	name      string
	mu        sync.Mutex
	m         *machine
	cg        *consumerGroup // non-nil while the group is a KIP-848 consumer group
	sg        *shareGroup    // non-nil while the group is a KIP-932 share group
	waiters   map[waiter]chan reply
	scheduled time.Time // earliest wake-up already in the deadline heap; zero if none
}

// New validates cfg, applies defaults and starts the deadline loop.
func New(cfg Config) (*Coordinator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "group", "node", cfg.NodeID),
		met:    met,
		groups: map[string]*groupEntry{},
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	c.shares = newShares(c)
	go c.run()
	return c, nil
}

// Close stops the deadline loop and fails every blocked JoinGroup and SyncGroup with
// NOT_COORDINATOR so clients look for the group elsewhere. It is idempotent.
func (c *Coordinator) Close() error {
	if c == nil {
		return nil
	}
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		groups := c.groups
		c.groups = map[string]*groupEntry{}
		c.mu.Unlock()
		close(c.stop)
		<-c.done
		c.shares.close()
		for _, g := range groups {
			c.unload(g)
		}
	})
	return nil
}

func (c *Coordinator) params() params {
	return params{
		initialDelay: c.cfg.RebalanceDelay,
		minSession:   c.cfg.MinSessionTimeout,
		maxSession:   c.cfg.MaxSessionTimeout,
		maxSize:      c.cfg.MaxGroupSize,
		newID:        newMemberID,
	}
}

// newMemberID is Kafka's member id shape: prefix, dash, UUID-like random suffix.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s", prefix, h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// groupCode is the error code for a request about name before any group state is touched.
// A nil Coordinator (a node serving no groups) answers COORDINATOR_NOT_AVAILABLE everywhere.
func (c *Coordinator) groupCode(name string) int16 {
	switch {
	case c == nil:
		return kerr.CoordinatorNotAvailable.Code
	case name == "":
		return kerr.InvalidGroupID.Code
	case c.isClosed():
		return kerr.NotCoordinator.Code
	case !c.cfg.IsCoordinator(name):
		c.evict(name)
		return kerr.NotCoordinator.Code
	}
	return 0
}

// entry returns the group's driver, creating it if create is set; nil when closed or absent.
func (c *Coordinator) entry(name string, create bool) *groupEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	g := c.groups[name]
	if g == nil && create {
		g = &groupEntry{name: name, m: newMachine(c.params()), waiters: map[waiter]chan reply{}}
		c.groups[name] = g
	}
	return g
}

// locked runs fn with the group locked, retrying on a fresh entry if the one found died (deleted
// or unloaded) meanwhile. It returns false when the coordinator is closed or the group is absent
// and create is false. After fn, replies are delivered and the group's wake-up is rescheduled.
func (c *Coordinator) locked(name string, create bool, fn func(g *groupEntry, now time.Time)) bool {
	for {
		g := c.entry(name, create)
		if g == nil {
			return false
		}
		g.mu.Lock()
		if g.m.state == StateDead {
			g.mu.Unlock()
			continue
		}
		before := g.m.rebalances
		fn(g, time.Now())
		c.settle(g, before)
		g.mu.Unlock()
		return true
	}
}

// settle delivers pending replies, updates metrics and reschedules g. g.mu must be held.
func (c *Coordinator) settle(g *groupEntry, rebalancesBefore uint64) {
	for _, r := range g.m.drain() {
		if ch, ok := g.waiters[r.to]; ok {
			delete(g.waiters, r.to)
			ch <- r // buffered, one reply per waiter
		}
	}
	if n := g.m.rebalances - rebalancesBefore; n > 0 {
		c.met.rebalances.Add(float64(n))
		c.log.Debug("rebalance", "group", g.name, "generation", g.m.generation, "members", len(g.m.members))
	}
	if g.m.state == StateDead {
		c.met.forget(g.name)
		return
	}
	members := len(g.m.members)
	d := g.m.nextDeadline()
	if g.cg != nil {
		members += len(g.cg.members)
		if cd := g.cg.nextDeadline(); !cd.IsZero() && (d.IsZero() || cd.Before(d)) {
			d = cd
		}
	}
	c.met.members.WithLabelValues(g.name).Set(float64(members))
	if !d.IsZero() && (g.scheduled.IsZero() || d.Before(g.scheduled)) {
		g.scheduled = d
		c.schedMu.Lock()
		heap.Push(&c.sched, deadline{at: d, g: g})
		c.schedMu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

func (c *Coordinator) newWaiter(g *groupEntry) (waiter, chan reply) {
	w := waiter(c.nextWaiter.Add(1))
	ch := make(chan reply, 1)
	g.waiters[w] = ch
	return w, ch
}

// await blocks for the reply to w. When ctx ends first the waiter is forgotten; the member stays
// in the rebalance as in Kafka, and its response is dropped.
func (c *Coordinator) await(ctx context.Context, g *groupEntry, w waiter, ch chan reply) (reply, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-ctx.Done():
		g.mu.Lock()
		delete(g.waiters, w)
		g.mu.Unlock()
		select {
		case r := <-ch:
			return r, true
		default:
			return reply{}, false
		}
	}
}

// unload kills g, failing blocked requests with NOT_COORDINATOR.
func (c *Coordinator) unload(g *groupEntry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m.state == StateDead {
		return
	}
	g.m.kill(kerr.NotCoordinator.Code)
	c.settle(g, g.m.rebalances)
}

// evict drops the in-memory state of a group this node no longer coordinates.
func (c *Coordinator) evict(name string) {
	c.mu.Lock()
	g := c.groups[name]
	delete(c.groups, name)
	c.mu.Unlock()
	if g != nil {
		c.log.Info("group unloaded: not coordinator", "group", name)
		c.unload(g)
	}
}

// sweepInterval is how often the deadline loop looks for groups this node no longer coordinates,
// so their blocked members hear NOT_COORDINATOR promptly after a coordinator move.
const sweepInterval = time.Second

// run is the deadline loop; it exits when stop closes.
func (c *Coordinator) run() {
	defer close(c.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	nextSweep := time.Now().Add(sweepInterval)
	for {
		now := time.Now()
		if !now.Before(nextSweep) {
			c.sweep()
			nextSweep = now.Add(sweepInterval)
		}
		var due []*groupEntry
		c.schedMu.Lock()
		for c.sched.Len() > 0 && !c.sched[0].at.After(now) {
			due = append(due, heap.Pop(&c.sched).(deadline).g)
		}
		wait := nextSweep.Sub(now)
		if c.sched.Len() > 0 {
			wait = min(wait, c.sched[0].at.Sub(now))
		}
		c.schedMu.Unlock()
		for _, g := range due {
			c.tick(g)
		}
		if len(due) > 0 {
			continue
		}
		t.Reset(wait)
		select {
		case <-c.stop:
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// sweep unloads every group whose coordinator is now another node.
func (c *Coordinator) sweep() {
	c.mu.Lock()
	var moved []string
	for name := range c.groups {
		if !c.cfg.IsCoordinator(name) {
			moved = append(moved, name)
		}
	}
	c.mu.Unlock()
	for _, name := range moved {
		c.evict(name)
	}
}

func (c *Coordinator) tick(g *groupEntry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m.state == StateDead {
		return
	}
	now := time.Now()
	if !g.scheduled.After(now) {
		g.scheduled = time.Time{}
	}
	before := g.m.rebalances
	g.m.advance(now)
	if g.cg != nil {
		if n := g.cg.advance(now); n > 0 {
			c.log.Debug("consumer group members expired", "group", g.name, "removed", n, "epoch", g.cg.epoch)
		}
	}
	c.settle(g, before)
}

type deadline struct {
	at time.Time
	g  *groupEntry
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// clientKey carries the connection's client id and host into JoinGroup for DescribeGroups.
type clientKey struct{}

// WithClient returns ctx carrying the Kafka client id and remote host of the connection making a
// request; JoinGroup records them for DescribeGroups.
func WithClient(ctx context.Context, clientID, host string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID: clientID, clientHost: host})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

// JoinGroup answers a JoinGroup request, blocking until the member's rebalance completes.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	if code := c.groupCode(req.Group); code != 0 {
		return joinError(req.Version, code, req.MemberID)
	}
	ci := clientFrom(ctx)
	var (
		g            *groupEntry
		w            waiter
		ch           chan reply
		inconsistent bool
	)
	ok := c.locked(req.Group, true, func(e *groupEntry, now time.Time) {
		g = e
		if e.cg != nil {
			// A consumer group's id is taken while it has members; an empty one turns classic.
			if !e.cg.empty() {
				inconsistent = true
				return
			}
			e.cg = nil
		}
		if e.sg != nil {
			// So is a share group's.
			if e.sg.active(now) {
				inconsistent = true
				return
			}
			e.sg = nil
		}
		w, ch = c.newWaiter(e)
		e.m.join(now, req, ci, w)
	})
	if !ok {
		return joinError(req.Version, kerr.NotCoordinator.Code, req.MemberID)
	}
	if inconsistent {
		return joinError(req.Version, kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	r, ok := c.await(ctx, g, w, ch)
	if !ok {
		return joinError(req.Version, kerr.RebalanceInProgress.Code, req.MemberID)
	}
	if r.join.ErrorCode != 0 {
		c.dropIfUnused(g)
	}
	return r.join
}

// dropIfUnused forgets a group that a rejected join created and nothing else uses, as Kafka
// validates a join before creating its group.
func (c *Coordinator) dropIfUnused(g *groupEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g.name] != g {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.m
	if m.state == StateEmpty && m.generation == 0 && len(m.members) == 0 && len(m.pending) == 0 && (g.cg == nil || g.cg.empty() && g.cg.epoch == 0) {
		m.kill(kerr.CoordinatorNotAvailable.Code)
		c.settle(g, m.rebalances)
		delete(c.groups, g.name)
	}
}

// SyncGroup answers a SyncGroup request, blocking until the leader's assignment arrives.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	if code := c.groupCode(req.Group); code != 0 {
		return syncError(req.Version, code)
	}
	var (
		g  *groupEntry
		w  waiter
		ch chan reply
	)
	ok := c.locked(req.Group, false, func(e *groupEntry, now time.Time) {
		g = e
		w, ch = c.newWaiter(e)
		e.m.sync(now, req, w)
	})
	if !ok {
		return syncError(req.Version, kerr.UnknownMemberID.Code)
	}
	r, ok := c.await(ctx, g, w, ch)
	if !ok {
		return syncError(req.Version, kerr.RebalanceInProgress.Code)
	}
	return r.sync
}

// Heartbeat answers a Heartbeat request.
func (c *Coordinator) Heartbeat(_ context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	if resp.ErrorCode = c.groupCode(req.Group); resp.ErrorCode != 0 {
		return resp
	}
	resp.ErrorCode = kerr.UnknownMemberID.Code
	c.locked(req.Group, false, func(g *groupEntry, now time.Time) {
		resp.ErrorCode = g.m.heartbeat(now, req)
	})
	return resp
}

// LeaveGroup answers a LeaveGroup request: one member (v0-v2) or a batch (v3+).
func (c *Coordinator) LeaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	who := []leaveMember{{memberID: req.MemberID}}
	if req.Version >= 3 {
		who = who[:0]
		for _, m := range req.Members {
			who = append(who, leaveMember{memberID: m.MemberID, instanceID: m.InstanceID})
		}
	}
	codes := make([]int16, len(who))
	if code := c.groupCode(req.Group); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	for i := range codes {
		codes[i] = kerr.UnknownMemberID.Code
	}
	c.locked(req.Group, false, func(g *groupEntry, now time.Time) {
		codes = g.m.leave(now, who)
	})
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, l := range who {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = l.memberID, l.instanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}
