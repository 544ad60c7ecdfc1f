//go:build unix

package hotlog

import (
	"os"
	"syscall"
)

// dupFile duplicates f's descriptor (close-on-exec) when f is an OS file.
func dupFile(f file) (*os.File, bool) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(raw uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, derr = syscall.Dup(int(raw)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	}); err != nil || derr != nil {
		return nil, false
	}
	return os.NewFile(uintptr(fd), "hot log segment"), true
}

// spanFileLimit is a quarter of the process's descriptor limit, within [64, 16384].
func spanFileLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 64
	}
	return int64(min(max(rl.Cur/4, 64), 16384))
}
