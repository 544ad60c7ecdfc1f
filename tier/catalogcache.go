package tier

import (
	"context"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// CatalogSource is what a CatalogCache reads and watches.
type CatalogSource interface {
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	metadata.CatalogWatcher
}

// CatalogCache keeps partition catalogs read for views that look at many partitions at once (a
// cost report, a console page of a thousand-partition topic), so that each look is not a metadata
// read per partition. A watch on the catalogs (metadata.CatalogWatcher) drops an entry as soon as
// its catalog changes; entries also expire after the TTL, which bounds how stale a view can be
// should the watch miss a change. Until the watch runs, and after it ends, nothing is cached.
//
// One goroutine, started by NewCatalogCache and stopped by Close, owns the watch. A CatalogCache is
// safe for concurrent use. (Reader keeps a cache of its own, which answers by offset.)
type CatalogCache struct {
	src CatalogSource
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	watching bool
	entries  map[metadata.TopicPartition]cachedCatalog
	// gen counts the drops of each partition's entry (and all is bumped for a drop of every
	// entry), so a read that began before a drop does not store what it read.
	gen map[metadata.TopicPartition]uint64
	all uint64

	cancel context.CancelFunc
	done   chan struct{}
}

type cachedCatalog struct {
	cat     metadata.PartitionCatalog
	expires time.Time
}

// NewCatalogCache starts a cache over src whose entries live at most ttl.
func NewCatalogCache(src CatalogSource, ttl time.Duration) *CatalogCache {
	ctx, cancel := context.WithCancel(context.Background())
	c := &CatalogCache{src: src, ttl: ttl, now: time.Now, entries: map[metadata.TopicPartition]cachedCatalog{},
		gen: map[metadata.TopicPartition]uint64{}, cancel: cancel, done: make(chan struct{})}
	go c.watch(ctx)
	return c
}

// watch drops entries whose catalog changed, until ctx ends.
func (c *CatalogCache) watch(ctx context.Context) {
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

func (c *CatalogCache) stopCaching() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watching = false
	clear(c.entries)
	c.all++
}

// Close stops the watch and waits for it. Idempotent.
func (c *CatalogCache) Close() {
	c.cancel()
	<-c.done
}

// GetCatalog returns tp's catalog, from the cache when fresh, else read (and cached while the
// watch runs). The catalog is the caller's (a copy).
func (c *CatalogCache) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	c.mu.Lock()
	e, ok := c.entries[tp]
	gen, all, watching := c.gen[tp], c.all, c.watching
	c.mu.Unlock()
	if ok && c.now().Before(e.expires) {
		return e.cat.Clone(), nil
	}
	cat, err := c.src.GetCatalog(ctx, tp)
	if err != nil || !watching {
		return cat, err
	}
	c.mu.Lock()
	if c.watching && c.gen[tp] == gen && c.all == all {
		c.entries[tp] = cachedCatalog{cat: cat.Clone(), expires: c.now().Add(c.ttl)}
	}
	c.mu.Unlock()
	return cat, nil
}
