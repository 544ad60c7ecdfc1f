package kafka

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// Large Produce requests sent back to back on one connection, before any answer is read, are
// answered in request order with contiguous offsets, and every record reads back as sent: a
// frame's buffer handed back to the pool and reused by a later request never leaks into the log.
// Half the requests arrive in small pieces with pauses, so frames are read both from the buffer
// and straight from the connection.
func TestPipelinedLargeProducesKeepOrderAndBytes(t *testing.T) {
	n := startNode(t, nodeOpts{})
	const topic, requests, perBatch = "pipelined", 12, 300
	n.createTopic(t, topic, 1, nil)
	r := n.raw(t)

	var sent [][]byte
	corrs := make([]int32, requests)
	for i := range requests {
		vals := make([][]byte, perBatch)
		for j := range vals {
			vals[j] = make([]byte, 1024)
			_, _ = rand.Read(vals[j])
			copy(vals[j], fmt.Sprintf("req %d rec %d", i, j))
		}
		sent = append(sent, vals...)
		batch := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, Values: vals}.Encode()
		r.corr++
		corrs[i] = r.corr
		frame := (&kmsg.RequestFormatter{}).AppendRequest(nil, produceRequest(topic, 0, batch, -1, 10000), r.corr)
		if i%2 == 0 {
			r.writeRaw(frame)
			continue
		}
		for len(frame) > 0 { // a slow sender: 40 KiB at a time
			k := min(len(frame), 40<<10)
			r.writeRaw(frame[:k])
			frame = frame[k:]
			time.Sleep(time.Millisecond)
		}
	}
	next := int64(0)
	for i, corr := range corrs {
		sp := r.readProduce(corr)
		if sp.ErrorCode != 0 || sp.BaseOffset != next {
			t.Fatalf("request %d: error %d, base offset %d; want 0 and %d", i, sp.ErrorCode, sp.BaseOffset, next)
		}
		next += perBatch
	}

	got := consumeAll(t, n, topic, 1, len(sent))
	if len(got) != len(sent) {
		t.Fatalf("consumed %d records, want %d", len(got), len(sent))
	}
	for i, rec := range got {
		if rec.Offset != int64(i) || !bytes.Equal(rec.Value, sent[i]) {
			t.Fatalf("record %d (offset %d) does not read back as sent: %.20q vs %.20q", i, rec.Offset, rec.Value, sent[i])
		}
	}
}

func TestFramePoolClasses(t *testing.T) {
	var fp framePool
	if b := fp.get(1 << 20); b != nil {
		t.Fatalf("an empty pool returned a buffer of capacity %d", cap(b))
	}
	for _, tc := range []struct {
		name      string
		put, want int // capacity handed back, size asked for
		served    bool
	}{
		{"exact power of two", 1 << 20, 1 << 20, true},
		{"smaller request same class", 1 << 20, 600 << 10, true},
		{"larger than every buffer of the class", 1<<20 + 100, 1<<20 + 1, false},
		{"small frames are not pooled", 16 << 10, 16 << 10, false},
		{"too large to pool", 128 << 20, 128 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fp framePool
			var b []byte
			// sync.Pool may drop a buffer (at a GC, or at random under the race detector): try a
			// few times before deciding it is not served.
			for range 50 {
				fp.put(make([]byte, 10, tc.put))
				if b = fp.get(tc.want); b != nil {
					break
				}
			}
			switch {
			case tc.served && b == nil:
				t.Fatalf("get(%d) after put(cap %d): nothing", tc.want, tc.put)
			case !tc.served && b != nil:
				t.Fatalf("get(%d) after put(cap %d): a buffer of capacity %d", tc.want, tc.put, cap(b))
			}
			if b != nil && (len(b) != 0 || cap(b) < tc.want) {
				t.Fatalf("get(%d): len %d cap %d", tc.want, len(b), cap(b))
			}
		})
	}
}
