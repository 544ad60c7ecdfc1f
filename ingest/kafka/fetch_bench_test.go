package kafka

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// BenchmarkFetchHot measures the hot consume path on the server: one Fetch (v12) of 4 partitions ×
// 4 MiB from offset 0, served from the hot log, encoded and written to a real TCP connection (the
// record sets by sendfile from the segment files). The client reads the raw frame into a reused
// buffer and does not decode it, so the figures are the server's plus the loopback copy — which,
// from sendfile's page-cache pages, is slower than from a written buffer: this client, with
// nothing else to do, reads faster from the copying path, while a real consumer (which decodes)
// gains from the server's lower CPU.
func BenchmarkFetchHot(b *testing.B) {
	const parts, perPart, valueBytes, perBatch = 4, 4 << 20, 1024, 16
	n := startNode(b, nodeOpts{})
	n.createTopic(b, "hot", parts, nil)
	r := n.raw(b)
	_ = r.c.SetDeadline(time.Time{})
	value := make([]byte, valueBytes)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	vals := make([][]byte, perBatch)
	for i := range vals {
		vals[i] = value
	}
	for p := int32(0); p < parts; p++ {
		for size := 0; size < perPart; size += perBatch * valueBytes {
			bt := segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1,
				BaseSequence: -1, Values: vals}.Encode()
			if pr := r.produceRaw("hot", p, bt, -1); pr.ErrorCode != 0 {
				b.Fatal(kerr.ErrorForCode(pr.ErrorCode))
			}
		}
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes, req.MaxWaitMillis = parts*perPart, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "hot"
	for p := int32(0); p < parts; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, perPart, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	var buf []byte
	fetch := func() int {
		r.send(req)
		var sz [4]byte
		if _, err := io.ReadFull(r.c, sz[:]); err != nil {
			b.Fatal(err)
		}
		n := int(binary.BigEndian.Uint32(sz[:]))
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(r.c, buf[:n]); err != nil {
			b.Fatal(err)
		}
		return n
	}
	size := fetch()
	if size < parts*perPart*9/10 {
		b.Fatalf("fetch returned %d bytes, want about %d", size, parts*perPart)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fetch()
	}
}
