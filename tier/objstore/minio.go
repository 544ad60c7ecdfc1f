package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// minioBucket is the minio-go backend. IfAbsent sends If-None-Match: * on the PUT (or on the
// CompleteMultipartUpload of a multipart upload); minio-go uploads objects larger than one part in
// parts, several at once.
type minioBucket struct {
	c        *minio.Core
	bucket   string
	partSize int64
	parallel int
	tr       *http.Transport
	closed   atomic.Bool
}

var _ Bucket = (*minioBucket)(nil)

// minioCredentials picks the static credentials: the Open option, then AWS_*, then MINIO_ROOT_*.
func minioCredentials(cfg openConfig) (access, secret, token string) {
	if cfg.accessKey != "" {
		return cfg.accessKey, cfg.secretKey, ""
	}
	if a := os.Getenv("AWS_ACCESS_KEY_ID"); a != "" {
		return a, os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	return os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD"), ""
}

func openMinio(ctx context.Context, loc location, cfg openConfig) (Bucket, error) {
	access, secret, token := minioCredentials(cfg)
	if access == "" || secret == "" {
		return nil, fmt.Errorf("%w: minio bucket %q: no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "+
			"or MINIO_ROOT_USER/MINIO_ROOT_PASSWORD", ErrConfig, loc.bucket)
	}
	tr, err := minio.DefaultTransport(loc.secure)
	if err != nil {
		return nil, fmt.Errorf("%w: minio transport: %w", ErrConfig, err)
	}
	region := loc.region
	if region == "" {
		region = "us-east-1" // saves a GetBucketLocation round trip per bucket
	}
	c, err := minio.NewCore(loc.endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, token),
		Secure:       loc.secure,
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   1, // one attempt per call: WithRetry is the retry policy
	})
	if err != nil {
		return nil, fmt.Errorf("%w: minio endpoint %q: %w", ErrConfig, loc.endpoint, err)
	}
	b := &minioBucket{c: c, bucket: loc.bucket, partSize: cfg.partSize, parallel: cfg.partConcurrency, tr: tr}
	where := c.EndpointURL().String()
	ok, err := c.BucketExists(ctx, loc.bucket)
	if err != nil {
		err = b.remote("head-bucket", "", err)
	} else if !ok {
		err = c.MakeBucket(ctx, loc.bucket, minio.MakeBucketOptions{Region: region})
		if err == nil || minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			cfg.logger.Info("objstore: created bucket", "bucket", loc.bucket, "at", where)
			err = nil
		} else {
			err = b.remote("create-bucket", "", err)
		}
	}
	if err != nil {
		tr.CloseIdleConnections()
		return nil, openError("minio", loc.bucket, where, err)
	}
	return b, nil
}

// remote wraps a minio-go error as a RemoteError carrying its status and code.
func (b *minioBucket) remote(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return newRemoteError(op, b.bucket, key, er.StatusCode, er.Code, err)
	}
	return newRemoteError(op, b.bucket, key, 0, "", err)
}

func (b *minioBucket) check(ctx context.Context, key string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: minio %s/%s: %w", b.bucket, key, err)
	}
	return ValidateKey(key)
}

func (b *minioBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error {
	if err := b.check(ctx, key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("objstore: minio put %q: negative size %d", key, size)
	}
	po := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    uint64(b.partSize),
		NumThreads:  uint(b.parallel),
	}
	if ApplyPutOptions(opts).IfAbsent {
		po.SetMatchETagExcept("*")
	}
	_, err := b.c.Client.PutObject(ctx, b.bucket, key, io.NewSectionReader(r, 0, size), size, po)
	return withCtx(ctx, b.remote("put", key, err))
}

func (b *minioBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.GetRange(ctx, key, 0, -1)
}

func (b *minioBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("objstore: minio get %q: offset %d: %w", key, off, ErrInvalidRange)
	}
	if length == 0 { // HTTP cannot ask for zero bytes
		return b.emptyAt(ctx, key, off)
	}
	if length > math.MaxInt64-off {
		length = -1 // to the end, without overflowing off+length
	}
	var opts minio.GetObjectOptions
	var err error
	switch {
	case length > 0:
		err = opts.SetRange(off, off+length-1)
	case off > 0:
		err = opts.SetRange(off, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: minio get %q: %w: %w", key, ErrInvalidRange, err)
	}
	rc, _, _, err := b.c.GetObject(ctx, b.bucket, key, opts)
	if err != nil {
		err = b.remote("get", key, err)
		var re *RemoteError
		if errors.As(err, &re) && re.Status == http.StatusRequestedRangeNotSatisfiable {
			return b.emptyAt(ctx, key, off)
		}
		return nil, withCtx(ctx, err)
	}
	return rc, nil
}

// emptyAt answers a read of nothing at off (see s3Bucket.emptyAt).
func (b *minioBucket) emptyAt(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	a, err := b.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if off > a.Size {
		return nil, fmt.Errorf("objstore: minio get %q: offset %d past size %d: %w", key, off, a.Size, ErrInvalidRange)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (b *minioBucket) Head(ctx context.Context, key string) (Attrs, error) {
	if err := b.check(ctx, key); err != nil {
		return Attrs{}, err
	}
	info, err := b.c.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Attrs{}, withCtx(ctx, b.remote("head", key, err))
	}
	return Attrs{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

func (b *minioBucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	if !listable(prefix) {
		return nil
	}
	lctx, cancel := context.WithCancel(ctx)
	ch := b.c.Client.ListObjects(lctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	defer func() {
		cancel()
		for range ch { // wait for minio-go's lister goroutine to see the cancel and close ch
		}
	}()
	for o := range ch {
		if o.Err != nil {
			return withCtx(ctx, b.remote("list", prefix, o.Err))
		}
		if err := fn(Attrs{Key: o.Key, Size: o.Size, Modified: o.LastModified}); err != nil {
			return err
		}
	}
	// minio-go closes the channel quietly when lctx ends; do not mistake that for the end.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: minio list %q: %w", prefix, err)
	}
	return nil
}

func (b *minioBucket) Delete(ctx context.Context, key string) error {
	if err := b.check(ctx, key); err != nil {
		return err
	}
	err := b.remote("delete", key, b.c.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return withCtx(ctx, err)
}

func (b *minioBucket) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.tr.CloseIdleConnections()
	return nil
}
