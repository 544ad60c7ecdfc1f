package console

import (
	"context"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// catalogCache keeps what each partition's catalog says (catalogLines) so a topic of a thousand
// partitions is not a thousand catalog reads per page load. A watch on the catalogs
// (metadata.CatalogWatcher) drops an entry as soon as its catalog changes; entries also expire
// after ttl, which bounds how stale a view can be should the watch miss a change. Until the watch
// runs, and after it ends, nothing is cached.
//
// One goroutine, started by newCatalogCache and stopped by close, owns the watch; the map is
// shared under mu with the readers.
type catalogCache struct {
	src Catalogs
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	watching bool
	entries  map[metadata.TopicPartition]cachedLines
	// gen counts the drops of each partition's entry (and all is bumped for a drop of every
	// entry), so a read that began before a drop does not store what it read.
	gen map[metadata.TopicPartition]uint64
	all uint64

	cancel context.CancelFunc
	done   chan struct{}
}

type cachedLines struct {
	lines   catalogLines
	expires time.Time
}

func newCatalogCache(src Catalogs, ttl time.Duration) *catalogCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &catalogCache{src: src, ttl: ttl, now: time.Now, entries: map[metadata.TopicPartition]cachedLines{},
		gen: map[metadata.TopicPartition]uint64{}, cancel: cancel, done: make(chan struct{})}
	go c.watch(ctx)
	return c
}

// watch drops entries whose catalog changed, until ctx ends or the watch does.
func (c *catalogCache) watch(ctx context.Context) {
	defer close(c.done)
	defer c.stopCaching()
	for ctx.Err() == nil {
		changes, err := c.src.WatchCatalogs(ctx)
		if err != nil {
			select { // the store may be starting or failing over: try again shortly, uncached meanwhile
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		c.mu.Lock()
		c.watching = true
		c.mu.Unlock()
		for tp := range changes {
			c.mu.Lock()
			delete(c.entries, tp)
			c.gen[tp]++
			c.mu.Unlock()
		}
		c.stopCaching() // the watch ended: changes from now on would go unseen
	}
}

func (c *catalogCache) stopCaching() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watching = false
	clear(c.entries)
	c.all++
}

// close stops the watch and waits for it. Idempotent.
func (c *catalogCache) close() {
	c.cancel()
	<-c.done
}

// get returns tp's catalog lines, from the cache when fresh, else read (and cached when the
// watch runs).
func (c *catalogCache) get(ctx context.Context, tp metadata.TopicPartition) catalogLines {
	c.mu.Lock()
	e, ok := c.entries[tp]
	gen, all, watching := c.gen[tp], c.all, c.watching
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.lines
	}
	lines := readLines(ctx, c.src, tp)
	if lines.err != nil || !watching {
		return lines
	}
	c.mu.Lock()
	if c.watching && c.gen[tp] == gen && c.all == all {
		c.entries[tp] = cachedLines{lines: lines, expires: c.now().Add(c.ttl)}
	}
	c.mu.Unlock()
	return lines
}

// readLines reads tp's catalog and sums it up.
func readLines(ctx context.Context, src Catalogs, tp metadata.TopicPartition) catalogLines {
	cat, err := src.GetCatalog(ctx, tp)
	if err != nil {
		return catalogLines{err: err}
	}
	l := catalogLines{tiered: -1, start: cat.LogStartOffset, segs: len(cat.Segments)}
	if n := len(cat.Segments); n > 0 {
		l.tiered = cat.Segments[n-1].NextOffset
	}
	for _, seg := range cat.Segments {
		l.bytes += seg.Size
	}
	return l
}
