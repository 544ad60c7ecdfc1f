package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A dev cluster's directory holds everything its processes write:
//
//	<dir>/data/<name>/      the process's data (MinIO's drive, a NATS server's JetStream, a node's data dir)
//	<dir>/logs/<name>.log   its stdout and stderr, appended across runs
//	<dir>/pids/<name>.pid   its PID while it runs ("<pid>\n")
//
// A PID file alone does not prove the process is ours: the PID may have been reused since. A
// process counts as alive when it exists, is not a zombie and (where /proc exists) one of its
// arguments is its own data dir, which no other process names.
type devLayout struct{ dir string }

func (l devLayout) dataDir(name string) string { return filepath.Join(l.dir, "data", name) }
func (l devLayout) logPath(name string) string { return filepath.Join(l.dir, "logs", name+".log") }
func (l devLayout) pidPath(name string) string { return filepath.Join(l.dir, "pids", name+".pid") }

// devProc is one process of a dev cluster.
type devProc struct {
	name string
	argv []string // argv[0] is the binary
	env  []string // added to this process's environment
	// ready says whether the process serves yet (called until it does).
	ready func(context.Context) error
}

// pidEntry is a PID file found in the layout.
type pidEntry struct {
	name string
	pid  int
}

// pidFiles lists the PID files in the layout, in stopping order: strata nodes, then NATS servers,
// then everything else (MinIO), since nodes release their leases through NATS and flush to MinIO
// as they stop.
func (l devLayout) pidFiles() ([]pidEntry, error) {
	ents, err := os.ReadDir(filepath.Join(l.dir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []pidEntry
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(l.dir, "pids", e.Name()))
		if err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			pid = 0 // a torn or foreign file: stale
		}
		out = append(out, pidEntry{name: name, pid: pid})
	}
	rank := func(name string) int {
		switch {
		case strings.HasPrefix(name, "strata-"):
			return 0
		case strings.HasPrefix(name, "nats-"):
			return 1
		}
		return 2
	}
	slices.SortFunc(out, func(a, b pidEntry) int {
		if r := rank(a.name) - rank(b.name); r != 0 {
			return r
		}
		return strings.Compare(a.name, b.name)
	})
	return out, nil
}

func (l devLayout) alive(e pidEntry) bool { return processAlive(e.pid, l.dataDir(e.name)) }

// writePID records pid for name, atomically (temp file, rename).
func (l devLayout) writePID(name string, pid int) error {
	p := l.pidPath(name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// start runs p detached from this process (its own session, stdin from /dev/null, output appended
// to its log), records its PID and returns a channel closed when it exits while this process
// still runs. The goroutine waiting on it ends with the child or with this process.
func (l devLayout) start(p devProc) (<-chan struct{}, error) {
	for _, d := range []string{l.dataDir(p.name), filepath.Dir(l.logPath(p.name)), filepath.Dir(l.pidPath(p.name))} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(l.logPath(p.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "--- %s: strata dev cluster starts %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(p.argv, " "))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal: a Ctrl-C after `up` leaves it running
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := l.writePID(p.name, cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return nil, fmt.Errorf("%s: PID file: %w", p.name, err)
	}
	return exited, nil
}

// stopAll stops every process with a PID file: group by group in stopping order (nodes, NATS,
// MinIO), SIGTERM, then SIGKILL to what is left after grace. It reports each process on out and
// removes the PID files. It returns how many processes it found running.
func (l devLayout) stopAll(out io.Writer, grace time.Duration) (int, error) {
	entries, err := l.pidFiles()
	if err != nil {
		return 0, err
	}
	group := func(name string) string { k, _, _ := strings.Cut(name, "-"); return k }
	stopped := 0
	for len(entries) > 0 {
		g := group(entries[0].name)
		n := 1
		for n < len(entries) && group(entries[n].name) == g {
			n++
		}
		batch := entries[:n]
		entries = entries[n:]
		var live []pidEntry
		for _, e := range batch {
			if !l.alive(e) {
				fmt.Fprintf(out, "%-9s not running (stale PID file removed)\n", e.name)
				_ = os.Remove(l.pidPath(e.name))
				continue
			}
			_ = syscall.Kill(e.pid, syscall.SIGTERM)
			live = append(live, e)
		}
		deadline := time.Now().Add(grace)
		killed := map[string]bool{}
		for len(live) > 0 {
			var still []pidEntry
			for _, e := range live {
				if l.alive(e) {
					still = append(still, e)
					continue
				}
				how := "stopped"
				if killed[e.name] {
					how = fmt.Sprintf("killed (SIGKILL after %v)", grace)
				}
				fmt.Fprintf(out, "%-9s %s, pid %d\n", e.name, how, e.pid)
				_ = os.Remove(l.pidPath(e.name))
				stopped++
			}
			live = still
			if len(live) == 0 {
				break
			}
			now := time.Now()
			if now.After(deadline.Add(10 * time.Second)) {
				var names []string
				for _, e := range live {
					names = append(names, fmt.Sprintf("%s (pid %d)", e.name, e.pid))
				}
				return stopped, fmt.Errorf("still running after SIGKILL: %s", strings.Join(names, ", "))
			}
			if now.After(deadline) {
				for _, e := range live {
					if !killed[e.name] {
						_ = syscall.Kill(e.pid, syscall.SIGKILL)
						killed[e.name] = true
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return stopped, nil
}

// hasProcFS says whether /proc describes processes (Linux).
var hasProcFS = func() bool {
	_, err := os.Stat("/proc/self/cmdline")
	return err == nil
}()

// processAlive says whether pid is a running process (not a zombie) that names marker as one of
// its arguments. Without /proc only existence can be checked.
func processAlive(pid int, marker string) bool {
	if pid <= 0 {
		return false
	}
	// ESRCH: gone. EPERM: another user's process, so a reused PID and not ours.
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	if !hasProcFS {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false // exited since the signal
	}
	// The state follows the command name, which is in parentheses and may hold any byte.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(string(cmdline), "\x00"), marker)
}

// waitReady polls check until it succeeds, the process exits or ctx ends.
func waitReady(ctx context.Context, exited <-chan struct{}, check func(context.Context) error) error {
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns about the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
