package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

var bucketSeq atomic.Int64

// newBucketName returns a bucket name no other test in this process uses.
func newBucketName(kind string) string {
	return fmt.Sprintf("%s-%d", kind, bucketSeq.Add(1))
}

// smallParts makes the suite's large object a three-part multipart upload.
var smallParts = objstore.WithPartSize(5 << 20)

func TestS3Acceptance(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		return m.Open(t, m.S3URL(newBucketName("s3")), smallParts)
	})
}

func TestS3PrefixAcceptance(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		return m.Open(t, m.S3URL(newBucketName("s3p")+"/tenant/a"), smallParts)
	})
}

// TestS3SignedBodyAcceptance runs the suite with checksum=sha256: bodies signed, no CRC32C.
func TestS3SignedBodyAcceptance(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		return m.Open(t, m.S3URL(newBucketName("s3sig"))+"&checksum=sha256", smallParts)
	})
}

func TestMinioAcceptance(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		return m.Open(t, m.MinioURL(newBucketName("minio")), smallParts)
	})
}

// backends names the two S3 clients and how to reach a bucket on m through each.
var backends = []struct {
	name string
	url  func(m *objstoretest.MinIO, bucket string) string
}{
	{"s3", (*objstoretest.MinIO).S3URL},
	{"minio", (*objstoretest.MinIO).MinioURL},
}

