package hotlog

import (
	"fmt"
	"syscall"

	"github.com/strata-log/strata/tier/segment"
)

// sendfile writes the spans to the socket rc with sendfile(2): the kernel moves the bytes from the
// page cache to the socket, never through this process. handled is false (nothing written) when
// the socket does not take sendfile, for WriteTo to copy instead.
func (s *Spans) sendfile(rc syscall.RawConn) (total int64, handled bool, err error) {
	for _, p := range s.parts {
		src, err := p.f.SyscallConn()
		if err != nil {
			return total, total > 0, err
		}
		var srcFD int
		if err := src.Control(func(fd uintptr) { srcFD = int(fd) }); err != nil {
			return total, total > 0, err
		}
		off, end := p.off, p.off+p.n
		var serr error
		werr := rc.Write(func(dst uintptr) bool {
			for off < end {
				n, err := syscall.Sendfile(int(dst), srcFD, &off, int(min(end-off, 1<<30)))
				if n > 0 {
					total += int64(n)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket takes more (or its deadline passes)
				case err == syscall.EINTR:
				case err != nil:
					serr = err
					return true
				case n == 0:
					serr = fmt.Errorf("%w: segment file ends at %d, inside a span", segment.ErrCorrupt, off)
					return true
				}
			}
			return true
		})
		if werr == nil {
			werr = serr
		}
		if werr != nil {
			if total == 0 && (werr == syscall.EINVAL || werr == syscall.ENOSYS || werr == syscall.EOPNOTSUPP) {
				return 0, false, nil
			}
			return total, true, fmt.Errorf("hotlog: sendfile: %w", werr)
		}
	}
	return total, true, nil
}
