package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// tieredScanTimeout bounds the read of tiered data that rebuilds producer state on takeover.
const tieredScanTimeout = 10 * time.Second

// takePartition acquires tp's lease and opens its log. ErrConflict if another node holds it. See
// the package doc for how the local log is judged by leader epoch.
func (b *Broker) takePartition(ctx context.Context, t metadata.Topic, idx int32) (err error) {
	tp := metadata.TopicPartition{Topic: t.Name, Partition: idx}
	start := time.Now()
	term := b.term.Load()
	name := logName(t.ID, idx)
	l, err := b.store.AcquireLease(ctx, tp, b.cfg.NodeID)
	if err != nil {
		// The acquisition may have taken effect with its answer lost (a timeout): if the lease
		// names this node, its epoch is ours and nobody else's.
		if cur, gerr := b.store.GetLease(context.WithoutCancel(ctx), tp); gerr == nil && cur.Node == b.cfg.NodeID {
			b.keepEpochChain(tp, name, cur.Epoch)
		}
		return fmt.Errorf("broker: acquire %s: %w", tp, err)
	}
	defer func() {
		if err != nil {
			b.keepEpochChain(tp, name, l.Epoch)
			_ = b.store.ReleaseLease(context.WithoutCancel(ctx), l)
		}
	}()
	cat, err := b.store.GetCatalog(ctx, tp)
	if err != nil {
		return fmt.Errorf("broker: catalog of %s: %w", tp, err)
	}
	hcfg := b.hotLogConfig(t)
	log, err := b.openTermLog(tp, name, hcfg)
	if err != nil {
		return err
	}
	local, err := b.localEpoch(name, log)
	if err != nil {
		return err
	}
	end := cat.TieredEnd()
	switch {
	case local < l.Epoch-1 && (log.EndOffset() > log.StartOffset() || log.EndOffset() > end):
		// Another node led since this log was last the truth: what is here beyond the catalog
		// is fenced, never-registered data (and may collide with what that leader wrote).
		b.log.Info("broker: local log fenced by a newer leader; discarding it", "partition", tp,
			"local_epoch", local, "epoch", l.Epoch, "local_start", log.StartOffset(), "local_end", log.EndOffset(),
			"tiered_end", end)
		b.m.discardedLogs.Inc()
		if err := log.Reset(end); err != nil {
			return fmt.Errorf("broker: reset %s to %d: %w", tp, end, err)
		}
	case log.EndOffset() < end:
		b.log.Info("broker: local log behind the tiered end; resetting", "partition", tp,
			"local_end", log.EndOffset(), "tiered_end", end)
		if err := log.Reset(end); err != nil {
			return fmt.Errorf("broker: reset %s to %d: %w", tp, end, err)
		}
	case hcfg.LazySeal && log.StartOffset() > max(end, cat.LogStartOffset):
		// Object durability seals without fsync: a power cut can tear a sealed segment, which
		// recovery sets aside with the older ones, leaving a log that starts past the tiered
		// end. What lay between was never acknowledged (acks wait for object storage); the log
		// starts again at the tiered end.
		b.log.Warn("broker: local log starts past the tiered end (segments set aside after a crash); resetting", "partition", tp,
			"local_start", log.StartOffset(), "tiered_end", end)
		if err := log.Reset(end); err != nil {
			return fmt.Errorf("broker: reset %s to %d: %w", tp, end, err)
		}
	}
	if cat.LogStartOffset > log.StartOffset() {
		if err := log.SetStartOffset(min(cat.LogStartOffset, log.EndOffset())); err != nil {
			return fmt.Errorf("broker: set start of %s: %w", tp, err)
		}
	}
	// From here on this log is the truth under l.Epoch, even if nothing is appended under it.
	if err := b.writeEpoch(name, l.Epoch); err != nil {
		return err
	}
	p := &partition{tp: tp, topicID: t.ID, name: name, log: log, gone: make(chan struct{}), alive: &b.alive}
	st := b.settings(t)
	p.cfg.Store(st)
	p.applied.Store(&t.Configs)
	if p.plog, err = b.partitionLog(tp, t.ID, log, st); err != nil {
		return err
	}
	p.plog.NoteCatalog(cat)
	if err := b.rebuildTieredProducers(ctx, p, cat); err != nil {
		return fmt.Errorf("broker: rebuild producer state of %s from object storage: %w", tp, err)
	}
	if _, err := p.rebuildProducers(b.cfg.ProducerStateScanBytes); err != nil {
		return fmt.Errorf("broker: rebuild producer state of %s: %w", tp, err)
	}
	if err := p.rebuildTxns(); err != nil {
		return fmt.Errorf("broker: rebuild transactions of %s: %w", tp, err)
	}
	p.setLease(l)
	// Markers acknowledged under local durability by a leader since this log was last the truth
	// may be lost with that leader's tail.
	markersLost := local < l.Epoch-1 && st.durability != "object"
	if err := b.abortOrphans(ctx, p, l.Epoch, markersLost); err != nil {
		_ = log.Close()
		return err
	}

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.term.Load() != term {
		// The registration lapsed while we took it: another node may hold it by now. The lease
		// record still names this node if not, and the next reconcile takes it under a new term.
		b.mu.Unlock()
		_ = log.Close()
		return fmt.Errorf("broker: take %s: node registration lapsed meanwhile", tp)
	}
	b.parts[tp] = p
	b.m.leaders.Inc()
	b.watchers.Add(1)
	b.mu.Unlock()
	go b.watchLog(p)
	b.trackIfLive(p, t)
	b.m.leadershipChanges.WithLabelValues("taken").Inc()
	b.log.Info("broker: leading partition", "partition", tp, "epoch", l.Epoch,
		"start", log.StartOffset(), "end", log.EndOffset(), "took", time.Since(start))
	return nil
}

