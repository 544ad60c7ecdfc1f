package hotlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/strata-log/strata/tier/segment"
)

// State files are one frame:
//
//	+-----------+-----------+-----------+--------------------+
//	| len u32   | crc32c u32| version   | payload (len bytes)|
//	|           |           | u16       |                    |
//	+-----------+-----------+-----------+--------------------+
//
// len counts the payload; the CRC32C (Castagnoli) covers version and payload. Version 1's payload is
// two big-endian int64s: the log start offset, and the offset of a truncation in progress (-1: none),
// which recovery finishes.
const (
	stateFile       = "state"
	stateVersion    = 1
	stateHeaderSize = 10
	statePayload    = 16
)

// logState is what the state file holds.
type logState struct {
	Start           int64
	PendingTruncate int64 // -1: none
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeState(st logState) []byte {
	b := make([]byte, stateHeaderSize, stateHeaderSize+statePayload)
	b = binary.BigEndian.AppendUint64(b, uint64(st.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(st.PendingTruncate))
	binary.BigEndian.PutUint32(b[0:], statePayload)
	binary.BigEndian.PutUint16(b[8:], stateVersion)
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

// decodeState parses a state frame. Errors wrap segment.ErrCorrupt.
func decodeState(b []byte) (logState, error) {
	if len(b) < stateHeaderSize {
		return logState{}, fmt.Errorf("%w: state file of %d bytes", segment.ErrCorrupt, len(b))
	}
	n := binary.BigEndian.Uint32(b[0:])
	if int64(n) != int64(len(b)-stateHeaderSize) {
		return logState{}, fmt.Errorf("%w: state frame length %d for %d bytes", segment.ErrCorrupt, n, len(b))
	}
	if crc := crc32.Checksum(b[8:], castagnoli); crc != binary.BigEndian.Uint32(b[4:]) {
		return logState{}, fmt.Errorf("%w: state frame CRC mismatch", segment.ErrCorrupt)
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != stateVersion {
		return logState{}, fmt.Errorf("%w: state version %d", segment.ErrCorrupt, v)
	}
	if n != statePayload {
		return logState{}, fmt.Errorf("%w: state payload of %d bytes", segment.ErrCorrupt, n)
	}
	p := b[stateHeaderSize:]
	st := logState{Start: int64(binary.BigEndian.Uint64(p)), PendingTruncate: int64(binary.BigEndian.Uint64(p[8:]))}
	if st.Start < 0 || st.PendingTruncate < -1 {
		return logState{}, fmt.Errorf("%w: state %+v out of range", segment.ErrCorrupt, st)
	}
	return st, nil
}
