package tier

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
)

// countingSource counts the catalog reads that reach the store.
type countingSource struct {
	CatalogSource
	reads atomic.Int64
}

func (c *countingSource) GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error) {
	c.reads.Add(1)
	return c.CatalogSource.GetCatalog(ctx, tp)
}

// A CatalogCache answers repeated reads from memory once its watch runs, and a registration
// drops the entry so the next read sees the new segment.
func TestCatalogCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := natsmetatest.Store(t)
	if _, err := st.CreateTopic(ctx, metadata.Topic{Name: "cached", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterNode(ctx, metadata.Node{ID: 1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "cached"}
	l, err := st.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{CatalogSource: st}
	c := NewCatalogCache(src, time.Hour)
	defer c.Close()

	// Reads before the watch runs are not kept; once it runs, one read serves the next ones.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.GetCatalog(ctx, tp); err != nil {
			t.Fatal(err)
		}
		before := src.reads.Load()
		if _, err := c.GetCatalog(ctx, tp); err != nil {
			t.Fatal(err)
		}
		if src.reads.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never answered from memory")
		}
		time.Sleep(20 * time.Millisecond)
	}
	seg := metadata.SegmentRef{Key: "k/0", BaseOffset: 0, NextOffset: 10, Size: 100, Epoch: l.Epoch, MinTimestamp: -1, MaxTimestamp: -1}
	if err := st.RegisterSegment(ctx, tp, l.Epoch, seg); err != nil {
		t.Fatal(err)
	}
	for {
		cat, err := c.GetCatalog(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		if len(cat.Segments) == 1 && cat.Segments[0].Key == "k/0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache kept a catalog the store changed: %+v", cat)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// What the cache hands out is the caller's to change.
	cat, _ := c.GetCatalog(ctx, tp)
	cat.Segments[0].Key = "scribbled"
	if again, _ := c.GetCatalog(ctx, tp); again.Segments[0].Key != "k/0" {
		t.Fatalf("a caller's change reached the cache: %+v", again)
	}
}
