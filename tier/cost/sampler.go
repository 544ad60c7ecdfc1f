package cost

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The series a report reads from the node's registry.
const (
	OpsMetric      = "strata_objstore_operations_total" // counter, label op
	IngestedMetric = "strata_broker_appended_bytes_total"
	HotBytesMetric = "strata_hotlog_bytes" // gauge
)

// Snapshot is the value of the report's series at one time. A series absent from the registry
// (not registered yet) reads as zero.
type Snapshot struct {
	Time     time.Time
	Ops      map[string]float64 // OpsMetric by op
	Ingested float64            // IngestedMetric
	HotBytes float64            // HotBytesMetric
}

// Read gathers g and returns the report's series as of now. A Gatherer's error comes back with
// what it did gather.
func Read(g prometheus.Gatherer, now time.Time) (Snapshot, error) {
	s := Snapshot{Time: now, Ops: map[string]float64{}}
	mfs, err := g.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case OpsMetric:
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" {
						s.Ops[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		case IngestedMetric:
			for _, m := range mf.GetMetric() {
				s.Ingested += m.GetCounter().GetValue()
			}
		case HotBytesMetric:
			for _, m := range mf.GetMetric() {
				s.HotBytes += m.GetGauge().GetValue()
			}
		}
	}
	return s, err
}

// Delta is the counters' growth from a to b, rounded to whole counts (a counter never shrinks in
// one process; if it did, the delta is 0).
func Delta(a, b Snapshot) (ops map[string]uint64, ingested uint64) {
	ops = make(map[string]uint64, len(b.Ops))
	for op, v := range b.Ops {
		ops[op] = sub(v, a.Ops[op])
	}
	return ops, sub(b.Ingested, a.Ingested)
}

func sub(b, a float64) uint64 {
	if b <= a {
		return 0
	}
	return uint64(b - a + 0.5)
}

// Pick chooses a window's first snapshot: the latest at or before end−window among first (the
// node's first snapshot, always kept) and ring (the periodic ones, oldest first, all after first),
// so the window is at least as long as asked and longer by less than one sampling interval. A
// window of 0 starts at first. capped is true when the snapshots do not reach back to end−window:
// the node is younger than the window (start is first), or dropped says the ring has let older
// snapshots go and the window would otherwise start at first (start is ring[0]). Pure, for tables.
func Pick(first Snapshot, ring []Snapshot, dropped bool, end time.Time, window time.Duration) (start Snapshot, capped bool) {
	if window <= 0 {
		return first, false
	}
	from := end.Add(-window)
	if first.Time.After(from) {
		return first, true
	}
	for i := len(ring) - 1; i >= 0; i-- {
		if !ring[i].Time.After(from) {
			return ring[i], false
		}
	}
	if dropped && len(ring) > 0 {
		return ring[0], true
	}
	return first, false
}

// SamplerConfig configures a Sampler.
type SamplerConfig struct {
	// Gatherer is the node's registry (required).
	Gatherer prometheus.Gatherer
	// Interval between snapshots (default DefaultInterval).
	Interval time.Duration
	// Capacity is how many periodic snapshots are kept (default DefaultCapacity); older ones are
	// dropped, so windows reach back at most Interval × Capacity (the node's first snapshot stays).
	Capacity int
	Logger   *slog.Logger
}

// Defaults: a day of snapshots, one every 30 s.
const (
	DefaultInterval = 30 * time.Second
	DefaultCapacity = 2880
)

// Validate checks the config and fills defaults.
func (c *SamplerConfig) Validate() error {
	if c.Gatherer == nil {
		return errors.New("cost: SamplerConfig.Gatherer is required")
	}
	if c.Interval < 0 || c.Capacity < 0 {
		return errors.New("cost: negative SamplerConfig.Interval or Capacity")
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Capacity == 0 {
		c.Capacity = DefaultCapacity
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Sampler keeps snapshots of the report's series: the first, taken by NewSampler, and the newest
// Capacity periodic ones, taken by its goroutine. Its methods are safe for concurrent use.
type Sampler struct {
	cfg  SamplerConfig
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	first   Snapshot
	ring    []Snapshot // circular: next is the slot of the next write once full
	next    int
	dropped bool
}

// NewSampler takes the first snapshot now and starts the periodic ones. Create it before the
// object store and the broker register their counters, so the first snapshot reads them as zero
// and "since the node started" is exact. Close stops it.
func NewSampler(cfg SamplerConfig) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sampler{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	first, err := Read(cfg.Gatherer, time.Now())
	if err != nil {
		cfg.Logger.Warn("cost: first snapshot incomplete", "err", err)
	}
	s.first = first
	go s.run()
	return s, nil
}

func (s *Sampler) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			snap, err := Read(s.cfg.Gatherer, now)
			if err != nil {
				// A collector failed; the others' values are still right, and a counter missing
				// here would only read as 0, so the snapshot is dropped.
				s.cfg.Logger.Warn("cost: snapshot", "err", err)
				continue
			}
			s.add(snap)
		}
	}
}

func (s *Sampler) add(snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ring) < s.cfg.Capacity {
		s.ring = append(s.ring, snap)
		return
	}
	s.ring[s.next] = snap
	s.next = (s.next + 1) % len(s.ring)
	s.dropped = true
}

// Window returns the snapshots a report over window ends and starts at: now, read afresh from the
// Gatherer, and the one Pick chooses. A window of 0 starts when the node started.
func (s *Sampler) Window(window time.Duration) (start, end Snapshot, capped bool, err error) {
	end, err = Read(s.cfg.Gatherer, time.Now())
	if err != nil {
		return Snapshot{}, Snapshot{}, false, err
	}
	s.mu.Lock()
	ring := make([]Snapshot, 0, len(s.ring))
	ring = append(ring, s.ring[s.next:]...)
	ring = append(ring, s.ring[:s.next]...)
	first, dropped := s.first, s.dropped
	s.mu.Unlock()
	start, capped = Pick(first, ring, dropped, end.Time, window)
	return start, end, capped, nil
}

// Close stops the periodic snapshots and waits for the goroutine. Idempotent.
func (s *Sampler) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
