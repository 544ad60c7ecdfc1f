package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// validObject returns a sealed segment of n batches of 2 records from offset 0.
func validObject(tb testing.TB, n int) []byte {
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, 0, 256)
	for i := range n {
		if _, err := w.Append(segmenttest.Records(int64(2*i), int64(1000+i), 2, 50)); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := w.Seal(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadObject serves arbitrary object bytes through the Reader (file bucket, in-memory catalog):
// every read either fails or returns whole, CRC-valid batches; a failure about the bytes wraps
// segment.ErrCorrupt; nothing panics.
func FuzzReadObject(f *testing.F) {
	good := validObject(f, 20)
	f.Add(good, uint16(40), uint16(0), uint16(1000))
	f.Add(good[:len(good)-1], uint16(40), uint16(3), uint16(10))
	flipped := bytes.Clone(good)
	flipped[200] ^= 1
	f.Add(flipped, uint16(40), uint16(0), uint16(1<<15))
	f.Add([]byte("STRATSEG"), uint16(1), uint16(0), uint16(1))

	ctx := context.Background()
	st, err := memmeta.New(memmeta.Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	b, err := objstore.NewFile(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	r, err := NewReader(ReaderConfig{Bucket: b, Store: st, BlockSize: 4 << 10, CacheBytes: 1 << 20, Logger: objstoretest.QuietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, next, offset, maxBytes uint16) {
		if len(data) == 0 || next == 0 {
			return
		}
		n++
		top, err := st.CreateTopic(ctx, metadata.Topic{Name: fmt.Sprintf("fuzz-%d", n), Partitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		tp := metadata.TopicPartition{Topic: top.Name}
		key := ObjectKey("", top.ID, 0, 0, 1)
		if err := b.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		ref := metadata.SegmentRef{Key: key, BaseOffset: 0, NextOffset: int64(next), Size: int64(len(data)), MinTimestamp: -1, MaxTimestamp: -1}
		if err := st.RegisterSegment(ctx, tp, 1, ref); err != nil {
			t.Fatal(err)
		}
		out, err := r.Read(ctx, tp, top.ID, int64(offset%next), int(maxBytes))
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error about object bytes does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		s := segment.NewSplitter(out)
		got := 0
		for s.Next() {
			got++
		}
		if s.Err() != nil || got == 0 {
			t.Fatalf("read returned %d batches, err %v", got, s.Err())
		}
	})
}
