//go:build unix

package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runFranzRebalance checks a live rebalance with franz-go: member A consumes about a tenth of
// the records, pauses fetching (still polling, so it can take part in rebalances), member B
// joins the same group, and A resumes only once B has processed a record from a partition the
// group handed it. Both then read to the end. Each member commits what it processed after
// every poll and allows a rebalance only after that commit (BlockRebalanceOnPoll), so a
// partition that changes owner must continue exactly at the committed offset: no record may be
// missing or seen twice. FirstConsumer and SecondConsumer count A's and B's records.
func runFranzRebalance(balancer kgo.GroupBalancer) func(context.Context, func(string, ...any), string, string) (Summary, error) {
	return func(ctx context.Context, logf func(string, ...any), addr, topic string) (Summary, error) {
		if err := createTopic(ctx, addr, topic); err != nil {
			return Summary{}, err
		}
		tl := newTally()
		if err := produceFranz(ctx, logf, addr, topic, tl); err != nil {
			return Summary{}, err
		}
		produced := tl.producedCount()
		group := topic + "-group"

		var (
			bProcessed atomic.Int64
			stopAll    = make(chan struct{})
			stopOnce   sync.Once
		)
		stop := func() { stopOnce.Do(func() { close(stopAll) }) }

		member := func(name string, pauseAt int, counter *atomic.Int64) (int, error) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
				kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(balancer),
				kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.SessionTimeout(10*time.Second), kgo.RebalanceTimeout(30*time.Second))
			if err != nil {
				return 0, err
			}
			defer cl.Close()
			processed, paused := 0, false
			lastProgress := time.Now()
			for {
				select {
				case <-stopAll:
					return processed, nil
				default:
				}
				if tl.uniqueSeen() >= produced {
					stop()
					return processed, nil
				}
				if ctx.Err() != nil || time.Since(lastProgress) > idleLimit {
					stop()
					return processed, fmt.Errorf("%s: no progress for %v after %d records (paused %v, B processed %d)",
						name, idleLimit, processed, paused, bProcessed.Load())
				}
				if pauseAt > 0 && !paused && processed >= pauseAt {
					cl.PauseFetchTopics(topic)
					paused = true
					logf("rebalance: %s paused after %d records", name, processed)
				}
				if paused && bProcessed.Load() > 0 {
					cl.ResumeFetchTopics(topic)
					paused, pauseAt = false, 0
					lastProgress = time.Now()
					logf("rebalance: %s resumed", name)
				}
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fetches := cl.PollRecords(pctx, 200)
				cancel()
				for _, fe := range fetches.Errors() {
					if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
						cl.AllowRebalance()
						stop()
						return processed, fmt.Errorf("%s: fetch %s/%d: %w", name, fe.Topic, fe.Partition, fe.Err)
					}
				}
				recs := fetches.Records()
				if len(recs) > 0 {
					for _, r := range recs {
						tl.record(r.Partition, r.Offset, r.Value)
					}
					processed += len(recs)
					if counter != nil {
						counter.Add(int64(len(recs)))
					}
					if err := cl.CommitRecords(ctx, recs...); err != nil {
						cl.AllowRebalance()
						stop()
						return processed, fmt.Errorf("%s: commit: %w", name, err)
					}
					if !paused {
						lastProgress = time.Now()
					}
				}
				cl.AllowRebalance()
			}
		}

		type result struct {
			n   int
			err error
		}
		aDone := make(chan result, 1)
		aStarted := make(chan struct{})
		go func() {
			close(aStarted)
			n, err := member("A", produced/10, nil)
			aDone <- result{n, err}
		}()
		<-aStarted
		// B joins once A has made progress (A pauses at a tenth of the records).
		deadline := time.Now().Add(idleLimit)
		for tl.uniqueSeen() < produced/10 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		bN, bErr := member("B", 0, &bProcessed)
		a := <-aDone
		s := tl.summary("franz-go-rebalance", a.n, bN)
		return s, errors.Join(a.err, bErr)
	}
}
