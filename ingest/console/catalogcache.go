package console

import (
	"context"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// catalogCache sums up each partition's catalog (catalogLines) from a tier.CatalogCache, so a topic
// of a thousand partitions is not a thousand catalog reads per page load.
type catalogCache struct {
	*tier.CatalogCache
}

func newCatalogCache(src Catalogs, ttl time.Duration) *catalogCache {
	return &catalogCache{tier.NewCatalogCache(src, ttl)}
}

// close stops the cache's watch and waits for it. Idempotent.
func (c *catalogCache) close() { c.Close() }

// get returns tp's catalog lines.
func (c *catalogCache) get(ctx context.Context, tp metadata.TopicPartition) catalogLines {
	return readLines(ctx, c.CatalogCache, tp)
}

// readLines reads tp's catalog and sums it up.
func readLines(ctx context.Context, src interface {
	GetCatalog(context.Context, metadata.TopicPartition) (metadata.PartitionCatalog, error)
}, tp metadata.TopicPartition) catalogLines {
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
