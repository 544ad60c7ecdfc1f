package segment_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// The frame layout is pinned by bytes: a hot log's state file (version 1, start 500, no truncation
// pending) as the hot log wrote it before frames moved here.
const goldenFrame = "00000010afa1d9a7000100000000000001f4ffffffffffffffff"

func TestFrameGolden(t *testing.T) {
	want, err := hex.DecodeString(goldenFrame)
	if err != nil {
		t.Fatal(err)
	}
	payload := want[segment.FrameHeaderSize:]
	if got := segment.AppendFrame(nil, 1, payload); !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = %x, want %x", got, want)
	}
	v, p, n, err := segment.ReadFrame(want)
	if err != nil || v != 1 || n != len(want) || !bytes.Equal(p, payload) {
		t.Fatalf("ReadFrame = %d %x %d %v", v, p, n, err)
	}
}

func TestFrameSequenceStopsAtFirstBadFrame(t *testing.T) {
	payloads := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("xyz"), 100), []byte("last")}
	var file []byte
	var ends []int
	for i, p := range payloads {
		file = segment.AppendFrame(file, uint16(i), p)
		ends = append(ends, len(file))
	}
	read := func(b []byte) (got [][]byte, valid int, err error) {
		for valid < len(b) {
			v, p, n, err := segment.ReadFrame(b[valid:])
			if err != nil {
				return got, valid, err
			}
			if int(v) != len(got) {
				t.Fatalf("frame %d has version %d", len(got), v)
			}
			got = append(got, p)
			valid += n
		}
		return got, valid, nil
	}
	got, valid, err := read(file)
	if err != nil || valid != len(file) || len(got) != len(payloads) {
		t.Fatalf("clean file: %d frames, %d bytes valid, %v", len(got), valid, err)
	}
	for i := range payloads {
		if !bytes.Equal(got[i], payloads[i]) {
			t.Fatalf("frame %d: %q, want %q", i, got[i], payloads[i])
		}
	}
	for name, tc := range map[string]struct {
		damage func([]byte) []byte
		valid  int // bytes of whole good frames before the damage
	}{
		"torn header":   {func(b []byte) []byte { return b[:ends[1]+3] }, ends[1]},
		"torn payload":  {func(b []byte) []byte { return b[:ends[2]-1] }, ends[1]},
		"flipped byte":  {func(b []byte) []byte { b[ends[2]+11] ^= 1; return b }, ends[2]},
		"flipped crc":   {func(b []byte) []byte { b[ends[0]+5] ^= 1; return b }, ends[0]},
		"huge length":   {func(b []byte) []byte { b[ends[0]] = 0xff; return b }, ends[0]},
		"flipped first": {func(b []byte) []byte { b[9] ^= 1; return b }, 0},
	} {
		got, valid, err := read(tc.damage(bytes.Clone(file)))
		if !errors.Is(err, segment.ErrCorrupt) || valid != tc.valid {
			t.Errorf("%s: stopped at %d with %v, want %d and ErrCorrupt", name, valid, err, tc.valid)
		}
		for i := range got {
			if !bytes.Equal(got[i], payloads[i]) {
				t.Errorf("%s: frame %d read as %q", name, i, got[i])
			}
		}
	}
}

func TestFramePayloadBound(t *testing.T) {
	big := make([]byte, segment.MaxFramePayload)
	if _, p, _, err := segment.ReadFrame(segment.AppendFrame(nil, 1, big)); err != nil || len(p) != len(big) {
		t.Fatalf("a frame of MaxFramePayload: %d bytes, %v", len(p), err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("AppendFrame took a payload over MaxFramePayload")
		}
	}()
	segment.AppendFrame(nil, 1, make([]byte, segment.MaxFramePayload+1))
}

// FuzzReadFrame reads a file of frames as recovery does: every accepted frame re-encodes to the
// same bytes, and every rejection wraps ErrCorrupt.
func FuzzReadFrame(f *testing.F) {
	golden, _ := hex.DecodeString(goldenFrame)
	f.Add(golden)
	f.Add(append(segment.AppendFrame(nil, 2, []byte("x")), golden[:7]...))
	f.Add(segment.AppendFrame(segment.AppendFrame(nil, 0, nil), 1, []byte{0, 0, 0, 7}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for pos := 0; pos < len(b); {
			v, p, n, err := segment.ReadFrame(b[pos:])
			if err != nil {
				if !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				return
			}
			if n < segment.FrameHeaderSize || pos+n > len(b) {
				t.Fatalf("frame of %d bytes at %d in %d", n, pos, len(b))
			}
			if !bytes.Equal(segment.AppendFrame(nil, v, p), b[pos:pos+n]) {
				t.Fatalf("accepted %x, which re-encodes differently", b[pos:pos+n])
			}
			pos += n
		}
	})
}
