package kafka

import (
	"math/bits"
	"sync"
)

// framePool keeps the buffers of large request frames for reuse, by power-of-two size class. A
// Produce frame (a megabyte a request at saturation) is handed back once its handler has returned:
// its record bytes were written to the hot log and nothing keeps them (broker.Append and the hot
// log retain no slice of a batch). Without it every such frame was allocated afresh, grown a
// chunk at a time (copying what it held) and left to the garbage collector.
//
// Safe for concurrent use. Buffers are not cleared: a frame is always overwritten up to its size
// before it is read.
type framePool struct {
	classes [framePoolMaxShift - framePoolMinShift + 1]sync.Pool
}

// Frames smaller than 1<<framePoolMinShift are not worth pooling; larger than 1<<framePoolMaxShift
// are rare enough to leave to the collector.
const (
	framePoolMinShift = 16 // 64 KiB
	framePoolMaxShift = 26 // 64 MiB
)

// get returns an empty buffer with capacity for size bytes if one is pooled, else nil (the caller
// grows its own as the bytes arrive: memory is not committed for a frame merely announced).
func (fp *framePool) get(size int) []byte {
	if size <= 1<<(framePoolMinShift-1) || size > 1<<framePoolMaxShift {
		return nil
	}
	shift := bits.Len(uint(size - 1)) // the smallest class whose every buffer holds size bytes
	shift = max(shift, framePoolMinShift)
	if b, ok := fp.classes[shift-framePoolMinShift].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// put hands b back for reuse. The caller must not touch b, or any slice of it, afterwards.
func (fp *framePool) put(b []byte) {
	c := cap(b)
	if c < 1<<framePoolMinShift {
		return
	}
	shift := min(bits.Len(uint(c))-1, framePoolMaxShift) // the largest class b can serve
	b = b[:0]
	fp.classes[shift-framePoolMinShift].Put(&b)
}
