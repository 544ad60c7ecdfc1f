package columnar_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// FuzzObject reads arbitrary bytes as an object: Open, Batches from every row, FindTimestamp.
// Nothing may panic; every error wraps segment.ErrCorrupt (or ErrOutOfRange for a from outside the
// range); every batch returned is valid.
func FuzzObject(f *testing.F) {
	data, _ := testBatches(f)
	obj, _ := writeObject(f, data, columnar.Options{RowGroupBytes: 300})
	f.Add(obj)
	small, _ := writeObject(f, data[:segment.WholeBatches(data[:400])], columnar.Options{})
	f.Add(small)
	f.Add(obj[len(obj)-400:])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := columnar.Open(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		base, next := o.Range()
		ctx := context.Background()
		for _, from := range []int64{base, base + (next-base)/2, next - 1} {
			got, err := o.Batches(ctx, nil, from, 1<<20, columnar.CodecAsProduced)
			if err != nil {
				if !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("Batches from %d: %v", from, err)
				}
				continue
			}
			s := segment.NewSplitter(got)
			for s.Next() {
				if _, err := segment.ValidateBatch(s.Batch()); err != nil {
					t.Fatalf("rebuilt batch: %v", err)
				}
			}
		}
		if _, _, _, err := o.FindTimestamp(ctx, 0, base); err != nil && !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("FindTimestamp: %v", err)
		}
	})
}