// TestServerDownAndBack stops MinIO under live buckets: every call fails (with the retry
// decorator, after its whole budget), and calls succeed again once the server is back.
func TestServerDownAndBack(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			raw := m.Open(t, be.url(m, newBucketName("fault")))
			fb := objstoretest.NewFaultBucket(raw)
			b := objstore.WithRetry(fb, objstore.RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
			objstoretest.Put(t, b, "before", []byte("kept"))

			m.Stop()
			// Without retries: one failed attempt, retryable, not mistaken for an answer.
			_, err := raw.Head(ctx, "before")
			if err == nil || errors.Is(err, objstore.ErrNotFound) || !objstore.Retryable(err) {
				t.Fatalf("Head with the server down: %v; want a retryable failure", err)
			}
			// With retries: each call fails after exactly MaxAttempts tries.
			calls := func() int {
				n := 0
				for _, op := range []string{objstoretest.OpPut, objstoretest.OpGet, objstoretest.OpHead, objstoretest.OpList, objstoretest.OpDelete} {
					n += fb.Calls(op)
				}
				return n
			}
			ops := map[string]func() error{
				"put":    func() error { return b.Put(ctx, "during", strings.NewReader("x"), 1) },
				"get":    func() error { _, err := b.Get(ctx, "before"); return err },
				"head":   func() error { _, err := b.Head(ctx, "before"); return err },
				"list":   func() error { return b.List(ctx, "", func(objstore.Attrs) error { return nil }) },
				"delete": func() error { return b.Delete(ctx, "before") },
			}
			for name, op := range ops {
				before := calls()
				err := op()
				if err == nil || errors.Is(err, objstore.ErrNotFound) {
					t.Fatalf("%s with the server down: %v", name, err)
				}
				if n := calls() - before; n != 3 {
					t.Fatalf("%s with the server down: %d attempts, want 3 (%v)", name, n, err)
				}
			}

			m.Start()
			if got := objstoretest.Get(t, b, "before"); string(got) != "kept" {
				t.Fatalf("after restart: %q", got)
			}
			objstoretest.Put(t, b, "after", []byte("new"))

			// The server comes back between two attempts: the retried call succeeds.
			m.Stop()
			restarted := false
			fb.AfterCall(func(op string, err error) {
				if err != nil && !restarted {
					restarted = true
					m.Start()
				}
			})
			before := fb.Calls(objstoretest.OpPut)
			objstoretest.Put(t, b, "across", []byte("restart"))
			fb.AfterCall(nil)
			if n := fb.Calls(objstoretest.OpPut) - before; !restarted || n != 2 {
				t.Fatalf("Put across a restart: %d attempts (restarted %v), want 2", n, restarted)
			}
			if got := objstoretest.Get(t, raw, "across"); string(got) != "restart" {
				t.Fatalf("across = %q", got)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	creds := objstore.WithCredentials("k", "secret")
	tests := []struct {
		url  string
		want string // in the message
	}{
		{"", "no scheme"},
		{"ftp://host/x", `unknown scheme "ftp"`},
		{"file://relative/dir", "absolute"},
		{"file:relative", "absolute"},
		{"file://", "absolute"},
		{"file:///tmp/x?opt=1", "no query"},
		{"s3:///prefix", "no bucket"},
		{"s3://Bad_Bucket", "bucket name"},
		{"s3://ab", "bucket name"},
		{"s3://bucket?endpoint=127.0.0.1:9000", "endpoint"},
		{"s3://bucket?endpoint=ftp://h", "endpoint"},
		{"s3://bucket?acess_key=x", "unknown parameter"},
		{"s3://bucket/a/../b", "prefix"},
		{"s3://bucket?path_style=maybe", "path_style"},
		{"s3://bucket?checksum=md5", "checksum"},
		{"minio://host:9000", "no bucket"},
		{"minio:///bucket", "no host"},
		{"minio://u:p@host:9000/bucket", "credentials"},
		{"minio://host:9000/bucket?secure=perhaps", "secure"},
		{"minio://host:9000/bucket?endpoint=x", "unknown parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			b, err := objstore.Open(ctx, tc.url, creds)
			if err == nil {
				b.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if !errors.Is(err, objstore.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q) = %v; want ErrConfig mentioning %q", tc.url, err, tc.want)
			}
		})
	}
	if _, err := objstore.Open(ctx, "file:///x", objstore.WithPartSize(1<<20)); !errors.Is(err, objstore.ErrConfig) {
		t.Fatalf("part size below 5 MiB: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	addr := "127.0.0.1:1" // nothing listens on port 1
	for _, u := range []string{"s3://bucket?endpoint=http://" + addr, "minio://" + addr + "/bucket?secure=false"} {
		_, err := objstore.Open(context.Background(), u, objstore.WithCredentials("k", "secret-key"))
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), addr) {
			t.Errorf("Open(%q) = %v; want an error naming the unreachable endpoint", u, err)
		}
	}
}

func TestOpenCredentials(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	ctx := context.Background()
	for _, be := range backends {
		t.Run(be.name+"/wrong", func(t *testing.T) {
			_, err := objstore.Open(ctx, be.url(m, newBucketName("creds")), objstore.WithCredentials(m.AccessKey(), "wrong-secret"))
			t.Log(err)
			if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
				t.Fatalf("Open with a wrong secret: %v; want ErrAccessDenied naming the variables", err)
			}
		})
		t.Run(be.name+"/aws-env", func(t *testing.T) {
			m.SetEnv(t)
			b, err := objstore.Open(ctx, be.url(m, newBucketName("env")))
			if err != nil {
				t.Fatalf("Open with AWS_* credentials: %v", err)
			}
			defer b.Close()
			objstoretest.Put(t, b, "k", []byte("v"))
		})
	}
	t.Run("s3/none", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_PROFILE", "")
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
		t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
		_, err := objstore.Open(ctx, m.S3URL("nocreds"))
		t.Log(err)
		if !errors.Is(err, objstore.ErrConfig) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Fatalf("Open without credentials: %v", err)
		}
	})
	t.Run("minio/root-env", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("MINIO_ROOT_USER", m.AccessKey())
		t.Setenv("MINIO_ROOT_PASSWORD", m.SecretKey())
		b, err := objstore.Open(ctx, m.MinioURL(newBucketName("root")))
		if err != nil {
			t.Fatalf("Open with MINIO_ROOT_* credentials: %v", err)
		}
		b.Close()
	})
}

// TestPrefixIsTransparent: objects written through a URL with a prefix sit under it in the bucket,
// and the prefixed bucket never shows it.
func TestPrefixIsTransparent(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			name := newBucketName("prefix")
			whole := m.Open(t, be.url(m, name))
			pre := m.Open(t, be.url(m, name+"/tenant/one"))
			objstoretest.Put(t, pre, "k/v", []byte("x"))
			objstoretest.Put(t, whole, "outside", []byte("y"))
			if got := objstoretest.Get(t, whole, "tenant/one/k/v"); string(got) != "x" {
				t.Fatalf("whole bucket: %q", got)
			}
			var keys []string
			err := pre.List(context.Background(), "", func(a objstore.Attrs) error { keys = append(keys, a.Key); return nil })
			if err != nil || strings.Join(keys, ",") != "k/v" {
				t.Fatalf("prefixed List = %q, %v; want [k/v]", keys, err)
			}
			if a, err := pre.Head(context.Background(), "k/v"); err != nil || a.Key != "k/v" {
				t.Fatalf("prefixed Head = %+v, %v", a, err)
			}
		})
	}
}

