//go:build unix

package compat

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkBroker measures the broker under test (strata built from ./cmd/strata, or
// STRATA_COMPAT_BOOTSTRAP, e.g. Apache Kafka from bench/kafka) through franz-go over loopback
// TCP: idempotent acks=all produce of 100-byte records to 3 partitions, then a group-less
// consume of the same records from the start. Compare the two brokers with benchstat.
func BenchmarkBroker(b *testing.B) {
	br := startBroker(b, nil)
	defer br.stop(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	payload := make([]byte, 100)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}

	var produced int64 // records in the topic used by consume
	topic := topicName("bench")
	if err := createTopic(ctx, br.addr, topic); err != nil {
		b.Fatal(err)
	}

	b.Run("produce", func(b *testing.B) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.addr), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		var failed atomic.Int64
		var firstErr atomic.Value
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Key: []byte(key(i)), Value: payload}, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d of %d records failed, first: %v", n, b.N, firstErr.Load())
		}
		produced += int64(b.N)
	})

	b.Run("consume", func(b *testing.B) {
		if produced < int64(b.N) {
			// Top up so there are at least b.N records to read.
			fill(ctx, b, br.addr, topic, payload, int64(b.N)-produced)
			produced = int64(b.N)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(br.addr), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		b.SetBytes(int64(len(payload)))
		b.ResetTimer()
		for got := 0; got < b.N; {
			fetches := cl.PollFetches(ctx)
			if err := fetches.Err0(); err != nil {
				b.Fatalf("after %d records: %v", got, err)
			}
			got += fetches.NumRecords()
		}
	})
}

func fill(ctx context.Context, b *testing.B, addr, topic string, payload []byte, n int64) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	for i := int64(0); i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: payload}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(fmt.Errorf("fill: %w", err))
	}
}
