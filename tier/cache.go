package tier

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// blockCache is a size-bounded LRU of object blocks: aligned BlockSize ranges of segment objects.
// A block is in the map from the moment a fetch starts, so concurrent readers and read-ahead share
// one GET; it joins the LRU (and counts toward the size) once loaded. A failed fetch leaves the map,
// so the next lookup tries again. Objects are immutable, so a cached block never goes stale; blocks
// of deleted objects simply age out. The blocks of one GET share its buffer, which lives until the
// last of them is evicted (and no reader holds a view of it): the size bound counts the blocks,
// so it can be exceeded by the runs' evicted parts, at most one GET's size per run still cached.
type blockCache struct {
	m *readMetrics

	mu     sync.Mutex
	max    int64
	used   int64
	blocks map[blockKey]*block
	lru    list.List // of *block, most recent first
}

type blockKey struct {
	obj objRange
	idx int64 // block number from the range's start
}

type block struct {
	key   blockKey
	ready chan struct{} // closed when data or err is set
	data  []byte
	err   error
	elem  *list.Element
	// run is the GET that loaded the block (data is run.buf[at:at+len(data)]): the blocks of one
	// GET lie back to back in its buffer, so a read across them needs no copy (see
	// objectFile.view). A run stays in memory while any of its blocks is referenced.
	run *runBuf
	at  int
}

// runBuf is the buffer of one ranged GET.
type runBuf struct {
	buf   []byte
	start int64 // the object position of buf[0]
	// [checkedFrom, checkedTo) are the object positions of whole batches in buf that passed
	// their CRC and offset checks on the fetch's goroutine (see Reader.checkRun), valid once
	// checked is set: reads within them skip the checks.
	checkedFrom, checkedTo int64
	checked                atomic.Bool
}

// verified reports whether the object bytes [off, end) were checked on arrival.
func (ru *runBuf) verified(off, end int64) bool {
	return ru.checked.Load() && off >= ru.checkedFrom && end <= ru.checkedTo
}

// setChecked records that [from, to) passed the checks.
func (ru *runBuf) setChecked(from, to int64) {
	ru.checkedFrom, ru.checkedTo = from, to
	ru.checked.Store(true) // publishes the range
}

// follows reports whether b's bytes continue a's in the same run.
func (b *block) follows(a *block) bool {
	return a.run != nil && b.run == a.run && b.at == a.at+len(a.data)
}

func newBlockCache(max int64, m *readMetrics) *blockCache {
	return &blockCache{m: m, max: max, blocks: make(map[blockKey]*block)}
}

// lookup returns the block for k. fetch is true when the caller must load it (and then call done);
// otherwise the block is loaded or being loaded by someone else. hit counts a loaded block (or
// one already in flight when count is false, as read-ahead does).
func (c *blockCache) lookup(k blockKey, count bool) (b *block, fetch bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b = c.blocks[k]; b != nil {
		if b.elem != nil {
			c.lru.MoveToFront(b.elem)
			if count {
				c.m.cacheHits.Inc()
			}
		} else if count {
			c.m.cacheMisses.Inc() // in flight: the reader still waits for a GET
		}
		return b, false
	}
	if count {
		c.m.cacheMisses.Inc()
	}
	b = &block{key: k, ready: make(chan struct{})}
	c.blocks[k] = b
	return b, true
}

// count records a reader's use of a block looked up without counting (see objectFile.view).
func (c *blockCache) count(hit bool) {
	if hit {
		c.m.cacheHits.Inc()
	} else {
		c.m.cacheMisses.Inc()
	}
}

// has reports whether k is cached or being fetched, without touching the LRU or the counters.
func (c *blockCache) has(k blockKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocks[k] != nil
}

// demote moves a loaded block to the cold end of the LRU: a sequential reader has read past it and
// is unlikely to want it again, so it goes before blocks fetched ahead and not yet read.
func (c *blockCache) demote(k blockKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.blocks[k]; b != nil && b.elem != nil {
		c.lru.MoveToBack(b.elem)
	}
}

// done completes a fetch started by lookup: data is ru.buf[at:at+n] (ru nil on error).
func (c *blockCache) done(b *block, ru *runBuf, at, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		b.data, b.run, b.at = ru.buf[at:at+n:at+n], ru, at
	}
	b.err = err
	close(b.ready)
	if err != nil {
		delete(c.blocks, b.key)
		return
	}
	b.elem = c.lru.PushFront(b)
	c.used += int64(len(b.data))
	for c.used > c.max && c.lru.Len() > 1 {
		old := c.lru.Back().Value.(*block)
		c.lru.Remove(old.elem)
		old.elem = nil
		delete(c.blocks, old.key)
		c.used -= int64(len(old.data))
		c.m.cacheEvictions.Inc()
	}
	c.m.cacheBytes.Set(float64(c.used))
}

// lru is a map bounded by the summed weight of its values, the least recently used dropped first:
// the Reader's decoded object indexes (weight 1 each: bounded by count) and the column chunks of
// projected Parquet reads (weighed in bytes). Safe for concurrent use.
type lru[K comparable, V any] struct {
	mu     sync.Mutex
	max    int64
	used   int64
	weight func(V) int64
	m      map[K]*list.Element
	ll     list.List // of lruEntry, most recent first
}

type lruEntry[K comparable, V any] struct {
	key K
	v   V
}

func newLRU[K comparable, V any](max int64, weight func(V) int64) *lru[K, V] {
	return &lru[K, V]{max: max, weight: weight, m: make(map[K]*list.Element)}
}

// get returns the value cached under key, or V's zero value.
func (c *lru[K, V]) get(key K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(lruEntry[K, V]).v
	}
	var zero V
	return zero
}

// put caches v under key unless a value is cached there already; it returns the cached one.
func (c *lru[K, V]) put(key K, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(lruEntry[K, V]).v
	}
	c.m[key] = c.ll.PushFront(lruEntry[K, V]{key: key, v: v})
	c.used += c.weight(v)
	for c.used > c.max {
		old := c.ll.Remove(c.ll.Back()).(lruEntry[K, V])
		delete(c.m, old.key)
		c.used -= c.weight(old.v)
	}
	return v
}

// newIndexCache keeps the decoded index of recently read objects, at most max of them.
func newIndexCache(max int) *lru[objRange, *objectIndex] {
	return newLRU[objRange](int64(max), func(*objectIndex) int64 { return 1 })
}
