package objstore

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// PutMultipartConditional runs the s3 backend's multipart upload with If-None-Match: *, skipping
// the Head that normally answers ErrExists early, so tests reach the conditional Complete.
func PutMultipartConditional(ctx context.Context, b Bucket, key string, r io.ReaderAt, size int64) error {
	sb, ok := b.(*s3Bucket)
	if !ok {
		return fmt.Errorf("not an s3 bucket: %T", b)
	}
	return sb.putMultipart(ctx, key, r, size, aws.String("*"))
}
