package objstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

var benchSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"4MiB", 4 << 20}}

// benchBuckets opens one bucket per backend: file, and s3 and minio on one MinIO server.
func benchBuckets(b *testing.B) map[string]objstore.Bucket {
	m := objstoretest.StartMinIO(b)
	file, err := objstore.NewFile(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { file.Close() })
	return map[string]objstore.Bucket{
		"file":  file,
		"s3":    m.Open(b, m.S3URL(newBucketName("bench-s3"))),
		"minio": m.Open(b, m.MinioURL(newBucketName("bench-minio"))),
	}
}

// BenchmarkPut reports the latency (ns/op) and throughput (MB/s) of one Put.
func BenchmarkPut(b *testing.B) {
	buckets := benchBuckets(b)
	for _, name := range []string{"file", "s3", "minio"} {
		for _, sz := range benchSizes {
			b.Run(name+"/"+sz.name, func(b *testing.B) {
				bk := buckets[name]
				data := objstoretest.Bytes(1, sz.n)
				r := bytes.NewReader(data)
				b.SetBytes(int64(sz.n))
				i := 0
				for b.Loop() {
					key := fmt.Sprintf("put/%s/%d", sz.name, i%64)
					if err := bk.Put(context.Background(), key, r, int64(sz.n)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkGet reports the latency (ns/op) and throughput (MB/s) of one Get read to the end.
func BenchmarkGet(b *testing.B) {
	buckets := benchBuckets(b)
	for _, name := range []string{"file", "s3", "minio"} {
		for _, sz := range benchSizes {
			b.Run(name+"/"+sz.name, func(b *testing.B) {
				bk := buckets[name]
				key := "get/" + sz.name
				objstoretest.Put(b, bk, key, objstoretest.Bytes(2, sz.n))
				buf := make([]byte, 64<<10)
				b.SetBytes(int64(sz.n))
				for b.Loop() {
					rc, err := bk.Get(context.Background(), key)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.CopyBuffer(io.Discard, rc, buf)
					rc.Close()
					if err != nil || n != int64(sz.n) {
						b.Fatalf("read %d bytes: %v", n, err)
					}
				}
			})
		}
	}
}
