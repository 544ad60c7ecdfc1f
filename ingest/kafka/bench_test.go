package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkProduce measures the produce path end to end: a franz-go client over TCP producing 1 KiB
// records with acks=all (idempotent, fsync before the answer) into one partition on a real node.
// Allocations are the whole process's, client included.
func BenchmarkProduce(b *testing.B) {
	for _, bc := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"lz4", kgo.Lz4Compression()}} {
		b.Run(bc.name, func(b *testing.B) {
			n := startNode(b, nodeOpts{})
			n.createTopic(b, "bench", 1, nil)
			cl := n.client(b, kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerBatchCompression(bc.codec), kgo.MaxBufferedRecords(1<<16))
			value := make([]byte, 1024)
			for i := range value {
				value[i] = byte('a' + i%26)
			}
			ctx := context.Background()
			// Warm up: metadata, producer id, connections.
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			errs := make(chan error, 1)
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
		})
	}
}

// BenchmarkMetadata measures one Metadata request for a 16-partition topic against embedded NATS
// JetStream metadata (three store reads per request: nodes, leases, topics).
func BenchmarkMetadata(b *testing.B) {
	n := startNode(b, nodeOpts{})
	n.createTopic(b, "md", 16, nil)
	r := n.raw(b)
	_ = r.c.SetDeadline(time.Time{}) // long runs outlast the raw connection's default deadline
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = strp("md")
	req.Topics = append(req.Topics, rt)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp := r.roundTrip(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 16 {
			b.Fatal("bad metadata")
		}
	}
}
