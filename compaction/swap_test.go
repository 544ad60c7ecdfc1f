package compaction

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
)

// swapStore runs a hook around the worker's ReplaceSegments.
type swapStore struct {
	metadata.Store
	replace func(ctx context.Context, real func() error) error
}

func (s *swapStore) ReplaceSegments(ctx context.Context, tp metadata.TopicPartition, epoch int32, oldKeys []string, repl []metadata.SegmentRef) error {
	return s.replace(ctx, func() error { return s.Store.ReplaceSegments(ctx, tp, epoch, oldKeys, repl) })
}

var errTimeout = errors.New("metadata: request timed out")

func TestMergeSwapOutcomes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		// replace stands in for the store's ReplaceSegments; p is the partition.
		replace func(ctx context.Context, p *partition, real func() error) error
		merged  bool   // the merged object ends up in the catalog
		kept    bool   // the merged object is in the bucket
		counter string // errors{op} or aborted{reason} that must read 1
	}{
		{"swapped", func(_ context.Context, _ *partition, real func() error) error { return real() }, true, true, ""},
		{"swapped, answer lost", func(_ context.Context, _ *partition, real func() error) error {
			if err := real(); err != nil {
				return err
			}
			return errTimeout
		}, true, true, ""},
		{"not swapped, answer lost", func(context.Context, *partition, func() error) error { return errTimeout },
			false, true, "errors/replace"},
		{"retention moved first", func(ctx context.Context, p *partition, real func() error) error {
			if _, err := e.store.SetLogStartOffset(ctx, p.tp, p.lease.Epoch, 16); err != nil { // past the first segment
				return err
			}
			return real()
		}, false, false, "aborted/conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			ctx := context.Background()
			p := e.topic("swap-" + slug(tc.name))
			t.Cleanup(func() { e.store.ReleaseLease(context.Background(), p.lease) })
			e.addSegments(p, 4, 4, 4, 1000)
			before := e.catalog(p.tp).Segments
			w := e.worker(func(c *Config) {
				c.Store = &swapStore{Store: e.store, replace: func(ctx context.Context, real func() error) error {
					return tc.replace(ctx, p, real)
				}}
				c.Policy = Policy{SmallBytes: 64 << 10, TargetBytes: 1 << 20, MinInputs: 4}
			})
			res, err := w.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if (res.Merges == 1) != tc.merged {
				t.Fatalf("pass: %+v", res)
			}
			segs := e.catalog(p.tp).Segments
			var mergedKey string
			for _, k := range e.keys(p.id) {
				if isMergedKey(k) {
					mergedKey = k
				}
			}
			if (mergedKey != "") != tc.kept {
				t.Fatalf("merged object in the bucket: %q", mergedKey)
			}
			if tc.merged {
				if len(segs) != 1 || segs[0].Key != mergedKey || w.PendingDeletes() != 4 {
					t.Fatalf("catalog %v, pending deletes %d", catalogKeys(segs), w.PendingDeletes())
				}
			} else {
				want := catalogKeys(before)
				if tc.counter == "aborted/conflict" {
					want = want[1:] // the log start moved past the first segment
				}
				if !slices.Equal(catalogKeys(segs), want) || w.PendingDeletes() != 0 {
					t.Fatalf("catalog %v, want %v; pending deletes %d", catalogKeys(segs), want, w.PendingDeletes())
				}
			}
			switch tc.counter {
			case "errors/replace":
				if n := testutil.ToFloat64(w.m.errors.WithLabelValues("replace")); n != 1 {
					t.Fatalf("errors{replace} = %v", n)
				}
			case "aborted/conflict":
				if n := testutil.ToFloat64(w.m.aborted.WithLabelValues("conflict")); n != 1 {
					t.Fatalf("aborted{conflict} = %v", n)
				}
			}
			if tc.counter != "aborted/conflict" {
				e.checkCatalog(p.tp, p.end, catalogKeys(before)...)
			}
		})
	}
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z') {
			b[i] = '-'
		}
	}
	return string(b)
}
