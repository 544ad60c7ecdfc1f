package columnar_test

import (
	"bytes"
	"context"
	"errors"
	"os"
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
	v1, err := os.ReadFile("testdata/v1/json.parquet")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	rebuilt, _ := writeObject(f, jsonLogs(60, 20, 0), columnar.Options{ValueFormat: columnar.ValueJSONColumns, RowGroupBytes: 20000})
	f.Add(rebuilt)
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
			// The Fetch path's read (uncopied where it can be) gives the same bytes.
			view, _, err := o.BatchesShared(ctx, nil, from, 1<<20, columnar.CodecAsProduced)
			if err != nil || !bytes.Equal(view, got) {
				t.Fatalf("BatchesShared from %d: err %v, same bytes as Batches %v", from, err, bytes.Equal(view, got))
			}
		}
		if _, _, _, err := o.FindTimestamp(ctx, 0, base); err != nil && !errors.Is(err, segment.ErrCorrupt) {
			t.Fatalf("FindTimestamp: %v", err)
		}
	})
}

// FuzzJSONValues writes one value among JSON log records as json-columns, where values their columns
// rebuild are left out, and reads the batches back: byte for byte, whatever the value.
func FuzzJSONValues(f *testing.F) {
	for _, s := range []string{`{"time":"1","level":"info","service":"a","user":"u","latency_ms":1,"message":"m"}`,
		`{"level":"x\u0000y","latency_ms":1.0}`, `{"message":"\ud800"}`, `{"latency_ms":-0}`, `{"latency_ms":1E2}`,
		`{"level":"\t"}`, `{"time":null}`, `{"user":true}`, "{\"\xff\":1}", `{"":1}`, `{"a":1}`} {
		f.Add([]byte(s))
	}
	logs := jsonLogs(3, 3, 0)
	f.Fuzz(func(t *testing.T, v []byte) {
		if len(v) > 4096 { // a value of thousands of fields makes as many columns: slow, and no new path
			return
		}
		data := segment.AppendBatch(append([]byte(nil), logs...), segment.NewBatch{BaseOffset: 3, FirstTimestamp: 1, ProducerID: -1,
			ProducerEpoch: -1, BaseSequence: -1, Records: []segment.Record{{Timestamp: 1, Value: v}}})
		obj, _ := writeObject(t, data, columnar.Options{ValueFormat: columnar.ValueJSONColumns})
		got, err := open(t, obj).Batches(context.Background(), nil, 0, 1<<20, columnar.CodecAsProduced)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%q: batches not read back byte for byte (%v)", v, err)
		}
	})
}
