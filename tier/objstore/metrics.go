package objstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/tier/promshare"
)

// Operation label values of the metrics.
const (
	opPut      = "put"
	opGet      = "get"
	opGetRange = "get_range"
	opHead     = "head"
	opList     = "list"
	opDelete   = "delete"
)

var allOps = []string{opPut, opGet, opGetRange, opHead, opList, opDelete}

// Metrics are the collectors WithMetrics updates:
//
//	strata_objstore_operations_total{op}               calls
//	strata_objstore_errors_total{op}                   calls that failed (see WithMetrics)
//	strata_objstore_bytes_total{op,direction}          object bytes: direction "write" for put,
//	                                                   "read" for bytes read from get/get_range bodies
//	strata_objstore_operation_duration_seconds{op}     time to the answer (for get and get_range:
//	                                                   until the body starts, not until it is read)
type metrics struct {
	ops      *prometheus.CounterVec
	errs     *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_objstore_operations_total",
			Help: "Object store calls, by operation.",
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_objstore_errors_total",
			Help: "Object store calls that failed, by operation (not-found, already-exists and caller cancellation are answers, not failures).",
		}, []string{"op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_objstore_bytes_total",
			Help: "Object bytes written by put and read from get bodies.",
		}, []string{"op", "direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_objstore_operation_duration_seconds",
			Help:    "Time until an object store call answers (for reads: until the body starts).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 33 s
		}, []string{"op"}),
	}
	if reg != nil {
		var err error
		if m.ops, err = promshare.Register(reg, m.ops); err != nil {
			return nil, err
		}
		if m.errs, err = promshare.Register(reg, m.errs); err != nil {
			return nil, err
		}
		if m.bytes, err = promshare.Register(reg, m.bytes); err != nil {
			return nil, err
		}
		if m.duration, err = promshare.Register(reg, m.duration); err != nil {
			return nil, err
		}
	}
	for _, op := range allOps { // export zeros so rates work from the start
		m.ops.WithLabelValues(op)
		m.errs.WithLabelValues(op)
		m.duration.WithLabelValues(op)
	}
	m.bytes.WithLabelValues(opPut, "write")
	m.bytes.WithLabelValues(opGet, "read")
	m.bytes.WithLabelValues(opGetRange, "read")
	return m, nil
}

// WithMetrics returns a Bucket that counts b's calls, failures and bytes, and times its calls, in
// collectors registered on reg (nil: not registered). Several buckets may share one registry; they
// then share the series. ErrNotFound, ErrExists and a cancelled context do not count as failures.
func WithMetrics(b Bucket, reg prometheus.Registerer) (Bucket, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &metricsBucket{b: b, m: m}, nil
}

type metricsBucket struct {
	b Bucket
	m *metrics
}

var _ Bucket = (*metricsBucket)(nil)

func (mb *metricsBucket) observe(op string, start time.Time, err error) {
	mb.m.ops.WithLabelValues(op).Inc()
	mb.m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrExists) && !errors.Is(err, context.Canceled) {
		mb.m.errs.WithLabelValues(op).Inc()
	}
}

func (mb *metricsBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error {
	start := time.Now()
	err := mb.b.Put(ctx, key, r, size, opts...)
	mb.observe(opPut, start, err)
	if err == nil {
		mb.m.bytes.WithLabelValues(opPut, "write").Add(float64(size))
	}
	return err
}

func (mb *metricsBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := mb.b.Get(ctx, key)
	mb.observe(opGet, start, err)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc: rc, c: mb.m.bytes.WithLabelValues(opGet, "read")}, nil
}

func (mb *metricsBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := mb.b.GetRange(ctx, key, off, length)
	mb.observe(opGetRange, start, err)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc: rc, c: mb.m.bytes.WithLabelValues(opGetRange, "read")}, nil
}

func (mb *metricsBucket) Head(ctx context.Context, key string) (Attrs, error) {
	start := time.Now()
	a, err := mb.b.Head(ctx, key)
	mb.observe(opHead, start, err)
	return a, err
}

func (mb *metricsBucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	start := time.Now()
	err := mb.b.List(ctx, prefix, fn)
	mb.observe(opList, start, err)
	return err
}

func (mb *metricsBucket) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := mb.b.Delete(ctx, key)
	mb.observe(opDelete, start, err)
	return err
}

func (mb *metricsBucket) Close() error { return mb.b.Close() }

// countingReader adds the bytes read through it to a counter.
type countingReader struct {
	rc io.ReadCloser
	c  prometheus.Counter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 {
		c.c.Add(float64(n))
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
