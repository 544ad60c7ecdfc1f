package tier

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

func TestDeleterExported(t *testing.T) {
	if _, err := NewDeleter(DeleterConfig{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no bucket: %v", err)
	}
	b, err := objstore.Open(context.Background(), "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := NewDeleter(DeleterConfig{Bucket: b, RetryBaseDelay: time.Second, RetryMaxDelay: time.Millisecond}); !errors.Is(err, ErrConfig) {
		t.Fatalf("base above max: %v", err)
	}
	reg := prometheus.NewRegistry()
	d, err := NewDeleter(DeleterConfig{Bucket: b, Logger: objstoretest.QuietLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/now1", "a/now2", "a/later"} {
		objstoretest.Put(t, b, k, []byte(k))
	}
	shared := SharedObjectKey("a", 1, time.Now())
	objstoretest.Put(t, b, shared, []byte("shared"))
	d.Schedule([]metadata.SegmentRef{{Key: "a/now1"}, {Key: "a/now2"}, {Key: shared, Position: 3, Size: 3}}, 0)
	d.Schedule([]metadata.SegmentRef{{Key: "a/later"}}, time.Hour)
	gone := func(k string) bool {
		_, err := b.Head(context.Background(), k)
		return errors.Is(err, objstore.ErrNotFound)
	}
	eventually(t, "objects past their grace deleted", func() bool { return gone("a/now1") && gone("a/now2") })
	if gone("a/later") {
		t.Fatal("an object inside its grace period was deleted")
	}
	if gone(shared) {
		t.Fatal("a range of a shared object dropped deleted the whole object")
	}
	if n := d.Pending(); n != 1 {
		t.Fatalf("pending %d, want 1", n)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if gone("a/later") {
		t.Fatal("Close deleted an object inside its grace period")
	}
}
