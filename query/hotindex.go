package query

import (
	"hash/maphash"
	"math"
	"slices"
	"sync"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// The hot index: what queries have read of the partitions' hot tails, summarized so that the next
// query can skip what cannot match. Object storage has catalog statistics and Parquet row-group
// statistics and bloom filters; a leader's hot log has only its time index (the first offset at
// or after a time), which cannot bound a window from above nor say anything about keys. So each
// read of a hot tail (one Tail.ReadTail answer, about readSize bytes) becomes a span: its offsets,
// its records' smallest and largest timestamps and the hashes of their keys. A later scan skips a
// span whose timestamps lie outside its time bounds, or whose keys hold none of its keys, without
// reading it. The first query over new hot data reads it whole, as before.
//
// A span is true of the leader's log under one leader epoch: within a term a leader never rewrites
// an offset below its high watermark. A new term (a failover) may hold other records at the same
// offsets (local durability loses a dead leader's untiered tail), so a partition's spans are kept
// with its topic id and the leader epoch they were read under, and dropped when either changes.
// Spans are added only when the epoch read before and after the scan is the same.

// hotIndexLimit bounds the key hashes the index holds (8 bytes each): past it, it starts over.
const hotIndexLimit = 1 << 22

type hotSpan struct {
	first, next  int64 // the offsets it covers
	rows         int64
	minTs, maxTs int64
	keys         []uint64 // sorted, unique hashes of its non-null keys
}

// excludes reports whether no row of the span can meet b.
func (sp *hotSpan) excludes(b Bounds, seed maphash.Seed) bool {
	if sp.rows == 0 || sp.maxTs < b.MinTime || sp.minTs > b.MaxTime {
		return true
	}
	if b.Keys == nil {
		return false
	}
	for _, k := range b.Keys {
		if _, found := slices.BinarySearch(sp.keys, maphash.Bytes(seed, k)); found {
			return false
		}
	}
	return true
}

type hotPartition struct {
	topicID metadata.TopicID
	epoch   int32
	spans   []hotSpan // sorted by first, not overlapping
}

type hotIndex struct {
	seed   maphash.Seed
	mu     sync.Mutex
	parts  map[metadata.TopicPartition]*hotPartition
	hashes int
}

func newHotIndex() *hotIndex {
	return &hotIndex{seed: maphash.MakeSeed(), parts: map[metadata.TopicPartition]*hotPartition{}}
}

// lookup returns the span of tp that holds offset off, if the index has one for this topic id and
// leader epoch. A partition known under another id or epoch is forgotten.
func (x *hotIndex) lookup(tp metadata.TopicPartition, id metadata.TopicID, epoch int32, off int64) (hotSpan, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	hp := x.parts[tp]
	if hp == nil {
		return hotSpan{}, false
	}
	if hp.topicID != id || hp.epoch != epoch {
		x.forget(tp, hp)
		return hotSpan{}, false
	}
	i, _ := slices.BinarySearchFunc(hp.spans, off, func(sp hotSpan, off int64) int {
		switch {
		case sp.next <= off:
			return -1
		case sp.first > off:
			return 1
		}
		return 0
	})
	if i < len(hp.spans) && hp.spans[i].first <= off && off < hp.spans[i].next {
		return hp.spans[i], true
	}
	return hotSpan{}, false
}

// add records spans of tp read under epoch, replacing any they overlap, and drops the spans below
// from (the partition's tiered end: scans no longer read them from the hot tail).
func (x *hotIndex) add(tp metadata.TopicPartition, id metadata.TopicID, epoch int32, from int64, spans []hotSpan) {
	if len(spans) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	hp := x.parts[tp]
	if hp != nil && (hp.topicID != id || hp.epoch != epoch) {
		x.forget(tp, hp)
		hp = nil
	}
	if hp == nil {
		hp = &hotPartition{topicID: id, epoch: epoch}
		x.parts[tp] = hp
	}
	for _, sp := range spans {
		if x.hashes+len(sp.keys) > hotIndexLimit {
			clear(x.parts)
			x.hashes = 0
			hp = &hotPartition{topicID: id, epoch: epoch}
			x.parts[tp] = hp
		}
		hp.spans = slices.DeleteFunc(hp.spans, func(old hotSpan) bool {
			gone := old.next <= from || (old.first < sp.next && sp.first < old.next)
			if gone {
				x.hashes -= len(old.keys)
			}
			return gone
		})
		i, _ := slices.BinarySearchFunc(hp.spans, sp.first, func(old hotSpan, first int64) int {
			return int(min(max(old.first-first, -1), 1))
		})
		hp.spans = slices.Insert(hp.spans, i, sp)
		x.hashes += len(sp.keys)
	}
}

// forget drops tp's spans. Callers hold x.mu.
func (x *hotIndex) forget(tp metadata.TopicPartition, hp *hotPartition) {
	for _, sp := range hp.spans {
		x.hashes -= len(sp.keys)
	}
	delete(x.parts, tp)
}

// summarize makes the span of records, whole batches as Tail.ReadTail returns them; ok is false
// when they do not parse (the scan reports that).
func (x *hotIndex) summarize(records []byte, rt *segment.Retainer) (hotSpan, bool) {
	sp := hotSpan{first: -1, minTs: math.MaxInt64, maxTs: math.MinInt64}
	splitter := segment.NewSplitter(records)
	for splitter.Next() {
		info := splitter.Info()
		if sp.first < 0 {
			sp.first = info.BaseOffset
		}
		sp.next = info.NextOffset()
		if info.Control() {
			continue
		}
		err := rt.Each(splitter.Batch(), info, func(r segment.StoredRecord) error {
			sp.rows++
			sp.minTs, sp.maxTs = min(sp.minTs, r.Timestamp), max(sp.maxTs, r.Timestamp)
			if r.Key != nil {
				sp.keys = append(sp.keys, maphash.Bytes(x.seed, r.Key))
			}
			return nil
		})
		if err != nil {
			return hotSpan{}, false
		}
	}
	if splitter.Err() != nil || sp.first < 0 {
		return hotSpan{}, false
	}
	slices.Sort(sp.keys)
	sp.keys = slices.Clip(slices.Compact(sp.keys))
	return sp, true
}
