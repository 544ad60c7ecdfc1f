package hotlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"syscall"

	"github.com/strata-log/strata/tier/segment"
)

// Spans are whole batches of a Log left where they lie in its segment files, for a caller that
// sends them to a socket straight from the files (WriteTo: sendfile on Linux) instead of reading
// them into memory and writing them from there. ReadSpans returns them.
//
// Each span holds a duplicate of its segment file's descriptor, so local retention may remove the
// file, and the Log close it, while a send is under way. No byte of a segment file changes once
// written and fsynced below the end a reader may see — appends go past the end, and a truncation
// writes the batches it keeps to a new file that replaces the old one — so the bytes sent are the
// batches found when the spans were taken. Close releases the descriptors (after the send); a
// Spans is for one goroutine at a time.
type Spans struct {
	parts []span
	n     int64
	last  int64 // the last offset of the last batch
}

// spanFiles counts the descriptors that Spans hold. Past maxSpanFiles ReadSpans copies instead,
// so that consumers slow to take their responses cannot use up the process's descriptors (which
// the listener and the hot logs need).
var spanFiles atomic.Int64

var maxSpanFiles = spanFileLimit()

// SpanFiles is the number of file descriptors that Spans not yet closed hold, process-wide.
func SpanFiles() int64 { return spanFiles.Load() }

// span is n bytes at off of f, a duplicate descriptor of a segment file owned by the Spans.
type span struct {
	f      *os.File
	off, n int64
}

// Len is the number of bytes the spans hold.
func (s *Spans) Len() int { return int(s.n) }

// LastOffset is the last offset of the last batch the spans hold.
func (s *Spans) LastOffset() int64 { return s.last }

// Close releases the file descriptors. Calling it again does nothing.
func (s *Spans) Close() error {
	var errs []error
	for _, p := range s.parts {
		if err := p.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	spanFiles.Add(-int64(len(s.parts)))
	s.parts, s.n = nil, 0
	return errors.Join(errs...)
}

// AppendTo appends the spans' bytes to dst (pread), for a writer WriteTo cannot send to directly.
func (s *Spans) AppendTo(dst []byte) ([]byte, error) {
	for _, p := range s.parts {
		at := len(dst)
		dst = extend(dst, p.n)
		if err := readSpan(p.f, dst[at:], p.off); err != nil {
			return dst[:at], err
		}
	}
	return dst, nil
}

// WriteTo writes the spans' bytes to w: by sendfile when w is a TCP or Unix socket on Linux (its
// write deadline applies), else read and written through a buffer. A file that ends before a span
// does (which the Log never allows) is an error wrapping segment.ErrCorrupt, and the bytes
// written so far are a broken frame: the caller closes the connection.
func (s *Spans) WriteTo(w io.Writer) (int64, error) {
	if sc, ok := w.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			if n, handled, err := s.sendfile(rc); handled {
				return n, err
			}
		}
	}
	var total int64
	buf := make([]byte, min(s.n, 256<<10))
	for _, p := range s.parts {
		for at := int64(0); at < p.n; {
			k := min(int64(len(buf)), p.n-at)
			if err := readSpan(p.f, buf[:k], p.off+at); err != nil {
				return total, err
			}
			n, err := w.Write(buf[:k])
			total += int64(n)
			if err != nil {
				return total, err
			}
			at += k
		}
	}
	return total, nil
}

// readSpan reads len(b) bytes at off of f; a file that ends first is corruption.
func readSpan(f *os.File, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	switch {
	case n == len(b):
		return nil
	case err == nil || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: segment file ends at %d, inside a span", segment.ErrCorrupt, off+int64(n))
	default:
		return fmt.Errorf("hotlog: read span at %d: %w", off+int64(n), err)
	}
}

// extend returns b grown by n bytes (their contents unspecified).
func extend(b []byte, n int64) []byte {
	b = slices.Grow(b, int(n))
	return b[:len(b)+int(n)]
}

// ReadSpans is ReadAppend for a caller that can send batches from the files (Spans.WriteTo). It
// finds the same batches, reading only their headers; when they hold at least minBytes and every
// segment file they lie in is an OS file, it returns them as Spans, else their bytes appended to
// dst[:0] as ReadAppend does (spans nil). Small reads are cheaper copied than sent from files.
func (l *Log) ReadSpans(dst []byte, offset int64, maxBytes int, limit int64, minBytes int) ([]byte, *Spans, error) {
	l.filesMu.RLock()
	defer l.filesMu.RUnlock()
	var parts []part
	total, last := 0, int64(-1)
	err := l.walkRead(offset, maxBytes, limit, func(s *seg, r *segment.Reader, pos, limit int64) (int64, error) {
		end, lastHere, err := r.BatchesEnd(pos, total, maxBytes, limit)
		if err == nil && end > pos {
			parts = append(parts, part{s, pos, end})
			total += int(end - pos)
			last = lastHere
		}
		return end, err
	}, func() int { return total })
	if err != nil {
		return nil, nil, err
	}
	if total >= minBytes && total > 0 {
		if sp := takeSpans(parts, last); sp != nil {
			return nil, sp, nil
		}
	}
	out := dst[:0]
	for _, p := range parts {
		at := len(out)
		out = extend(out, p.end-p.pos)
		if _, err := p.s.f.ReadAt(out[at:], p.pos); err != nil {
			return nil, nil, fmt.Errorf("hotlog: read %s at %d: %w", l.name, offset, err)
		}
	}
	return out, nil, nil
}

// part is the batches [pos, end) of a segment.
type part struct {
	s        *seg
	pos, end int64
}

// takeSpans duplicates the descriptors of parts' files into Spans; nil when one cannot be
// duplicated or maxSpanFiles would be passed. The caller holds filesMu shared.
func takeSpans(parts []part, last int64) *Spans {
	n := int64(len(parts))
	if spanFiles.Add(n) > maxSpanFiles {
		spanFiles.Add(-n)
		return nil
	}
	sp := &Spans{last: last}
	for i, p := range parts {
		f, ok := dupFile(p.s.f)
		if !ok {
			spanFiles.Add(-(n - int64(i))) // those not taken; Close gives back the rest
			_ = sp.Close()
			return nil
		}
		sp.parts = append(sp.parts, span{f: f, off: p.pos, n: p.end - p.pos})
		sp.n += p.end - p.pos
	}
	return sp
}
