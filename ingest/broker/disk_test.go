package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

// Below the reserve a node refuses appends with KAFKA_STORAGE_ERROR (a retriable code) without
// touching the log, says so in DiskErr (for /readyz), and accepts again once the free space is back
// above the resume level; a write's ENOSPC makes it full at once. Nothing appended is lost and the
// partition keeps its leader throughout.
func TestDiskFullRefusesAppendsAndRecovers(t *testing.T) {
	st, _ := newMemStore(t)
	ctx := context.Background()
	b := newBroker(t, st, 1, "")
	tp := metadata.TopicPartition{Topic: "d"}
	if _, err := adminOf(t, b).CreateTopic(ctx, topics.Spec{Name: "d", Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	var free atomic.Int64
	free.Store(1 << 30)
	b.disk = &diskGuard{path: "data", reserve: 64 << 20, free: func(string) (int64, error) { return free.Load(), nil }}
	epoch := b.Epoch(tp)

	b.checkDisk()
	if _, err := b.Append(ctx, tp, batch(2, -1, -1, -1)); err != nil {
		t.Fatalf("append with room: %v", err)
	}

	free.Store(10 << 20)
	b.checkDisk()
	if b.DiskErr() == nil {
		t.Fatal("DiskErr nil below the reserve")
	}
	_, err := b.Append(ctx, tp, batch(2, -1, -1, -1))
	mustCode(t, err, kerr.KafkaStorageError)
	if end := b.parts[tp].log.EndOffset(); end != 2 {
		t.Fatalf("log end %d after a refused append, want 2", end)
	}

	// Above the reserve but below the resume level: still full (no flapping at the line).
	free.Store(64<<20 + 1<<20)
	b.checkDisk()
	if b.DiskErr() == nil {
		t.Fatal("full state left below the resume level")
	}
	free.Store(b.disk.resumeAt())
	b.checkDisk()
	if err := b.DiskErr(); err != nil {
		t.Fatalf("still full at the resume level: %v", err)
	}
	if r, err := b.Append(ctx, tp, batch(2, -1, -1, -1)); err != nil || r.BaseOffset != 2 {
		t.Fatalf("append after recovery: %+v %v", r, err)
	}

	// A write that failed for lack of space makes the node full without waiting for the check.
	b.noteWriteError(fmt.Errorf("hotlog: append: %w", syscall.ENOSPC))
	_, err = b.Append(ctx, tp, batch(1, -1, -1, -1))
	mustCode(t, err, kerr.KafkaStorageError)
	b.noteWriteError(fmt.Errorf("hotlog: append: %w", syscall.EIO)) // not a space problem: no change
	b.checkDisk()
	if err := b.DiskErr(); err != nil {
		t.Fatalf("still full with room after ENOSPC: %v", err)
	}
	if got := b.Epoch(tp); got != epoch {
		t.Fatalf("leader epoch moved from %d to %d", epoch, got)
	}
}
