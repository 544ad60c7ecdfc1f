package hotlog

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-log/strata/tier/segment"
)

// The state file is one local frame (segment.AppendFrame: len | crc32c | version | payload).
// Version 1's payload is two big-endian int64s: the log start offset, and the offset of a
// truncation in progress (-1: none), which recovery finishes.
const (
	stateFile    = "state"
	stateVersion = 1
	statePayload = 16
)

// logState is what the state file holds.
type logState struct {
	Start           int64
	PendingTruncate int64 // -1: none
}

func encodeState(st logState) []byte {
	var p [statePayload]byte
	binary.BigEndian.PutUint64(p[0:], uint64(st.Start))
	binary.BigEndian.PutUint64(p[8:], uint64(st.PendingTruncate))
	return segment.AppendFrame(make([]byte, 0, segment.FrameHeaderSize+statePayload), stateVersion, p[:])
}

// decodeState parses a state file. Errors wrap segment.ErrCorrupt.
func decodeState(b []byte) (logState, error) {
	v, p, n, err := segment.ReadFrame(b)
	if err != nil {
		return logState{}, fmt.Errorf("hotlog: state file: %w", err)
	}
	switch {
	case n != len(b):
		return logState{}, fmt.Errorf("hotlog: state file: %w: %d bytes after the frame", segment.ErrCorrupt, len(b)-n)
	case v != stateVersion:
		return logState{}, fmt.Errorf("hotlog: state file: %w: version %d", segment.ErrCorrupt, v)
	case len(p) != statePayload:
		return logState{}, fmt.Errorf("hotlog: state file: %w: payload of %d bytes", segment.ErrCorrupt, len(p))
	}
	st := logState{Start: int64(binary.BigEndian.Uint64(p)), PendingTruncate: int64(binary.BigEndian.Uint64(p[8:]))}
	if st.Start < 0 || st.PendingTruncate < -1 {
		return logState{}, fmt.Errorf("hotlog: state file: %w: %+v out of range", segment.ErrCorrupt, st)
	}
	return st, nil
}
