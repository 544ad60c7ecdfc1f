package hotlog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// State files written before the frame codec moved to tier/segment, by the hot log's own encoder:
// they must still load, and the encoder must still write exactly these bytes.
var goldenStates = []struct {
	hex string
	st  logState
}{
	{"00000010afa1d9a7000100000000000001f4ffffffffffffffff", logState{Start: 500, PendingTruncate: -1}},
	{"00000010194ae4fe000100000100000000000000020000000000", logState{Start: 1 << 40, PendingTruncate: 1 << 41}},
}

func TestStateGolden(t *testing.T) {
	for _, g := range goldenStates {
		b, err := hex.DecodeString(g.hex)
		if err != nil {
			t.Fatal(err)
		}
		st, err := decodeState(b)
		if err != nil || st != g.st {
			t.Fatalf("decode %s = %+v %v, want %+v", g.hex, st, err, g.st)
		}
		if got := encodeState(g.st); !bytes.Equal(got, b) {
			t.Fatalf("encode %+v = %x, want %s", g.st, got, g.hex)
		}
	}
}

func TestStateRejects(t *testing.T) {
	good := encodeState(logState{Start: 7, PendingTruncate: -1})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"torn":           good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"flipped":        func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(),
		"version 2":      segment.AppendFrame(nil, 2, good[segment.FrameHeaderSize:]),
		"short payload":  segment.AppendFrame(nil, stateVersion, good[segment.FrameHeaderSize+1:]),
		"negative start": encodeState(logState{Start: -1, PendingTruncate: -1}),
	} {
		if _, err := decodeState(b); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}
