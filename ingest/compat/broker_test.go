//go:build unix

package compat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// broker is the Kafka endpoint under test: a strata server this test started, or an
// external broker named by STRATA_COMPAT_BOOTSTRAP.
type broker struct {
	addr string
	// opts are the client options every test client needs (SASL), nil for a plain listener.
	opts []kgo.Opt
	// Set only for a server the test started.
	cmd  *exec.Cmd
	logs *objstoretest.SyncBuffer
	done chan struct{} // closed when cmd has exited; then waitErr is set
	werr error
}

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := objstoretest.RepoRoot()
	if err != nil {
		t.Fatalf("compat: %v", err)
	}
	return root
}

// built is the strata binary the package's tests share: built once per test run, in a directory
// TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// strataBin returns the path of a strata binary built from this tree.
func strataBin(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "strata-compat-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "strata")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", built.bin, "./cmd/strata")
		build.Dir = repoRoot(t)
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatalf("compat: %v", built.err)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// startBroker returns the broker to test against. For a started server, the caller must
// call stop (which reports the exit status) when done. serverArgs are added to a started
// server's command line, and opts to the test's own clients.
func startBroker(t testing.TB, opts []kgo.Opt, serverArgs ...string) *broker {
	t.Helper()
	if addr := os.Getenv("STRATA_COMPAT_BOOTSTRAP"); addr != "" {
		b := &broker{addr: addr, opts: opts}
		b.waitReady(t, 60*time.Second)
		return b
	}

	bin := strataBin(t)
	b := &broker{
		addr: objstoretest.FreeAddr(t),
		opts: opts,
		logs: &objstoretest.SyncBuffer{},
		done: make(chan struct{}),
	}
	b.cmd = exec.Command(bin, append([]string{"server",
		"--data-dir", t.TempDir(),
		"--kafka-addr", b.addr,
		"--http-addr", objstoretest.FreeAddr(t),
	}, serverArgs...)...)
	b.cmd.Stdout = b.logs
	b.cmd.Stderr = b.logs
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("compat: start strata: %v", err)
	}
	go func() {
		b.werr = b.cmd.Wait()
		close(b.done)
	}()
	// Whatever happens to the test, the server does not outlive it.
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	})
	b.waitReady(t, 60*time.Second)
	return b
}

// waitReady waits until the broker answers Metadata with at least one broker.
func (b *broker) waitReady(t testing.TB, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if b.done != nil {
			select {
			case <-b.done:
				t.Fatalf("compat: strata exited during startup: %v\n%s", b.werr, b.logs.Tail(60))
			default:
			}
		}
		last = probe(b.addr, b.opts...)
		if last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("compat: broker %s not ready after %v: %v%s", b.addr, limit, last, b.logTail())
}

func probe(addr string, opts ...kgo.Opt) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("metadata lists no brokers")
	}
	return nil
}

// stop sends SIGTERM to a started server and fails t unless it exits with status 0 in time.
func (b *broker) stop(t testing.TB) {
	t.Helper()
	if b.cmd == nil {
		return
	}
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("compat: SIGTERM strata: %v", err)
	}
	select {
	case <-b.done:
		if b.werr != nil {
			t.Errorf("compat: strata did not exit cleanly after SIGTERM: %v%s", b.werr, b.logTail())
		}
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
		t.Errorf("compat: strata still running 30s after SIGTERM; killed%s", b.logTail())
	}
}

// logTail is the end of the server's log, for failure messages ("" for an external broker).
func (b *broker) logTail() string {
	if b.logs == nil {
		return ""
	}
	return "\n--- strata log (tail) ---\n" + b.logs.Tail(80)
}
