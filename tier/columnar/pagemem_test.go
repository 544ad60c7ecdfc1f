package columnar_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/columnar/columnartest"
	"github.com/strata-log/strata/tier/segment"
)

// Page buffers go back to a shared pool when a column chunk is read, and come out of it zeroed
// for the next: a read that still used one would see it change under it. Readers of different
// objects on several goroutines, over and over, each get back exactly the batches that were
// written.
func TestConcurrentReadsKeepTheirPages(t *testing.T) {
	objs := make([][]byte, 4)
	datas := make([][]byte, len(objs))
	for i := range objs {
		g := columnartest.NewLogs(uint64(i + 1))
		ts := int64(1_780_000_000_000)
		var data []byte
		for base := 0; base < 3000; base += 100 {
			var recs []segment.Record
			for j := range 100 {
				k, v := g.Next(ts+int64(base+j), 1024)
				recs = append(recs, segment.Record{Timestamp: ts + int64(base+j), Key: k, Value: v})
			}
			data = segment.AppendBatch(data, segment.NewBatch{BaseOffset: int64(base), FirstTimestamp: recs[0].Timestamp, Records: recs})
		}
		datas[i] = data
		objs[i], _ = writeObject(t, data, columnar.Options{ValueFormat: columnar.ValueJSON, RowGroupBytes: 256 << 10})
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(objs))
	for i := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 5 {
				o, err := columnar.Open(bytes.NewReader(objs[i]), int64(len(objs[i])))
				if err != nil {
					errs <- err
					return
				}
				var got []byte
				for off := int64(0); off < 3000; {
					b, err := o.Batches(context.Background(), nil, off, 128<<10, columnar.CodecAsProduced)
					if err != nil || len(b) == 0 {
						errs <- fmt.Errorf("object %d, round %d, from %d: %d bytes, %v", i, round, off, len(b), err)
						return
					}
					for s := segment.NewSplitter(b); s.Next(); {
						off = s.Info().NextOffset()
					}
					got = append(got, b...)
				}
				if !bytes.Equal(got, datas[i]) {
					errs <- fmt.Errorf("object %d, round %d: the batches read differ from those written", i, round)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
