package objstore

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Open returns the Bucket a URL names:
//
//	file:///abs/dir                                   a local directory (created if missing)
//	s3://bucket/prefix?endpoint=http://host:9000&region=us-east-1
//	                                                  S3 or any S3-compatible server (aws-sdk-go-v2)
//	minio://host:port/bucket/prefix?secure=false      MinIO or any S3-compatible server (minio-go)
//
// s3 URLs: endpoint is optional (AWS when absent; path-style addressing when present, or when
// path_style=true); region defaults to AWS_REGION from the environment, then us-east-1;
// checksum=crc32c (default) sends each upload's CRC32C and leaves the body out of the signature,
// checksum=sha256 signs the body's SHA-256 instead (for servers without CRC32C checksums; costs CPU).
// minio URLs: secure defaults to true; region is optional.
//
// Credentials come from the environment unless WithCredentials is given: for s3 the standard AWS
// chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared config files, roles); for minio
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else MINIO_ROOT_USER/MINIO_ROOT_PASSWORD.
//
// The bucket is created when it does not exist. A prefix in the URL is applied to every key and
// stripped from listed keys, so callers never see it.
//
// The returned Bucket makes one attempt per call: the client libraries' own retries are switched
// off so that WithRetry is the only retry policy. Compose as WithMetrics(WithRetry(b, cfg), reg).
func Open(ctx context.Context, rawURL string, opts ...Option) (Bucket, error) {
	cfg := defaultOpenConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: url: %w", ErrConfig, err)
	}
	switch u.Scheme {
	case "file":
		return openFileURL(u)
	case "s3":
		loc, err := parseS3URL(u)
		if err != nil {
			return nil, err
		}
		b, err := openS3(ctx, loc, cfg)
		if err != nil {
			return nil, err
		}
		return WithPrefix(b, loc.prefix), nil
	case "minio":
		loc, err := parseMinioURL(u)
		if err != nil {
			return nil, err
		}
		b, err := openMinio(ctx, loc, cfg)
		if err != nil {
			return nil, err
		}
		return WithPrefix(b, loc.prefix), nil
	case "":
		return nil, fmt.Errorf("%w: %q has no scheme (want file://, s3:// or minio://)", ErrConfig, rawURL)
	default:
		return nil, fmt.Errorf("%w: unknown scheme %q (want file, s3 or minio)", ErrConfig, u.Scheme)
	}
}

// Option tunes Open.
type Option func(*openConfig)

type openConfig struct {
	accessKey, secretKey string
	partSize             int64
	partConcurrency      int
	logger               *slog.Logger
}

// Limits of the S3 multipart protocol.
const (
	minPartSize = 5 << 20
	maxParts    = 10000
)

// DefaultPartSize is the multipart part size, and the size above which an object is uploaded in
// parts.
const DefaultPartSize = 16 << 20

func defaultOpenConfig() openConfig {
	return openConfig{partSize: DefaultPartSize, partConcurrency: 4, logger: slog.Default()}
}

func (c *openConfig) validate() error {
	if c.partSize < minPartSize {
		return fmt.Errorf("%w: part size %d is below the S3 minimum of %d", ErrConfig, c.partSize, minPartSize)
	}
	if c.partConcurrency < 1 {
		return fmt.Errorf("%w: part concurrency %d < 1", ErrConfig, c.partConcurrency)
	}
	if (c.accessKey == "") != (c.secretKey == "") {
		return fmt.Errorf("%w: credentials need both an access key and a secret key", ErrConfig)
	}
	return nil
}

// WithCredentials uses a static access key and secret instead of the environment.
func WithCredentials(accessKey, secretKey string) Option {
	return func(c *openConfig) { c.accessKey, c.secretKey = accessKey, secretKey }
}

// WithPartSize sets the multipart part size (at least 5 MiB). Objects larger than one part are
// uploaded in parts.
func WithPartSize(n int64) Option { return func(c *openConfig) { c.partSize = n } }

// WithPartConcurrency sets how many parts of one object are uploaded at once (default 4).
func WithPartConcurrency(n int) Option { return func(c *openConfig) { c.partConcurrency = n } }

// WithLogger sets the logger for backend events (bucket creation). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *openConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// location is a parsed s3:// or minio:// URL.
type location struct {
	bucket    string
	prefix    string // "" or ends in "/"
	endpoint  string // s3: full URL or ""; minio: host:port
	region    string
	secure    bool // minio only
	pathStyle bool // s3 only
	signBody  bool // s3 only: checksum=sha256
}

