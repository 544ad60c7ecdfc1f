package kafka

import (
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment"
)

// Fetch read buffers are reused once a response is written. Pipelined fetches on several
// connections, of partitions with different contents, must each get intact batches (CRC checked)
// at the offsets they asked for, however the buffers were recycled in between.
func TestFetchBufferReuseKeepsResponsesIntact(t *testing.T) {
	const parts, batches, perBatch = 3, 150, 50
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "reuse", parts, nil)
	prod := n.raw(t)
	for p := int32(0); p < parts; p++ {
		for i := 0; i < batches; i++ {
			if pr := prod.produceRaw("reuse", p, recordBatch(perBatch+int(p), -1, -1, -1), -1); pr.ErrorCode != 0 {
				t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
			}
		}
	}
	fetch := func(p int32, offset int64) *kmsg.FetchRequest {
		return fetchRequest("reuse", p, offset, 1<<20, 64<<10) // above the size written in place
	}
	var wg sync.WaitGroup
	for c := 0; c < 3; c++ {
		r := n.raw(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				var reqs []*kmsg.FetchRequest
				for p := int32(0); p < parts; p++ {
					off := int64((round*7 + c*13 + int(p)) % (batches * perBatch))
					req := fetch(p, off)
					reqs = append(reqs, req)
					r.send(req) // pipelined: responses come back in order
				}
				for _, req := range reqs {
					_, body, err := r.readFrame()
					if err != nil {
						t.Error(err)
						return
					}
					resp := req.ResponseKind().(*kmsg.FetchResponse)
					if err := resp.ReadFrom(body[1:]); err != nil {
						t.Error(err)
						return
					}
					rp := req.Topics[0].Partitions[0]
					sp := resp.Topics[0].Partitions[0]
					s := segment.NewSplitter(sp.RecordBatches)
					first := true
					for s.Next() {
						info := s.Info()
						if first && (info.BaseOffset > rp.FetchOffset || info.LastOffset() < rp.FetchOffset) {
							t.Errorf("partition %d at %d: first batch [%d, %d]", rp.Partition, rp.FetchOffset, info.BaseOffset, info.LastOffset())
						}
						if want := int32(perBatch + int(rp.Partition)); info.NumRecords != want {
							t.Errorf("partition %d: batch of %d records, want %d (another partition's bytes?)", rp.Partition, info.NumRecords, want)
						}
						first = false
					}
					if err := s.Err(); err != nil || first {
						t.Errorf("partition %d at %d: %v (batches: %v)", rp.Partition, rp.FetchOffset, err, !first)
					}
				}
			}
		}()
	}
	wg.Wait()
}
