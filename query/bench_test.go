package query

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// BenchmarkParquetQueries runs queries over a Parquet topic of 40,000 JSON log records of about
// 1 KiB spread over a day (one partition, in a file bucket): what a query costs on Strata's side
// beyond the engine's own work.
func BenchmarkParquetQueries(b *testing.B) {
	ctx := context.Background()
	store, bucket := newStoreAndBucket(b)
	const n, perBatch = 40_000, 100
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	day := int64(24 * time.Hour / time.Millisecond)
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"connection", "reset", "timeout", "user", "login", "cache", "miss", "served", "slow", "query"}
	var seg bytes.Buffer
	sw := segment.NewWriter(&seg, 0, 0)
	for base := int64(0); base < n; base += perBatch {
		var recs []segment.Record
		for o := base; o < base+perBatch; o++ {
			var msg []byte
			for len(msg) < 900 {
				msg = append(msg, words[rng.IntN(len(words))]...)
				msg = append(msg, ' ')
			}
			recs = append(recs, segment.Record{Timestamp: t0 + o*day/n, Key: fmt.Appendf(nil, "u-%05d", rng.IntN(10000)),
				Value: fmt.Appendf(nil, `{"level":"info","svc":"api","latency":%d,"msg":%q}`, rng.IntN(1000), msg)})
		}
		if _, err := sw.Append(segment.AppendBatch(nil, segment.NewBatch{BaseOffset: base, FirstTimestamp: t0 + base*day/n,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := sw.Seal(); err != nil {
		b.Fatal(err)
	}
	obj, st := toParquet(b, seg.Bytes(), n, columnar.Options{})
	putObject(b, store, bucket, "logs", metadata.FormatParquet, obj, n, st)
	reader, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reader.Close() })
	tail := &leaderTail{batches: map[int32][][]byte{}, hw: map[int32]int64{0: n}}
	e, err := New(Config{Topics: store, Catalogs: store, Objects: reader, Tail: tail, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, stmt string }{
		{"count", `SELECT count(*) FROM logs`},
		{"groupby_minute", `SELECT time_bucket(INTERVAL 1 MINUTE, timestamp) AS m, count(*) FROM logs GROUP BY m`},
		{"text", `SELECT count(*) FROM logs WHERE value ILIKE '%connection reset%'`},
		{"key", `SELECT count(*) FROM logs WHERE key = 'u-00042'`},
	} {
		b.Run(q.name, func(b *testing.B) {
			var bytesRead int64
			for b.Loop() {
				res, err := e.Query(ctx, q.stmt)
				if err != nil {
					b.Fatal(err)
				}
				for res.Next() {
				}
				if err := res.Err(); err != nil {
					b.Fatal(err)
				}
				bytesRead = res.Stats().Segment.Bytes
				res.Close()
			}
			b.ReportMetric(float64(bytesRead), "bytes_read/op")
		})
	}
}
