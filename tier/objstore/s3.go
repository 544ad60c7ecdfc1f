package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// s3Bucket is the aws-sdk-go-v2 backend. IfAbsent is a conditional write (If-None-Match: *) on
// PutObject or CompleteMultipartUpload; objects larger than one part are uploaded in parts, several
// at once.
type s3Bucket struct {
	c        *s3.Client
	bucket   string
	partSize int64
	parallel int
	checksum types.ChecksumAlgorithm // sent with every upload; "" when the body is signed instead
	closed   atomic.Bool
	idle     func() // closes idle connections, or nil
}

var _ Bucket = (*s3Bucket)(nil)

func openS3(ctx context.Context, loc location, cfg openConfig) (Bucket, error) {
	lo := []func(*config.LoadOptions) error{
		// One attempt per call: WithRetry is the retry policy.
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if loc.region != "" {
		lo = append(lo, config.WithRegion(loc.region))
	}
	if cfg.accessKey != "" {
		lo = append(lo, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.accessKey, cfg.secretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("%w: s3 bucket %q: loading AWS configuration: %w", ErrConfig, loc.bucket, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: s3 bucket %q: no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: %w",
			ErrConfig, loc.bucket, err)
	}
	c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
		o.UsePathStyle = loc.pathStyle
		// Flexible checksums only where S3 requires them or a call names one (Put does: CRC32C),
		// which keeps every S3-compatible server working.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		// Bodies are not hashed into the SigV4 signature (UNSIGNED-PAYLOAD) unless the URL says
		// checksum=sha256: SHA-256 of every uploaded byte cost a third of a node's CPU while it
		// produced and tiered, and the server a second SHA-256 to check it. Integrity in transit
		// comes from the CRC32C checksum every Put sends instead (hardware CRC, checked by the
		// server); the request itself stays signed.
		if !loc.signBody {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware,
				func(st *middleware.Stack) error { return st.Build.Add(unsignedPayload, middleware.After) })
		}
	})
	b := &s3Bucket{c: c, bucket: loc.bucket, partSize: cfg.partSize, parallel: cfg.partConcurrency}
	if !loc.signBody {
		b.checksum = types.ChecksumAlgorithmCrc32c
	}
	if ic, ok := awsCfg.HTTPClient.(interface{ CloseIdleConnections() }); ok {
		b.idle = ic.CloseIdleConnections
	}
	where := loc.endpoint
	if where == "" {
		where = "AWS region " + awsCfg.Region
	}
	if err := b.ensureBucket(ctx, awsCfg.Region, where, cfg.logger); err != nil {
		return nil, err
	}
	return b, nil
}

// ensureBucket checks that the bucket is reachable with these credentials, creating it if absent.
func (b *s3Bucket) ensureBucket(ctx context.Context, region, where string, log *slog.Logger) error {
	_, err := b.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	rerr := b.remote("head-bucket", "", err)
	if errors.Is(rerr, ErrNotFound) {
		in := &s3.CreateBucketInput{Bucket: &b.bucket}
		if region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
				LocationConstraint: types.BucketLocationConstraint(region)}
		}
		_, err = b.c.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		if err == nil || errors.As(err, &owned) {
			log.Info("objstore: created bucket", "bucket", b.bucket, "at", where)
			return nil
		}
		rerr = b.remote("create-bucket", "", err)
	}
	return openError("s3", b.bucket, where, rerr)
}

// openError turns a failure to reach or create the bucket into a message that names the problem.
func openError(scheme, bucket, where string, err error) error {
	var re *RemoteError
	switch {
	case errors.Is(err, ErrAccessDenied):
		vars := "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
		if scheme == "minio" {
			vars += " or MINIO_ROOT_USER/MINIO_ROOT_PASSWORD"
		}
		return fmt.Errorf("objstore: %s bucket %q: access denied: check %s (%w)", scheme, bucket, vars, err)
	case errors.As(err, &re) && re.Status == 0:
		return fmt.Errorf("objstore: %s bucket %q: endpoint %s unreachable: %w", scheme, bucket, where, err)
	case errors.As(err, &re) && re.Status == 301:
		return fmt.Errorf("%w: %s bucket %q: the bucket is in another region than the one configured (%w)",
			ErrConfig, scheme, bucket, err)
	case errors.As(err, &re) && re.Code == "BucketAlreadyExists":
		return fmt.Errorf("%w: %s bucket %q belongs to another account: %w", ErrConfig, scheme, bucket, err)
	}
	return fmt.Errorf("objstore: %s bucket %q at %s: %w", scheme, bucket, where, err)
}

// remote wraps an aws-sdk error as a RemoteError carrying its status and code.
func (b *s3Bucket) remote(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var status int
	var code string
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	return newRemoteError(op, b.bucket, key, status, code, err)
}

func (b *s3Bucket) check(ctx context.Context, key string) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: s3 %s/%s: %w", b.bucket, key, err)
	}
	return ValidateKey(key)
}

// unsignedPayload marks a request's payload hash UNSIGNED-PAYLOAD before the checksum middleware
// runs; otherwise that middleware hashes the body with SHA-256 alongside the CRC32C on plain HTTP.
var unsignedPayload = middleware.BuildMiddlewareFunc("StrataUnsignedPayload",
	func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
		return next.HandleBuild(v4.SetPayloadHash(ctx, "UNSIGNED-PAYLOAD"), in)
	})

