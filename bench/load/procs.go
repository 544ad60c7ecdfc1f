package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBroker marks a broker process that would not start or stop.
var ErrBroker = errors.New("load: broker")

// Broker is a server process the harness starts and stops by its process id.
type Broker interface {
	System() string
	// Start launches the process and returns once it serves; Stop ends it (SIGTERM, then SIGKILL
	// after a grace period) and is idempotent.
	Start(ctx context.Context) error
	Stop() error
	Addrs() []string
	// MetricsURL is the Prometheus endpoint, "" when the system has none the harness reads.
	MetricsURL() string
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StrataProc runs `strata server` from Bin with its data under Dir.
type StrataProc struct {
	Bin, Dir    string
	ObjectStore string   // --object-store URL; "" for the default file store under Dir
	Env         []string // extra environment (object-store credentials)
	Args        []string // extra server flags

	kafkaPort, httpPort int
	cmd                 *exec.Cmd
	done                chan struct{}
	logf                *os.File
}

var _ Broker = (*StrataProc)(nil)

func (s *StrataProc) System() string { return SystemStrata }

func (s *StrataProc) Addrs() []string { return []string{fmt.Sprintf("127.0.0.1:%d", s.kafkaPort)} }

func (s *StrataProc) MetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", s.httpPort)
}

func (s *StrataProc) Start(ctx context.Context) error {
	var err error
	if s.kafkaPort, err = FreePort(); err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	if s.httpPort, err = FreePort(); err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	if s.logf, err = os.Create(filepath.Join(s.Dir, "strata.log")); err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	args := []string{"server", "--data-dir", filepath.Join(s.Dir, "data"),
		"--kafka-addr", s.Addrs()[0], "--http-addr", fmt.Sprintf("127.0.0.1:%d", s.httpPort), "--log-level", "warn"}
	if s.ObjectStore != "" {
		args = append(args, "--object-store", s.ObjectStore)
	}
	args = append(args, s.Args...)
	s.cmd = exec.Command(s.Bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	s.cmd.Env = append(os.Environ(), s.Env...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.logf.Close()
		return fmt.Errorf("%w: start %s: %v", ErrBroker, s.Bin, err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }() // owned by Stop, which waits on done
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.httpPort)
	if err := waitReady(ctx, 60*time.Second, s.done, func() bool { return httpOK(ready) }); err != nil {
		_ = s.Stop()
		return fmt.Errorf("%w: strata not ready (log %s): %v", ErrBroker, s.logf.Name(), err)
	}
	return nil
}

// PID is the running server's process id (0 when not running).
func (s *StrataProc) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop sends SIGTERM to the process and SIGKILL after 30 s.
func (s *StrataProc) Stop() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil; s.logf.Close() }()
	return stopPID(s.cmd.Process.Pid, s.done, 30*time.Second)
}