// keepEpochChain is for a take of tp under epoch that failed before the log served: when the
// local log was the truth under the epoch before it (its checkpoint says epoch-1), nobody else
// led in between, so the log is the truth under epoch too and the checkpoint says so. Without
// this, the next take (epoch+1) would find the checkpoint two epochs behind, conclude that
// another node had led meanwhile, and discard the log's acknowledged, not yet tiered tail: under
// load, a take whose metadata reads time out made a single node drop its own data.
func (b *Broker) keepEpochChain(tp metadata.TopicPartition, name string, epoch int32) {
	if b.readEpoch(name) != epoch-1 {
		return // unknown, already written, or another node led between: nothing to carry
	}
	if err := b.writeEpoch(name, epoch); err != nil {
		b.log.Warn("broker: keeping the epoch checkpoint after a failed take", "partition", tp, "epoch", epoch, "err", err)
	}
}

// rebuildTieredProducers replays the idempotent batches of the newest tiered data below the hot
// log into p's producer state, when the hot log is too short to hold enough history (a new
// leader's log starts at the tiered end). Reads at most ProducerStateTieredScanBytes.
func (b *Broker) rebuildTieredProducers(ctx context.Context, p *partition, cat metadata.PartitionCatalog) error {
	p.producers = map[int64]*producerState{}
	p.tieredTxns = nil
	if b.cfg.TieredReader == nil || len(cat.Segments) == 0 {
		return nil
	}
	var hot int64
	for _, s := range p.log.Segments() {
		hot += s.Size
	}
	if hot >= b.cfg.ProducerStateScanBytes {
		return nil
	}
	budget := min(b.cfg.ProducerStateTieredScanBytes, b.cfg.ProducerStateScanBytes-hot)
	upTo := min(p.log.StartOffset(), cat.TieredEnd())
	from, sum := int64(-1), int64(0)
	for i := len(cat.Segments) - 1; i >= 0 && sum < budget; i-- {
		s := cat.Segments[i]
		if s.BaseOffset >= upTo {
			continue
		}
		from, sum = s.BaseOffset, sum+s.Size
	}
	if from < 0 {
		return nil
	}
	from = max(from, cat.LogStartOffset)
	ctx, cancel := context.WithTimeout(ctx, tieredScanTimeout)
	defer cancel()
	for off := from; off < upTo; {
		data, err := b.cfg.TieredReader.Read(ctx, p.tp, p.topicID, off, 1<<20)
		if err != nil {
			return err
		}
		next := off
		for len(data) > 0 {
			info, err := segment.ParseBatch(data)
			if err != nil {
				return err
			}
			if info.BaseOffset >= upTo {
				break
			}
			p.recordSequence(info, info.BaseOffset, info.LastOffset(), info.MaxTimestamp)
			if info.Transactional() {
				tb := tieredTxnBatch{info: info}
				if info.Control() {
					c, ce, err := readMarker(data[:info.Size()])
					if err != nil {
						next = info.NextOffset()
						data = data[info.Size():]
						continue // not a transaction marker: closes nothing
					}
					tb.commit, tb.coordinatorEpoch = c, ce
				}
				p.tieredTxns = append(p.tieredTxns, tb)
			}
			next = info.NextOffset()
			data = data[info.Size():]
		}
		if next <= off {
			break // nothing readable; leave the rest to the hot log
		}
		off = next
	}
	return nil
}

