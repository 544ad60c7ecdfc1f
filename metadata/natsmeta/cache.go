package natsmeta

import (
	"context"
	"errors"
	"sync"
)

// revCache remembers the newest entry this store wrote per key, so a process that is the usual
// writer of a key (a partition's leader tiering segments, a group's coordinator committing offsets,
// a lease holder renewing) can write with one round trip: compare-and-swap against the remembered
// revision, and only on a mismatch read the key again. A cached entry is never trusted for a
// decision that writes nothing; only a successful compare-and-swap proves it was current.
type revCache struct {
	mu sync.Mutex
	m  map[string]entry
}

func newRevCache() *revCache { return &revCache{m: map[string]entry{}} }

func (c *revCache) get(key string) (entry, bool) {
	if c == nil {
		return entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e, ok
}

func (c *revCache) set(key string, e entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.live {
		c.m[key] = e
	} else {
		delete(c.m, key)
	}
}

func (c *revCache) drop(key string) { c.set(key, entry{}) }

// tryCached applies fn to the cached entry of key and writes the result under compare-and-swap.
// It reports done=false when there is no cached entry, when fn decides to write nothing or to
// purge, or when the swap loses; the caller then takes the path that reads first.
//
// fn may set *memo to the decoded form of the value it returns; it is cached with the value.
func (s *Store) tryCached(ctx context.Context, b *bucket, key string, o putOpts, fn func(cur entry, memo *any) ([]byte, bool, error)) (done bool, err error) {
	cur, ok := b.cache.get(key)
	if !ok {
		return false, nil
	}
	next, write, ferr := fn(cur, &o.memo)
	if !write || next == nil {
		return false, nil
	}
	_, err = s.put(ctx, b, key, next, cur.rev, o)
	if errors.Is(err, errMismatch) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	return true, ferr
}
