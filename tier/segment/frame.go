package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Local frames hold the small state a node keeps beside its segments (a hot log's start offset, a
// broker's leader-epoch checkpoints). A frame is
//
//	+-----------+-------------+-------------+---------------------+
//	| len u32   | crc32c u32  | version u16 | payload (len bytes) |
//	+-----------+-------------+-------------+---------------------+
//	0           4             8             10                    10+len
//
// big-endian; len counts the payload only, and the CRC32C (Castagnoli) covers version and payload.
// The version is the payload's format, chosen by the frame's owner. A file may hold frames back to
// back: a reader calls ReadFrame until it fails, and recovery keeps the frames before the first bad
// one (torn or failing its CRC) and truncates there.
const (
	FrameHeaderSize = 10
	// MaxFramePayload bounds a frame's payload. Frames hold small state; a larger length is corrupt.
	MaxFramePayload = 1 << 20
)

// AppendFrame appends one frame holding version and payload to dst. It panics if the payload is
// larger than MaxFramePayload (a programming error: frames hold small state).
func AppendFrame(dst []byte, version uint16, payload []byte) []byte {
	if len(payload) > MaxFramePayload {
		panic(fmt.Sprintf("segment: frame payload of %d bytes exceeds %d", len(payload), MaxFramePayload))
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.BigEndian.AppendUint32(dst, 0) // the CRC, below
	dst = binary.BigEndian.AppendUint16(dst, version)
	dst = append(dst, payload...)
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], castagnoli))
	return dst
}

// ReadFrame decodes the frame at the start of b and returns its version, its payload (a sub-slice
// of b) and the number of bytes it took; bytes after the frame are left for the next call. A frame
// cut short, longer than MaxFramePayload or failing its CRC gives an error wrapping ErrCorrupt.
func ReadFrame(b []byte) (version uint16, payload []byte, n int, err error) {
	if len(b) < FrameHeaderSize {
		return 0, nil, 0, fmt.Errorf("%w: frame header cut short at %d bytes", ErrCorrupt, len(b))
	}
	size := binary.BigEndian.Uint32(b)
	if size > MaxFramePayload {
		return 0, nil, 0, fmt.Errorf("%w: frame payload of %d bytes exceeds %d", ErrCorrupt, size, MaxFramePayload)
	}
	n = FrameHeaderSize + int(size)
	if n > len(b) {
		return 0, nil, 0, fmt.Errorf("%w: frame of %d bytes cut short at %d", ErrCorrupt, n, len(b))
	}
	if got, want := crc32.Checksum(b[8:n], castagnoli), binary.BigEndian.Uint32(b[4:]); got != want {
		return 0, nil, 0, fmt.Errorf("%w: frame CRC32C %08x, header says %08x", ErrCorrupt, got, want)
	}
	return binary.BigEndian.Uint16(b[8:]), b[FrameHeaderSize:n:n], n, nil
}
