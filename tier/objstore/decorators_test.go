package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

func newFile(t *testing.T) objstore.Bucket {
	t.Helper()
	b, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func remoteErr(status int, code string) error {
	return &objstore.RemoteError{Op: "put", Bucket: "b", Key: "k", Status: status, Code: code,
		Err: fmt.Errorf("server said %d %s", status, code)}
}

func TestRetryable(t *testing.T) {
	notFound := &objstore.RemoteError{Status: 404, Code: "NoSuchKey", Kind: objstore.ErrNotFound, Err: errors.New("x")}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"slow down", remoteErr(503, "SlowDown"), true},
		{"throttled 429", remoteErr(429, ""), true},
		{"internal error", remoteErr(500, "InternalError"), true},
		{"bad gateway", remoteErr(502, ""), true},
		{"request timeout 400", remoteErr(400, "RequestTimeout"), true},
		{"bad request", remoteErr(400, "InvalidArgument"), false},
		{"forbidden", remoteErr(403, "AccessDenied"), false},
		{"not found", notFound, false},
		{"not found sentinel", fmt.Errorf("x: %w", objstore.ErrNotFound), false},
		{"exists", fmt.Errorf("x: %w", objstore.ErrExists), false},
		{"invalid key", fmt.Errorf("x: %w", objstore.ErrInvalidKey), false},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), true},
		{"client timeout", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"unknown", errors.New("something odd"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := objstore.Retryable(tc.err); got != tc.want {
				t.Fatalf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

var fastRetry = objstore.RetryConfig{MaxAttempts: 4, BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}

func TestRetryPolicy(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		failures  int
		err       error
		wantCalls int
		ok        bool // the Put succeeds in the end
	}{
		{"transient then success", 3, remoteErr(503, "SlowDown"), 4, true},
		{"budget exhausted", 10, remoteErr(500, "InternalError"), 4, false},
		{"connection refused", 2, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, 3, true},
		{"4xx not retried", 10, remoteErr(400, "InvalidArgument"), 1, false},
		{"not found not retried", 10, fmt.Errorf("x: %w", objstore.ErrNotFound), 1, false},
		{"exists not retried", 10, fmt.Errorf("x: %w", objstore.ErrExists), 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb := objstoretest.NewFaultBucket(newFile(t))
			b := objstore.WithRetry(fb, fastRetry)
			fb.FailNext(tc.failures, tc.err, objstoretest.OpPut)
			err := b.Put(ctx, "k", strings.NewReader("v"), 1)
			if got := fb.Calls(objstoretest.OpPut); got != tc.wantCalls {
				t.Errorf("inner Put called %d times, want %d", got, tc.wantCalls)
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Put: %v", err)
			case tc.ok:
				if got := objstoretest.Get(t, b, "k"); string(got) != "v" {
					t.Fatalf("stored %q", got)
				}
			case !errors.Is(err, tc.err):
				t.Fatalf("Put error %v does not wrap the injected %v", err, tc.err)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	fb := objstoretest.NewFaultBucket(newFile(t))
	b := objstore.WithRetry(fb, objstore.RetryConfig{MaxAttempts: 100, BaseDelay: time.Hour, MaxDelay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	fb.FailNext(100, remoteErr(503, "SlowDown"))
	fb.AfterCall(func(string, error) { cancel() }) // cancel during the first backoff
	_, err := b.Head(ctx, "k")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Head: %v, want context.Canceled", err)
	}
	if fb.Calls(objstoretest.OpHead) != 1 {
		t.Fatalf("inner Head called %d times, want 1", fb.Calls(objstoretest.OpHead))
	}
}

// flakyList delivers the first n keys of a listing, then fails once with a retryable error.
type flakyList struct {
	objstore.Bucket
	n      int
	failed bool
}

func (f *flakyList) List(ctx context.Context, prefix string, fn func(objstore.Attrs) error) error {
	i := 0
	return f.Bucket.List(ctx, prefix, func(a objstore.Attrs) error {
		if !f.failed && i == f.n {
			f.failed = true
			return remoteErr(503, "SlowDown")
		}
		i++
		return fn(a)
	})
}

func TestRetryListResumes(t *testing.T) {
	inner := newFile(t)
	for i := range 10 {
		objstoretest.Put(t, inner, fmt.Sprintf("k%d", i), []byte{byte(i)})
	}
	b := objstore.WithRetry(&flakyList{Bucket: inner, n: 4}, fastRetry)
	var got []string
	err := b.List(context.Background(), "", func(a objstore.Attrs) error { got = append(got, a.Key); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "k0,k1,k2,k3,k4,k5,k6,k7,k8,k9" {
		t.Fatalf("keys after a retried listing: %q", got)
	}

	// An error from fn is the caller's: returned as is, never retried.
	fb := objstoretest.NewFaultBucket(inner)
	b = objstore.WithRetry(fb, fastRetry)
	stop := remoteErr(503, "SlowDown") // retryable-looking on purpose
	err = b.List(context.Background(), "", func(objstore.Attrs) error { return stop })
	if err != stop || fb.Calls(objstoretest.OpList) != 1 {
		t.Fatalf("List with failing fn: %v after %d calls, want the fn error after 1", err, fb.Calls(objstoretest.OpList))
	}
}

// lostAnswer fails the first Put with a timeout, as if its answer had been lost: after storing
// the object (stored) or after another writer stored different bytes first (raced).
type lostAnswer struct {
	objstore.Bucket
	raced bool
	done  bool
}

func (l *lostAnswer) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...objstore.PutOption) error {
	if l.done {
		return l.Bucket.Put(ctx, key, r, size, opts...)
	}
	l.done = true
	var err error
	if l.raced {
		err = l.Bucket.Put(ctx, key, strings.NewReader("theirs"), 6)
	} else {
		err = l.Bucket.Put(ctx, key, r, size, opts...)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("reading answer: %w", syscall.ETIMEDOUT)
}

func TestRetryIfAbsentLostAnswer(t *testing.T) {
	ctx := context.Background()
	inner := newFile(t)
	b := objstore.WithRetry(&lostAnswer{Bucket: inner}, fastRetry)
	if err := b.Put(ctx, "k", strings.NewReader("mine"), 4, objstore.IfAbsent()); err != nil {
		t.Fatalf("IfAbsent Put whose first answer was lost: %v", err)
	}
	// Another writer's different bytes are a conflict even when our first answer was lost.
	b = objstore.WithRetry(&lostAnswer{Bucket: inner, raced: true}, fastRetry)
	err := b.Put(ctx, "k2", strings.NewReader("mine"), 4, objstore.IfAbsent())
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("IfAbsent Put that lost the race: %v, want ErrExists", err)
	}
	if got := objstoretest.Get(t, inner, "k2"); string(got) != "theirs" {
		t.Fatalf("k2 = %q, want theirs", got)
	}
}

func TestDecoratorsPassAcceptance(t *testing.T) {
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.WithMetrics(objstore.WithRetry(newFile(t), fastRetry), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	fb := objstoretest.NewFaultBucket(newFile(t))
	b, err := objstore.WithMetrics(fb, reg)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, b, "k", objstoretest.Bytes(1, 100))
	objstoretest.Get(t, b, "k")
	rc, err := b.GetRange(ctx, "k", 10, 30)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.ReadAll(t, rc)
	if _, err := b.Head(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatal(err)
	}
	fb.FailNext(1, remoteErr(500, "InternalError"), objstoretest.OpDelete)
	if err := b.Delete(ctx, "k"); err == nil {
		t.Fatal("injected Delete failure did not surface")
	}
	if err := b.List(ctx, "", func(objstore.Attrs) error { return nil }); err != nil {
		t.Fatal(err)
	}

	// A second bucket on the same registry shares the series.
	b2, err := objstore.WithMetrics(newFile(t), reg)
	if err != nil {
		t.Fatalf("second WithMetrics on one registry: %v", err)
	}
	objstoretest.Put(t, b2, "k", objstoretest.Bytes(2, 50))

	ops := func(op string) float64 {
		return objstoretest.MetricValue(t, reg, "strata_objstore_operations_total", op)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"ops put", ops("put"), 2},
		{"ops get", ops("get"), 1},
		{"ops get_range", ops("get_range"), 1},
		{"ops head", ops("head"), 1},
		{"ops delete", ops("delete"), 1},
		{"ops list", ops("list"), 1},
		{"errors delete", objstoretest.MetricValue(t, reg, "strata_objstore_errors_total", "delete"), 1},
		{"errors head (not found is an answer)", objstoretest.MetricValue(t, reg, "strata_objstore_errors_total", "head"), 0},
		{"bytes put", objstoretest.MetricValue(t, reg, "strata_objstore_bytes_total", "write", "put"), 150},
		{"bytes get", objstoretest.MetricValue(t, reg, "strata_objstore_bytes_total", "read", "get"), 100},
		{"bytes get_range", objstoretest.MetricValue(t, reg, "strata_objstore_bytes_total", "read", "get_range"), 30},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := objstoretest.MetricValue(t, reg, "strata_objstore_operation_duration_seconds", "put"); n != 2 {
		t.Errorf("duration samples for put = %v, want 2", n)
	}
}
