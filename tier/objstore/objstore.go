// Package objstore is Strata's narrow view of S3-compatible object storage: a small Bucket interface,
// backends for AWS S3 (aws-sdk-go-v2), MinIO (minio-go/v7) and a local directory, opened from a URL,
// plus decorators for retries and Prometheus metrics.
//
// Objects are immutable once written: Strata never overwrites a key with different bytes. A Bucket is
// safe for concurrent use. Readers returned by Get and GetRange belong to the caller, who must Close
// them.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors callers branch on. Backends wrap them with %w.
var (
	ErrNotFound = errors.New("objstore: object not found")
	ErrExists   = errors.New("objstore: object already exists")
)

// Attrs describes a stored object.
type Attrs struct {
	Key      string
	Size     int64
	Modified time.Time
}

// PutOptions tune a Put.
type PutOptions struct {
	// IfAbsent makes the Put fail with ErrExists when the key already holds an object. Used to fence
	// two writers racing for the same key.
	IfAbsent bool
}

// PutOption sets a PutOptions field.
type PutOption func(*PutOptions)

// IfAbsent refuses to replace an existing object.
func IfAbsent() PutOption { return func(o *PutOptions) { o.IfAbsent = true } }

// ApplyPutOptions folds opts into a PutOptions value (for backends).
func ApplyPutOptions(opts []PutOption) PutOptions {
	var o PutOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Bucket is the object store as Strata uses it. Keys are slash-separated paths without a leading slash.
type Bucket interface {
	// Put stores size bytes read from r under key. r may be read more than once (retries, parts in
	// parallel), so it is an io.ReaderAt.
	Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error
	// Get returns the whole object. ErrNotFound if the key is absent.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// GetRange returns length bytes from off (length < 0 reads to the end).
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)
	// Head returns the object's attributes, or ErrNotFound.
	Head(ctx context.Context, key string) (Attrs, error)
	// List calls fn for every object whose key starts with prefix, in lexical order, across as many
	// pages as the backend needs. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Attrs) error) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases the backend's resources.
	Close() error
}