// TestMultipartUsed checks, from a separate client, that the large object went up in parts and
// the small one did not.
func TestMultipartUsed(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	direct, err := minio.New(m.Addr(), &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey(), m.SecretKey(), "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			name := newBucketName("mp")
			b := m.Open(t, be.url(m, name), smallParts, objstore.WithPartConcurrency(3))
			objstoretest.Put(t, b, "large", objstoretest.Bytes(1, 11<<20))
			objstoretest.Put(t, b, "edge", objstoretest.Bytes(2, 5<<20)) // exactly one part: single PUT
			for key, want := range map[string]string{"large": "-3", "edge": ""} {
				info, err := direct.StatObject(context.Background(), name, key, minio.StatObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
				suffix := ""
				if i := strings.LastIndexByte(info.ETag, '-'); i >= 0 {
					suffix = info.ETag[i:]
				}
				if suffix != want {
					t.Fatalf("%s: ETag %q, want a multipart suffix %q", key, info.ETag, want)
				}
			}
		})
	}
}

// TestS3MultipartConditionalComplete: the conditional write of a multipart upload is decided by
// CompleteMultipartUpload, and the losing upload is aborted.
func TestS3MultipartConditionalComplete(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	name := newBucketName("mpc")
	b := m.Open(t, m.S3URL(name), smallParts)
	data := objstoretest.Bytes(5, 6<<20)
	objstoretest.Put(t, b, "k", []byte("first"))
	err := objstore.PutMultipartConditional(context.Background(), b, "k", bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("conditional multipart over an existing key: %v, want ErrExists", err)
	}
	if got := objstoretest.Get(t, b, "k"); string(got) != "first" {
		t.Fatalf("k = %q after the refused upload", got)
	}
	if err := objstore.PutMultipartConditional(context.Background(), b, "new", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("conditional multipart to a free key: %v", err)
	}
	direct, err := minio.New(m.Addr(), &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey(), m.SecretKey(), "")})
	if err != nil {
		t.Fatal(err)
	}
	for up := range direct.ListIncompleteUploads(context.Background(), name, "k", true) {
		t.Fatalf("upload left behind: %+v", up)
	}
}

// flipReader changes one byte of what it passes on.
type flipReader struct {
	r   io.ReadCloser
	at  int64 // offset of the byte to flip
	pos int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.pos && f.at < f.pos+int64(n) {
		p[f.at-f.pos] ^= 0xff
	}
	f.pos += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// TestCorruptedUploadRejected puts objects through a proxy that flips one byte of every upload
// body on its way to MinIO. The s3 backend does not hash bodies into the signature, so there only
// the CRC32C checksum each Put sends can catch it (the minio backend, and s3 with checksum=sha256,
// sign the body's SHA-256).
// Both backends must fail the Put (single and multipart) and leave nothing under the key.
func TestCorruptedUploadRejected(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	target, err := url.Parse(m.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host // the signature covers Host
		if pr.Out.Method == http.MethodPut && pr.Out.Body != nil && pr.Out.Body != http.NoBody {
			pr.Out.Body = &flipReader{r: pr.Out.Body, at: 100}
		}
	}}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")

	ctx := context.Background()
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"s3", strings.Replace(m.S3URL(newBucketName("flip")), url.QueryEscape(m.Endpoint()), url.QueryEscape(srv.URL), 1)},
		{"s3-sha256", strings.Replace(m.S3URL(newBucketName("flip")), url.QueryEscape(m.Endpoint()), url.QueryEscape(srv.URL), 1) + "&checksum=sha256"},
		{"minio", strings.Replace(m.MinioURL(newBucketName("flip")), m.Addr(), hostPort, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := m.Open(t, tc.url, smallParts)
			for _, size := range []int{64 << 10, 11 << 20} {
				key := fmt.Sprintf("obj-%d", size)
				data := bytes.Repeat([]byte("strata"), size/6+1)[:size]
				if err := b.Put(ctx, key, bytes.NewReader(data), int64(size)); err == nil {
					t.Fatalf("Put of %d bytes corrupted in transit succeeded", size)
				}
				if _, err := b.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
					t.Fatalf("Head after the rejected Put of %d bytes: %v, want ErrNotFound", size, err)
				}
			}
		})
	}
}
