package objstoretest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-log/strata/tier/objstore"
)

// MinIO is a MinIO server started by StartMinIO: one process on 127.0.0.1 serving a temporary
// directory, stopped when the test ends.
//
// Credentials: the server's root user and password are AccessKey and SecretKey. Backends learn them
// either from Credentials (objstore.WithCredentials, safe in parallel tests) or from SetEnv, which sets
// the AWS_* variables the s3 and minio backends read by default.
type MinIO struct {
	tb       testing.TB
	bin      string
	dir      string
	addr     string
	console  string
	user     string
	password string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *SyncBuffer
}

// ToolsHint is the message given when a test tool is missing.
const ToolsHint = "run `make tools` (or set STRATA_TOOLS_BIN to a directory holding the binary)"

// ToolPath finds a test tool: $STRATA_TOOLS_BIN/name, else <repo root>/.tools/bin/name where the
// repository root is the nearest directory above the working directory holding go.mod. When the
// tool is missing it fails the test if STRATA_REQUIRE_TOOLS=1 (CI), and skips it otherwise.
func ToolPath(tb testing.TB, name string) string {
	tb.Helper()
	var tried []string
	if dir := os.Getenv("STRATA_TOOLS_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p
		}
		tried = append(tried, p)
	}
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if isExecutable(p) {
			return p
		}
		tried = append(tried, p)
	}
	msg := fmt.Sprintf("%s not found (looked in %s): %s", name, strings.Join(tried, ", "), ToolsHint)
	if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
		tb.Fatal(msg)
	} else {
		tb.Skip(msg)
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// RepoRoot is the directory holding go.mod, found by walking up from the working directory (a
// test's working directory is its package's).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// StartMinIO starts a MinIO server on free 127.0.0.1 ports with a temporary data directory and
// waits until it answers its health checks and a signed S3 call. The server stops when the test
// ends. The binary is found by ToolPath (skip, or fail under STRATA_REQUIRE_TOOLS=1, when absent).
//
// Typical use from another package's test:
//
//	m := objstoretest.StartMinIO(t)
//	b := m.Open(t, m.S3URL("segments"))        // bucket created, closed at the end of the test
//	url := m.S3URL("segments/node-1")          // or hand a URL (with a prefix) to code under test,
//	m.SetEnv(t)                                // with the credentials in AWS_* (not in parallel tests)
func StartMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	m := &MinIO{
		tb:       tb,
		bin:      ToolPath(tb, "minio"),
		dir:      tb.TempDir(),
		addr:     FreeAddr(tb),
		console:  FreeAddr(tb),
		user:     "strata-test",
		password: "strata-test-secret",
	}
	tb.Cleanup(m.Stop)
	m.Start()
	return m
}

// Start starts the server, or restarts it after Stop on the same directory and port, and waits
// until it is ready. Stored objects survive a restart.
func (m *MinIO) Start() {
	m.tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	m.out = &SyncBuffer{}
	cmd := exec.Command(m.bin, "server", m.dir, "--address", m.addr, "--console-address", m.console, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+m.user,
		"MINIO_ROOT_PASSWORD="+m.password,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	cmd.Stdout, cmd.Stderr = m.out, m.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		m.tb.Fatalf("minio: start %s: %v", m.bin, err)
	}
	done := make(chan struct{})
	go func() { // owned by this MinIO; ends when the process exits (Stop kills it)
		_ = cmd.Wait()
		close(done)
	}()
	m.cmd, m.done = cmd, done
	if err := m.waitReady(done); err != nil {
		m.stopLocked()
		m.tb.Fatalf("minio: %v\n--- minio output ---\n%s", err, m.out.String())
	}
}

func (m *MinIO) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	if err := m.waitHealth(client, deadline, exited); err != nil {
		return err
	}
	// Health answers before every subsystem is up (IAM, for one): wait until a signed S3 call works.
	s3c, err := minio.New(m.addr, &minio.Options{Creds: credentials.NewStaticV4(m.user, m.password, ""), MaxRetries: 1})
	if err != nil {
		return err
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s3c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S3 API not ready after 60s: %w", err)
		}
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (m *MinIO) waitHealth(client *http.Client, deadline time.Time, exited <-chan struct{}) error {
	for _, path := range []string{"/minio/health/live", "/minio/health/ready"} {
		for {
			resp, err := client.Get(m.Endpoint() + path)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not ready at %s after 60s (last: %v)", m.Endpoint()+path, err)
			}
			select {
			case <-exited:
				return errors.New("exited before it was ready")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit. It is
// idempotent; Start brings the server back.
func (m *MinIO) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopLocked()
}

func (m *MinIO) stopLocked() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd, m.done = nil, nil
}

// Endpoint is the server's S3 URL, "http://127.0.0.1:port".
func (m *MinIO) Endpoint() string { return "http://" + m.addr }

// Addr is the server's host:port.
func (m *MinIO) Addr() string { return m.addr }

// AccessKey is the root user.
func (m *MinIO) AccessKey() string { return m.user }

// SecretKey is the root password.
func (m *MinIO) SecretKey() string { return m.password }

// Dir is the server's data directory.
func (m *MinIO) Dir() string { return m.dir }

// Output returns what the server has printed since it last started.
func (m *MinIO) Output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

// S3URL is an objstore URL for bucket (and an optional "bucket/prefix") on this server through
// the s3 backend.
func (m *MinIO) S3URL(bucket string) string {
	b, prefix, _ := strings.Cut(bucket, "/")
	u := url.URL{Scheme: "s3", Host: b, Path: "/" + prefix,
		RawQuery: url.Values{"endpoint": {m.Endpoint()}, "region": {"us-east-1"}}.Encode()}
	return u.String()
}

// MinioURL is an objstore URL for bucket (and an optional "bucket/prefix") on this server through
// the minio backend.
func (m *MinIO) MinioURL(bucket string) string {
	u := url.URL{Scheme: "minio", Host: m.addr, Path: "/" + bucket, RawQuery: "secure=false"}
	return u.String()
}

// Credentials is the Open option that carries this server's credentials.
func (m *MinIO) Credentials() objstore.Option { return objstore.WithCredentials(m.user, m.password) }

// SetEnv sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION for the rest of the test, so
// that objstore.Open without options reaches this server. Not for parallel tests (t.Setenv).
func (m *MinIO) SetEnv(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", m.user)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.password)
	t.Setenv("AWS_REGION", "us-east-1")
}

// Open opens url with this server's credentials plus opts, and closes the bucket when the test
// ends.
func (m *MinIO) Open(tb testing.TB, rawURL string, opts ...objstore.Option) objstore.Bucket {
	tb.Helper()
	quiet := objstore.WithLogger(slog.New(slog.DiscardHandler))
	b, err := objstore.Open(context.Background(), rawURL, append([]objstore.Option{quiet, m.Credentials()}, opts...)...)
	if err != nil {
		tb.Fatalf("open %s: %v", rawURL, err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}
