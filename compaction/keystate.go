package compaction

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// Where key compaction keeps a partition's cleanState: one small object per partition,
//
//	<prefix>/compaction/<topic-id>/<partition>.state
//
// holding one local frame (segment.AppendFrame: len | crc32c | version | payload) whose payload is
// the JSON of cleanState, version 1. It sits outside <prefix>/topics/, so the sweeper never lists
// it (the sweeper would take it for a foreign key), and the catalog, which holds only segments,
// needs no new field. It is written only after a pass's swaps all succeeded, and is a hint the
// catalog can outrun: a state that is lost, corrupt, of another topic ID, or older than the catalog
// only makes the next pass treat cleaned offsets as dirty again (more work) or start tombstone
// clocks later (tombstones kept longer); it never makes a record be dropped early.
const stateVersion = 1

// maxStateBytes bounds what is read of a state object (maxHorizons entries take a few KiB).
const maxStateBytes = 64 << 10

func stateKey(prefix string, topicID metadata.TopicID, partition int32) string {
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	return fmt.Sprintf("%scompaction/%s/%d.state", prefix, topicID, partition)
}

func encodeState(s cleanState) ([]byte, error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return segment.AppendFrame(nil, stateVersion, payload), nil
}

// decodeState reads a state object's bytes. Errors wrap segment.ErrCorrupt.
func decodeState(b []byte) (cleanState, error) {
	var s cleanState
	v, payload, n, err := segment.ReadFrame(b)
	switch {
	case err != nil:
		return s, err
	case n != len(b):
		return s, fmt.Errorf("%w: %d bytes after the state frame", segment.ErrCorrupt, len(b)-n)
	case v != stateVersion:
		return s, fmt.Errorf("%w: state version %d", segment.ErrCorrupt, v)
	}
	if err := json.Unmarshal(payload, &s); err != nil {
		return cleanState{}, fmt.Errorf("%w: state: %v", segment.ErrCorrupt, err)
	}
	last := s.TombstonesGone
	for _, h := range s.Horizons {
		if h.End <= last {
			return cleanState{}, fmt.Errorf("%w: state horizons out of order", segment.ErrCorrupt)
		}
		last = h.End
	}
	if s.CleanedTo < 0 || s.TombstonesGone < 0 || last > s.CleanedTo || len(s.Horizons) > maxHorizons {
		return cleanState{}, fmt.Errorf("%w: state offsets out of range", segment.ErrCorrupt)
	}
	return s, nil
}

// loadState reads a partition's state; a missing one is the zero state, a corrupt one is the zero
// state and counted (see the top of this file for why that is safe).
func (w *Worker) loadState(ctx context.Context, topicID metadata.TopicID, tp metadata.TopicPartition) (cleanState, error) {
	key := stateKey(w.cfg.Prefix, topicID, tp.Partition)
	rc, err := w.cfg.Bucket.Get(ctx, key)
	if errors.Is(err, objstore.ErrNotFound) {
		return cleanState{}, nil
	} else if err != nil {
		return cleanState{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxStateBytes+1))
	if err != nil {
		return cleanState{}, err
	}
	s, err := decodeState(b)
	if err == nil && len(b) > maxStateBytes {
		err = fmt.Errorf("%w: state of more than %d bytes", segment.ErrCorrupt, maxStateBytes)
	}
	if err != nil {
		w.m.errors.WithLabelValues("key_state").Inc()
		w.log.Warn("compaction: unreadable key compaction state; the partition counts as never cleaned",
			"partition", tp, "key", key, "err", err)
		return cleanState{}, nil
	}
	if s.TopicID != topicID.String() {
		return cleanState{}, nil
	}
	return s, nil
}

func (w *Worker) storeState(ctx context.Context, topicID metadata.TopicID, tp metadata.TopicPartition, s cleanState) error {
	b, err := encodeState(s)
	if err != nil {
		return err
	}
	return w.cfg.Bucket.Put(ctx, stateKey(w.cfg.Prefix, topicID, tp.Partition), bytes.NewReader(b), int64(len(b)))
}
