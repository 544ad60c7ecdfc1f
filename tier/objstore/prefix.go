package objstore

import (
	"context"
	"io"
	"strings"
)

// WithPrefix returns a Bucket that stores every key under prefix in b and strips prefix from listed
// keys. An empty prefix returns b itself. prefix should end in "/".
func WithPrefix(b Bucket, prefix string) Bucket {
	if prefix == "" {
		return b
	}
	return &prefixBucket{b: b, prefix: prefix}
}

type prefixBucket struct {
	b      Bucket
	prefix string
}

var _ Bucket = (*prefixBucket)(nil)

// key validates the caller's key before prefixing, so that "../x" cannot escape the prefix.
func (p *prefixBucket) key(k string) (string, error) {
	if err := ValidateKey(k); err != nil {
		return "", err
	}
	return p.prefix + k, nil
}

func (p *prefixBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error {
	k, err := p.key(key)
	if err != nil {
		return err
	}
	return p.b.Put(ctx, k, r, size, opts...)
}

func (p *prefixBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, err
	}
	return p.b.Get(ctx, k)
}

func (p *prefixBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	k, err := p.key(key)
	if err != nil {
		return nil, err
	}
	return p.b.GetRange(ctx, k, off, length)
}

func (p *prefixBucket) Head(ctx context.Context, key string) (Attrs, error) {
	k, err := p.key(key)
	if err != nil {
		return Attrs{}, err
	}
	a, err := p.b.Head(ctx, k)
	a.Key = strings.TrimPrefix(a.Key, p.prefix)
	return a, err
}

func (p *prefixBucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	return p.b.List(ctx, p.prefix+prefix, func(a Attrs) error {
		a.Key = strings.TrimPrefix(a.Key, p.prefix)
		return fn(a)
	})
}

func (p *prefixBucket) Delete(ctx context.Context, key string) error {
	k, err := p.key(key)
	if err != nil {
		return err
	}
	return p.b.Delete(ctx, k)
}

func (p *prefixBucket) Close() error { return p.b.Close() }
