package objstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

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

func TestMinioAcceptance(t *testing.T) {
	m := objstoretest.StartMinIO(t)
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		return m.Open(t, m.MinioURL(newBucketName("minio")), smallParts)
	})
}
