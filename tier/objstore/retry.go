package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryConfig tunes WithRetry. Zero fields take the defaults.
type RetryConfig struct {
	// MaxAttempts is the number of tries per call, the first included. Default 5.
	MaxAttempts int
	// BaseDelay and MaxDelay bound the backoff: before retry n (n = 1, 2, ...) the decorator sleeps
	// a uniformly random time in [0, min(MaxDelay, BaseDelay·2^(n-1))] ("full jitter").
	// Defaults 100 ms and 5 s.
	BaseDelay, MaxDelay time.Duration
	// Retryable decides which errors are worth another try. Default: the package's Retryable.
	Retryable func(error) bool
	// Logger receives one debug line per retry. Default slog.Default().
	Logger *slog.Logger
}

// DefaultRetryConfig is the policy WithRetry applies to zero fields.
var DefaultRetryConfig = RetryConfig{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}

// Validate reports fields that are set but unusable.
func (c RetryConfig) Validate() error {
	switch {
	case c.MaxAttempts < 0:
		return fmt.Errorf("%w: retry: MaxAttempts %d < 0", ErrConfig, c.MaxAttempts)
	case c.BaseDelay < 0 || c.MaxDelay < 0:
		return fmt.Errorf("%w: retry: negative delay", ErrConfig)
	case c.MaxDelay != 0 && c.BaseDelay > c.MaxDelay:
		return fmt.Errorf("%w: retry: BaseDelay %v > MaxDelay %v", ErrConfig, c.BaseDelay, c.MaxDelay)
	}
	return nil
}

func (c RetryConfig) withDefaults() RetryConfig {
	d := DefaultRetryConfig
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = d.BaseDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = max(d.MaxDelay, c.BaseDelay)
	}
	if c.Retryable == nil {
		c.Retryable = Retryable
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// WithRetry returns a Bucket that retries b's calls that fail with a retryable error (see
// Retryable), with exponential backoff and full jitter, until cfg.MaxAttempts or until ctx is done.
// Fields that are zero or invalid (see Validate) take their defaults.
//
// Get and GetRange retry opening the object, not a body that breaks while being read. List resumes
// after the last key it delivered, so fn never sees a key twice. A Put with IfAbsent whose retry
// finds the key taken compares the stored bytes with its own: when they match, the earlier attempt
// landed (its answer was lost) and the Put succeeds.
func WithRetry(b Bucket, cfg RetryConfig) Bucket {
	return &retryBucket{b: b, cfg: cfg.withDefaults()}
}

type retryBucket struct {
	b   Bucket
	cfg RetryConfig
}

var _ Bucket = (*retryBucket)(nil)

// do runs f until it succeeds, fails for good, runs out of attempts, or ctx ends. f learns the
// attempt number (0 first).
func (r *retryBucket) do(ctx context.Context, op, key string, f func(attempt int) error) error {
	for attempt := 0; ; attempt++ {
		err := f(attempt)
		var fe fnError
		if err == nil || errors.As(err, &fe) || !r.cfg.Retryable(err) {
			return err
		}
		if attempt+1 >= r.cfg.MaxAttempts {
			return fmt.Errorf("objstore: %s %q: giving up after %d attempts: %w", op, key, attempt+1, err)
		}
		if ctx.Err() != nil {
			return withCtx(ctx, err)
		}
		d := r.backoff(attempt)
		r.cfg.Logger.Debug("objstore: retrying", "op", op, "key", key, "attempt", attempt+1, "delay", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return withCtx(ctx, err)
		}
	}
}

func (r *retryBucket) backoff(attempt int) time.Duration {
	ceil := r.cfg.MaxDelay
	if attempt < 62 && r.cfg.BaseDelay < ceil>>attempt {
		ceil = r.cfg.BaseDelay << attempt
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func (r *retryBucket) Put(ctx context.Context, key string, rd io.ReaderAt, size int64, opts ...PutOption) error {
	ifAbsent := ApplyPutOptions(opts).IfAbsent
	return r.do(ctx, "put", key, func(attempt int) error {
		err := r.b.Put(ctx, key, rd, size, opts...)
		if attempt > 0 && ifAbsent && errors.Is(err, ErrExists) {
			if same, cerr := r.sameBytes(ctx, key, rd, size); cerr == nil && same {
				return nil // an earlier attempt stored it and its answer was lost
			}
		}
		return err
	})
}

// sameBytes reports whether key holds exactly the size bytes of rd.
func (r *retryBucket) sameBytes(ctx context.Context, key string, rd io.ReaderAt, size int64) (bool, error) {
	a, err := r.b.Head(ctx, key)
	if err != nil || a.Size != size {
		return false, err
	}
	rc, err := r.b.Get(ctx, key)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); off < size; {
		n := int(min(int64(len(got)), size-off))
		if _, err := io.ReadFull(rc, got[:n]); err != nil {
			return false, err
		}
		if _, err := io.ReadFull(io.NewSectionReader(rd, off, int64(n)), want[:n]); err != nil {
			return false, err
		}
		if !bytes.Equal(got[:n], want[:n]) {
			return false, nil
		}
		off += int64(n)
	}
	return true, nil
}

func (r *retryBucket) Get(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "get", key, func(int) error {
		rc, err = r.b.Get(ctx, key)
		return err
	})
	return rc, err
}

func (r *retryBucket) GetRange(ctx context.Context, key string, off, length int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "get_range", key, func(int) error {
		rc, err = r.b.GetRange(ctx, key, off, length)
		return err
	})
	return rc, err
}

func (r *retryBucket) Head(ctx context.Context, key string) (a Attrs, err error) {
	err = r.do(ctx, "head", key, func(int) error {
		a, err = r.b.Head(ctx, key)
		return err
	})
	return a, err
}

// fnError marks an error returned by List's callback, which is never retried.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

func (r *retryBucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	var last string
	delivered := false
	err := r.do(ctx, "list", prefix, func(int) error {
		return r.b.List(ctx, prefix, func(a Attrs) error {
			if delivered && a.Key <= last {
				return nil // seen before a retry
			}
			if err := fn(a); err != nil {
				return fnError{err}
			}
			last, delivered = a.Key, true
			return nil
		})
	})
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	return err
}

func (r *retryBucket) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete", key, func(int) error { return r.b.Delete(ctx, key) })
}

func (r *retryBucket) Close() error { return r.b.Close() }