func openFileURL(u *url.URL) (Bucket, error) {
	if u.Host != "" {
		return nil, fmt.Errorf("%w: file URL %q has a host %q: want file:///absolute/dir", ErrConfig, u.String(), u.Host)
	}
	if u.Opaque != "" || u.Path == "" {
		return nil, fmt.Errorf("%w: file URL %q needs an absolute path: want file:///absolute/dir", ErrConfig, u.String())
	}
	if len(u.Query()) > 0 {
		return nil, fmt.Errorf("%w: file URL takes no query parameters", ErrConfig)
	}
	return NewFile(u.Path)
}

func parseS3URL(u *url.URL) (location, error) {
	loc := location{bucket: u.Host}
	if loc.bucket == "" {
		return loc, fmt.Errorf("%w: s3 URL %q has no bucket: want s3://bucket/prefix", ErrConfig, u.Redacted())
	}
	if err := validBucketName(loc.bucket); err != nil {
		return loc, err
	}
	var err error
	if loc.prefix, err = cleanPrefix(u.Path); err != nil {
		return loc, err
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "path_style", "checksum":
		default:
			return loc, fmt.Errorf("%w: s3 URL: unknown parameter %q (known: endpoint, region, path_style, checksum)", ErrConfig, k)
		}
	}
	switch c := q.Get("checksum"); c {
	case "", "crc32c":
	case "sha256":
		loc.signBody = true
	default:
		return loc, fmt.Errorf("%w: s3 checksum=%q: want crc32c or sha256", ErrConfig, c)
	}
	loc.region = q.Get("region")
	if ep := q.Get("endpoint"); ep != "" {
		e, err := url.Parse(ep)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return loc, fmt.Errorf("%w: s3 endpoint %q: want http://host:port or https://host", ErrConfig, ep)
		}
		loc.endpoint = ep
		loc.pathStyle = true
	}
	if ps := q.Get("path_style"); ps != "" {
		v, err := strconv.ParseBool(ps)
		if err != nil {
			return loc, fmt.Errorf("%w: s3 path_style=%q: want true or false", ErrConfig, ps)
		}
		loc.pathStyle = v
	}
	return loc, nil
}

func parseMinioURL(u *url.URL) (location, error) {
	loc := location{endpoint: u.Host, secure: true}
	if u.Host == "" {
		return loc, fmt.Errorf("%w: minio URL %q has no host: want minio://host:port/bucket/prefix", ErrConfig, u.Redacted())
	}
	if u.User != nil {
		return loc, fmt.Errorf("%w: minio URL carries credentials; use the environment instead", ErrConfig)
	}
	p := strings.TrimPrefix(u.Path, "/")
	loc.bucket, p, _ = strings.Cut(p, "/")
	if loc.bucket == "" {
		return loc, fmt.Errorf("%w: minio URL %q has no bucket: want minio://host:port/bucket/prefix", ErrConfig, u.Redacted())
	}
	if err := validBucketName(loc.bucket); err != nil {
		return loc, err
	}
	var err error
	if loc.prefix, err = cleanPrefix(p); err != nil {
		return loc, err
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "secure", "region":
		default:
			return loc, fmt.Errorf("%w: minio URL: unknown parameter %q (known: secure, region)", ErrConfig, k)
		}
	}
	loc.region = q.Get("region")
	if s := q.Get("secure"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return loc, fmt.Errorf("%w: minio secure=%q: want true or false", ErrConfig, s)
		}
		loc.secure = v
	}
	return loc, nil
}

// cleanPrefix turns a URL path into a key prefix: "" or "a/b/".
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := ValidateKey(p); err != nil {
		return "", fmt.Errorf("%w: prefix: %w", ErrConfig, err)
	}
	if path.Clean(p) != p {
		return "", fmt.Errorf("%w: prefix %q is not clean", ErrConfig, p)
	}
	return p + "/", nil
}

// validBucketName applies the S3 bucket naming rules (3-63 chars of a-z, 0-9, '.', '-', starting
// and ending with a letter or digit).
func validBucketName(name string) error {
	bad := len(name) < 3 || len(name) > 63
	for i := 0; !bad && i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '-') && i > 0 && i < len(name)-1:
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: bucket name %q: want 3-63 characters of a-z, 0-9, '.' and '-'", ErrConfig, name)
	}
	return nil
}