func stopPID(pid int, done <-chan struct{}, grace time.Duration) error {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Errorf("%w: pid %d ignored SIGTERM for %v and was killed", ErrBroker, pid, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%w: pid %d survived SIGKILL", ErrBroker, pid)
	}
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func waitReady(ctx context.Context, limit time.Duration, exited <-chan struct{}, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("process exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// KafkaProc runs the reference Apache Kafka broker through the scripts in Scripts (bench/kafka):
// start.sh DIR PORT launches it and records its pid in DIR/kafka.pid; stop.sh DIR ends that pid.
type KafkaProc struct {
	Scripts, Dir string
	Name         string // the system name in results; "" means "kafka"
	port         int
	started      bool
}

var _ Broker = (*KafkaProc)(nil)

func (k *KafkaProc) System() string {
	if k.Name != "" {
		return k.Name
	}
	return SystemKafka
}

func (k *KafkaProc) Addrs() []string { return []string{fmt.Sprintf("127.0.0.1:%d", k.port)} }

func (k *KafkaProc) MetricsURL() string { return "" }

// Start runs start.sh on fresh loopback ports for the listener and the controller; a port taken
// between choosing it and binding it fails the start, so it tries three times on new ports.
func (k *KafkaProc) Start(ctx context.Context) error {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if last = k.start(ctx); last == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		_ = os.RemoveAll(k.Dir) // a half-started broker's storage is not reused
	}
	return last
}

func (k *KafkaProc) start(ctx context.Context) error {
	var err error
	if k.port, err = FreePort(); err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	cport, err := FreePort()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBroker, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(k.Scripts, "start.sh"), k.Dir, strconv.Itoa(k.port))
	cmd.Env = append(os.Environ(), "KAFKA_CONTROLLER_PORT="+strconv.Itoa(cport))
	out, err := cmd.CombinedOutput()
	k.started = true // even a failed start may have left a pid behind
	if err != nil {
		_ = k.Stop()
		return fmt.Errorf("%w: kafka start.sh: %v: %s", ErrBroker, err, tail(out, 600))
	}
	return nil
}

// PID is the broker's process id as start.sh recorded it (0 when unknown).
func (k *KafkaProc) PID() int {
	b, err := os.ReadFile(filepath.Join(k.Dir, "kafka.pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (k *KafkaProc) Stop() error {
	if !k.started {
		return nil
	}
	k.started = false
	out, err := exec.Command(filepath.Join(k.Scripts, "stop.sh"), k.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: kafka stop.sh: %v: %s", ErrBroker, err, tail(out, 2000))
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// MinIOProc is a MinIO server on a loopback port serving Dir, for Strata's object store and the raw
// GET baseline. MinIO is an external test server: the harness only runs its binary.
type MinIOProc struct {
	Bin, Dir       string
	User, Password string
	port, conPort  int
	cmd            *exec.Cmd
	done           chan struct{}
	logf           *os.File
}

// Endpoint is the S3 endpoint URL.
func (m *MinIOProc) Endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", m.port) }

func (m *MinIOProc) Start(ctx context.Context) error {
	var err error
	if m.port, err = FreePort(); err != nil {
		return err
	}
	if m.conPort, err = FreePort(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(m.Dir, "data"), 0o755); err != nil {
		return err
	}
	if m.logf, err = os.Create(filepath.Join(m.Dir, "minio.log")); err != nil {
		return err
	}
	m.cmd = exec.Command(m.Bin, "server", filepath.Join(m.Dir, "data"), "--address", fmt.Sprintf("127.0.0.1:%d", m.port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", m.conPort), "--quiet")
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.User, "MINIO_ROOT_PASSWORD="+m.Password,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	m.cmd.Stdout, m.cmd.Stderr = m.logf, m.logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		m.logf.Close()
		return fmt.Errorf("%w: start minio: %v", ErrBroker, err)
	}
	m.done = make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	// live answers as soon as the process listens; ready once it serves S3 requests (before that,
	// they get 503 Service Unavailable).
	ready := m.Endpoint() + "/minio/health/ready"
	if err := waitReady(ctx, 60*time.Second, m.done, func() bool { return httpOK(ready) }); err != nil {
		_ = m.Stop()
		return fmt.Errorf("%w: minio not ready: %v", ErrBroker, err)
	}
	return nil
}

// PID is the running server's process id (0 when not running).
func (m *MinIOProc) PID() int {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Restart stops the server, removes its data and starts an empty one (on new ports).
func (m *MinIOProc) Restart(ctx context.Context) error {
	if err := m.Stop(); err != nil {
		return err
	}
	if err := os.RemoveAll(m.Dir); err != nil {
		return err
	}
	return m.Start(ctx)
}

func (m *MinIOProc) Stop() error {
	if m.cmd == nil {
		return nil
	}
	defer func() { m.cmd = nil; m.logf.Close() }()
	return stopPID(m.cmd.Process.Pid, m.done, 20*time.Second)
}
