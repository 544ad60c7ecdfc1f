package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// More errors callers branch on, beside ErrNotFound and ErrExists.
var (
	// ErrInvalidKey: the key is empty, starts with a slash, has an empty, "." or ".." segment, or
	// uses a segment name reserved by the file backend (see ValidateKey).
	ErrInvalidKey = errors.New("objstore: invalid key")
	// ErrInvalidRange: GetRange with a negative offset, or an offset past the end of the object
	// (off > size). Every backend reads the same way: a read at the end (off == size) or of length
	// 0 gives an empty reader, and a length reaching past the end is cut at the end.
	ErrInvalidRange = errors.New("objstore: invalid range")
	// ErrConfig: Open was given a URL or options it cannot use.
	ErrConfig = errors.New("objstore: bad configuration")
	// ErrAccessDenied: the server refused the credentials or the request.
	ErrAccessDenied = errors.New("objstore: access denied")
	// ErrClosed: the Bucket was used after Close.
	ErrClosed = errors.New("objstore: bucket closed")
)

// tmpPrefix starts the names of the file backend's temporary files. Key segments may not start
// with it, so a listing can never confuse a half-written file with an object.
const tmpPrefix = ".strata-tmp-"

// ValidateKey reports whether key is a valid object key: non-empty, slash-separated, no leading or
// trailing slash, no empty, "." or ".." segments, no NUL bytes, and no segment starting with
// ".strata-tmp-". Every backend applies the same rule so that keys behave the same everywhere.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > 1024 {
		return fmt.Errorf("%w: longer than 1024 bytes", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: %q contains a NUL byte", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: %q has an empty segment or a leading/trailing slash", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrInvalidKey, key, seg)
		case strings.HasPrefix(seg, tmpPrefix):
			return fmt.Errorf("%w: %q uses the reserved segment prefix %q", ErrInvalidKey, key, tmpPrefix)
		}
	}
	return nil
}

// RemoteError is a failure reported by, or on the way to, an object store server. Backends return
// it wrapped so that Retryable and logs can see the HTTP status and the S3 error code; errors.Is
// sees Kind (ErrNotFound, ErrExists, ErrAccessDenied when one applies) and Err.
type RemoteError struct {
	Op     string // Bucket method: "put", "get", ...
	Bucket string
	Key    string
	Status int    // HTTP status; 0 when no response arrived
	Code   string // S3 error code, e.g. "SlowDown", "NoSuchKey"
	Kind   error  // the package sentinel this failure means, or nil
	Err    error  // the client library's error
}

func newRemoteError(op, bucket, key string, status int, code string, err error) *RemoteError {
	return &RemoteError{Op: op, Bucket: bucket, Key: key, Status: status, Code: code,
		Kind: classify(status, code), Err: err}
}

func (e *RemoteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "objstore: %s %s", e.Op, e.Bucket)
	if e.Key != "" {
		fmt.Fprintf(&b, "/%s", e.Key)
	}
	if e.Kind != nil {
		fmt.Fprintf(&b, ": %s", strings.TrimPrefix(e.Kind.Error(), "objstore: "))
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (http %d %s)", e.Status, e.Code)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *RemoteError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// classify maps an HTTP status and S3 code onto the package sentinels. It returns nil when no
// sentinel applies.
func classify(status int, code string) error {
	switch code {
	case "NoSuchKey", "NotFound", "NoSuchBucket":
		return ErrNotFound
	case "PreconditionFailed", "ConditionalRequestConflict":
		return ErrExists
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return ErrAccessDenied
	}
	switch status {
	case 404:
		return ErrNotFound
	case 412:
		return ErrExists
	case 401, 403:
		return ErrAccessDenied
	}
	return nil
}

// withCtx adds ctx's error to err when ctx is done, so that callers can always test
// errors.Is(err, context.Canceled) whatever the client library did with the cancellation.
func withCtx(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, cerr)
	}
	return err
}

// Retryable reports whether an operation that failed with err may succeed if tried again:
// throttling (SlowDown, 429, 503), other 5xx, timeouts and connection failures. It never retries
// ErrNotFound, ErrExists, ErrInvalidKey, ErrInvalidRange, ErrAccessDenied, other 4xx answers or a
// cancelled context.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	for _, final := range []error{ErrNotFound, ErrExists, ErrInvalidKey, ErrInvalidRange, ErrConfig,
		ErrAccessDenied, ErrClosed, context.Canceled} {
		if errors.Is(err, final) {
			return false
		}
	}
	var re *RemoteError
	if errors.As(err, &re) && re.Status != 0 {
		switch re.Code {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
			"InternalError", "ServiceUnavailable", "XMinioServerNotInitialized":
			return true
		}
		return re.Status == 429 || re.Status >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A per-request timeout inside the client. The retry loop checks the caller's own ctx
		// separately and stops when that one is done.
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true // dial failures, resets and timeouts on the way to the server
	}
	for _, transient := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.ETIMEDOUT, io.ErrUnexpectedEOF} {
		if errors.Is(err, transient) {
			return true
		}
	}
	return false
}

// listable reports whether any valid key can start with prefix: every complete segment of it
// (before its last slash) must be a valid key segment. Backends answer an unlistable prefix with an
// empty listing instead of sending it to a server (which may reject "..") or a filesystem.
func listable(prefix string) bool {
	dir := prefix[:strings.LastIndexByte(prefix, '/')+1]
	return dir == "" || ValidateKey(strings.TrimSuffix(dir, "/")) == nil
}
