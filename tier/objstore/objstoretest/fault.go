package objstoretest

import (
	"context"
	"io"
	"slices"
	"sync"

	"github.com/strata-log/strata/tier/objstore"
)

// Operation names FaultBucket counts and fails.
const (
	OpPut      = "put"
	OpGet      = "get"
	OpGetRange = "get_range"
	OpHead     = "head"
	OpList     = "list"
	OpDelete   = "delete"
)

// FaultBucket wraps a Bucket, counts calls by operation, and fails chosen calls before they reach
// the inner Bucket. Safe for concurrent use.
type FaultBucket struct {
	inner objstore.Bucket

	mu       sync.Mutex
	failNext int
	failErr  error
	failOps  []string
	calls    map[string]int
	after    func(op string, err error)
}

var _ objstore.Bucket = (*FaultBucket)(nil)

// NewFaultBucket wraps b.
func NewFaultBucket(b objstore.Bucket) *FaultBucket {
	return &FaultBucket{inner: b, calls: map[string]int{}}
}

// FailNext makes the next n calls of the given operations (all operations when none are named)
// return err without reaching the inner Bucket.
func (f *FaultBucket) FailNext(n int, err error, ops ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext, f.failErr, f.failOps = n, err, ops
}

// AfterCall sets a hook run after every call with its operation and result (nil to remove).
// The hook runs on the caller's goroutine, outside FaultBucket's lock.
func (f *FaultBucket) AfterCall(fn func(op string, err error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after = fn
}

// Calls returns how many times op was called (failed calls included).
func (f *FaultBucket) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *FaultBucket) enter(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.failNext > 0 && (len(f.failOps) == 0 || slices.Contains(f.failOps, op)) {
		f.failNext--
		return f.failErr
	}
	return nil
}

func (f *FaultBucket) leave(op string, err error) error {
	f.mu.Lock()
	hook := f.after
	f.mu.Unlock()
	if hook != nil {
		hook(op, err)
	}
	return err
}

func (f *FaultBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...objstore.PutOption) error {
	err := f.enter(OpPut)
	if err == nil {
		err = f.inner.Put(ctx, key, r, size, opts...)
	}
	return f.leave(OpPut, err)
}

func (f *FaultBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	err := f.enter(OpGet)
	var rc io.ReadCloser
	if err == nil {
		rc, err = f.inner.Get(ctx, key)
	}
	return rc, f.leave(OpGet, err)
}

func (f *FaultBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	err := f.enter(OpGetRange)
	var rc io.ReadCloser
	if err == nil {
		rc, err = f.inner.GetRange(ctx, key, off, length)
	}
	return rc, f.leave(OpGetRange, err)
}

func (f *FaultBucket) Head(ctx context.Context, key string) (objstore.Attrs, error) {
	err := f.enter(OpHead)
	var a objstore.Attrs
	if err == nil {
		a, err = f.inner.Head(ctx, key)
	}
	return a, f.leave(OpHead, err)
}

func (f *FaultBucket) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	err := f.enter(OpList)
	if err == nil {
		err = f.inner.List(ctx, prefix, fn)
	}
	return f.leave(OpList, err)
}

func (f *FaultBucket) Delete(ctx context.Context, key string) error {
	err := f.enter(OpDelete)
	if err == nil {
		err = f.inner.Delete(ctx, key)
	}
	return f.leave(OpDelete, err)
}

// Close closes the inner Bucket.
func (f *FaultBucket) Close() error { return f.inner.Close() }