// trackIfLive starts (or updates) tiering of p unless it was dropped meanwhile.
func (b *Broker) trackIfLive(p *partition, t metadata.Topic) {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if !p.dropped {
		b.track(p, t)
	}
}

// dropPartition stops serving p; remove also deletes its local log (topic deleted).
func (b *Broker) dropPartition(ctx context.Context, p *partition, remove bool) {
	b.mu.Lock()
	if b.parts[p.tp] == p {
		delete(b.parts, p.tp)
		b.m.leaders.Dec()
	}
	b.mu.Unlock()
	p.lifeMu.Lock()
	if !p.dropped {
		p.dropped = true
		b.untrack(p.tp) // before the log can go away
		p.stepDown()
	}
	p.lifeMu.Unlock()
	if remove {
		_ = b.store.ReleaseLease(ctx, p.currentLease())
		if err := b.dir.Remove(p.name); err != nil {
			b.log.Warn("broker: remove log", "log", p.name, "err", err)
		}
		b.removeEpoch(p.name)
		b.forgetFailedLog(p.name)
	}
}

// discardStaleLogs removes local logs of deleted topics, and of partitions another node leads:
// a lease held elsewhere means another epoch began after this node's, so the local copy can never
// be served again (the next take resets it anyway); removing it frees the disk and makes sure no
// fenced data lingers. Called by reconcile with the topics and live leases it listed.
func (b *Broker) discardStaleLogs(topics []metadata.Topic, held map[metadata.TopicPartition]metadata.Lease) {
	byID := make(map[metadata.TopicID]metadata.Topic, len(topics))
	for _, t := range topics {
		byID[t.ID] = t
	}
	for _, name := range b.dir.Names() {
		id, idx, ok := parseLogName(name)
		if !ok {
			continue
		}
		t, exists := byID[id]
		if exists {
			tp := metadata.TopicPartition{Topic: t.Name, Partition: idx}
			b.mu.RLock()
			_, leading := b.parts[tp]
			b.mu.RUnlock()
			l, isHeld := held[tp]
			if leading || !isHeld || l.Node == b.cfg.NodeID {
				continue
			}
			b.log.Info("broker: another node leads this partition; discarding the local log", "partition", tp,
				"leader", l.Node, "epoch", l.Epoch, "local_epoch", b.readEpoch(name))
			b.m.discardedLogs.Inc()
		}
		if err := b.dir.Remove(name); err != nil {
			b.log.Warn("broker: remove stale log", "log", name, "err", err)
			continue
		}
		b.removeEpoch(name)
		b.forgetFailedLog(name)
	}
}