func (b *s3Bucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error {
	if err := b.check(ctx, key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("objstore: s3 put %q: negative size %d", key, size)
	}
	o := ApplyPutOptions(opts)
	var ifNoneMatch *string
	if o.IfAbsent {
		ifNoneMatch = aws.String("*")
	}
	if size > b.partSize {
		if o.IfAbsent { // spare the upload when the answer is already known; Complete still decides
			if _, err := b.Head(ctx, key); err == nil {
				return fmt.Errorf("objstore: s3 put %q: %w", key, ErrExists)
			}
		}
		return withCtx(ctx, b.putMultipart(ctx, key, r, size, ifNoneMatch))
	}
	_, err := b.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            &b.bucket,
		Key:               &key,
		Body:              io.NewSectionReader(r, 0, size),
		ContentLength:     aws.Int64(size),
		IfNoneMatch:       ifNoneMatch,
		ChecksumAlgorithm: b.checksum,
	})
	return withCtx(ctx, b.remote("put", key, err))
}

func (b *s3Bucket) putMultipart(ctx context.Context, key string, r io.ReaderAt, size int64, ifNoneMatch *string) (err error) {
	nparts := (size + b.partSize - 1) / b.partSize
	if nparts > maxParts {
		return fmt.Errorf("objstore: s3 put %q: %d bytes need %d parts of %d, over the limit of %d",
			key, size, nparts, b.partSize, maxParts)
	}
	created, err := b.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: &key,
		ChecksumAlgorithm: b.checksum})
	if err != nil {
		return b.remote("put", key, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err != nil { // drop the uploaded parts; the caller's ctx may be the reason we stopped
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_, _ = b.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: &b.bucket, Key: &key, UploadId: uploadID})
		}
	}()

	parts := make([]types.CompletedPart, nparts)
	err = uploadParts(ctx, b.parallel, size, b.partSize, func(ctx context.Context, i int, off, n int64) error {
		out, err := b.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            &b.bucket,
			Key:               &key,
			UploadId:          uploadID,
			PartNumber:        aws.Int32(int32(i + 1)),
			Body:              io.NewSectionReader(r, off, n),
			ContentLength:     aws.Int64(n),
			ChecksumAlgorithm: b.checksum,
		})
		if err != nil {
			return b.remote("put", key, err)
		}
		parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32C: out.ChecksumCRC32C}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = b.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &b.bucket,
		Key:             &key,
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     ifNoneMatch,
	})
	return b.remote("put", key, err)
}

// uploadParts calls put for each part of an object of size bytes, at most parallel at once, and
// returns the first error. It returns only when every call it started has returned.
func uploadParts(ctx context.Context, parallel int, size, partSize int64,
	put func(ctx context.Context, i int, off, n int64) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	sem := make(chan struct{}, parallel)
	for i, off := 0, int64(0); off < size; i, off = i+1, off+partSize {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := put(ctx, i, off, min(partSize, size-off)); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return context.Cause(ctx)
}

func (b *s3Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.GetRange(ctx, key, 0, -1)
}

func (b *s3Bucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := b.check(ctx, key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("objstore: s3 get %q: offset %d: %w", key, off, ErrInvalidRange)
	}
	if length == 0 { // HTTP cannot ask for zero bytes
		return b.emptyAt(ctx, key, off)
	}
	if length > math.MaxInt64-off {
		length = -1 // to the end, without overflowing off+length
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: &key}
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := b.c.GetObject(ctx, in)
	if err != nil {
		err = b.remote("get", key, err)
		var re *RemoteError
		if errors.As(err, &re) && re.Status == 416 {
			return b.emptyAt(ctx, key, off)
		}
		return nil, withCtx(ctx, err)
	}
	return out.Body, nil
}

// emptyAt answers a read of nothing at off: an empty reader when off is within or at the end of
// the object, ErrInvalidRange past it, ErrNotFound when there is no object.
func (b *s3Bucket) emptyAt(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	a, err := b.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if off > a.Size {
		return nil, fmt.Errorf("objstore: s3 get %q: offset %d past size %d: %w", key, off, a.Size, ErrInvalidRange)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (b *s3Bucket) Head(ctx context.Context, key string) (Attrs, error) {
	if err := b.check(ctx, key); err != nil {
		return Attrs{}, err
	}
	out, err := b.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return Attrs{}, withCtx(ctx, b.remote("head", key, err))
	}
	return Attrs{Key: key, Size: aws.ToInt64(out.ContentLength), Modified: aws.ToTime(out.LastModified)}, nil
}

func (b *s3Bucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	if !listable(prefix) {
		return nil
	}
	p := s3.NewListObjectsV2Paginator(b.c, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return withCtx(ctx, b.remote("list", prefix, err))
		}
		for _, o := range page.Contents {
			a := Attrs{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}
			if err := fn(a); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *s3Bucket) Delete(ctx context.Context, key string) error {
	if err := b.check(ctx, key); err != nil {
		return err
	}
	_, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	if err = b.remote("delete", key, err); errors.Is(err, ErrNotFound) {
		return nil
	}
	return withCtx(ctx, err)
}

func (b *s3Bucket) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.idle != nil {
		b.idle()
	}
	return nil
}
