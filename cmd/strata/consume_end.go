package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// endTracker follows `consume --to-end`: where each partition ended when consume started, and the
// next offset this consumer will read there. Used by one goroutine.
type endTracker struct {
	ends map[int32]int64
	pos  map[int32]int64
}

// newEndTracker lists the topic's end offsets and where reading starts in each partition: the
// group's committed offset, else the log start (--from-beginning) or the end.
func newEndTracker(ctx context.Context, adm *kadm.Client, topic, group string, fromBeginning bool, timeout time.Duration) (*endTracker, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ends, err := listOffsets(ctx, adm.ListEndOffsets, topic)
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	var starts kadm.ListedOffsets
	if fromBeginning {
		if starts, err = listOffsets(ctx, adm.ListStartOffsets, topic); err != nil {
			return nil, fmt.Errorf("listing the start offsets of %s: %w", topic, err)
		}
	}
	var committed kadm.OffsetResponses
	if group != "" {
		committed, err = adm.FetchOffsets(ctx, group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return nil, fmt.Errorf("fetching the offsets of group %s: %w", group, err)
		}
	}
	t := &endTracker{ends: map[int32]int64{}, pos: map[int32]int64{}}
	ends.Each(func(o kadm.ListedOffset) {
		p := o.Offset
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			p = s.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= 0 {
			p = c.At
		}
		t.ends[o.Partition], t.pos[o.Partition] = o.Offset, p
	})
	return t, nil
}

// listOffsets lists a topic's start or end offsets, retrying while a partition has no leader yet
// (a new topic, a failover) until ctx ends.
func listOffsets(ctx context.Context, list func(context.Context, ...string) (kadm.ListedOffsets, error), topic string) (kadm.ListedOffsets, error) {
	for {
		offs, err := list(ctx, topic)
		if err == nil {
			err = offs.Error()
		}
		if err == nil || !kerr.IsRetriable(err) {
			return offs, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// saw notes a record read (control records included: they hold offsets too).
func (t *endTracker) saw(r *kgo.Record) {
	t.pos[r.Partition] = max(t.pos[r.Partition], r.Offset+1)
}

// reached reports whether every partition was read up to its end.
func (t *endTracker) reached() bool {
	for p, e := range t.ends {
		if t.pos[p] < e {
			return false
		}
	}
	return true
}

// String is the progress over all partitions: "offsets 1200/5000".
func (t *endTracker) String() string {
	var pos, end int64
	for p, e := range t.ends {
		pos, end = pos+min(t.pos[p], e), end+e
	}
	return fmt.Sprintf("offsets %d/%d", pos, end)
}
