package broker

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// legacyEpoch is the checkpoint encoder of before the shared frame (13 bytes, len = 5 counting a
// one-byte version), kept here to make old files for the compatibility tests.
func legacyEpoch(epoch int32) []byte {
	b := make([]byte, 13)
	binary.BigEndian.PutUint32(b[0:], 5)
	b[8] = epochVersion
	binary.BigEndian.PutUint32(b[9:], uint32(epoch))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// Checkpoints as the old broker wrote them must still load; the new layout is pinned too.
func TestEpochCheckpointGolden(t *testing.T) {
	for _, g := range []struct {
		hex   string
		epoch int32
	}{
		{"00000005a9a97d720100000007", 7},         // old layout, written by the old broker
		{"00000005985b649e017fffffff", 1<<31 - 1}, // old layout
	} {
		b, _ := hex.DecodeString(g.hex)
		if e, err := decodeEpoch(b); err != nil || e != g.epoch {
			t.Fatalf("old checkpoint %s: %d %v, want %d", g.hex, e, err, g.epoch)
		}
		if got := legacyEpoch(g.epoch); hex.EncodeToString(got) != g.hex {
			t.Fatalf("legacyEpoch(%d) = %x: the test's copy of the old encoder drifted", g.epoch, got)
		}
	}
	want := segment.AppendFrame(nil, 1, []byte{0, 0, 0, 7})
	if got := encodeEpoch(7); hex.EncodeToString(got) != hex.EncodeToString(want) || len(got) != 14 {
		t.Fatalf("encodeEpoch(7) = %x, want the frame %x", got, want)
	}
	for name, b := range map[string][]byte{
		"old, flipped crc":  func() []byte { b := legacyEpoch(7); b[5] ^= 1; return b }(),
		"old, version 2":    func() []byte { b := legacyEpoch(7); b[8] = 2; return b }(),
		"new, version 2":    segment.AppendFrame(nil, 2, []byte{0, 0, 0, 7}),
		"new, long payload": segment.AppendFrame(nil, 1, []byte{0, 0, 0, 0, 7}),
		"new, trailing":     append(encodeEpoch(7), 0),
		"empty":             nil,
	} {
		if _, err := decodeEpoch(b); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// A node upgraded over an old checkpoint file reads it, and its next checkpoint is a frame.
func TestEpochCheckpointUpgrade(t *testing.T) {
	dir := t.TempDir()
	b := &Broker{cfg: Config{StateDir: dir}, log: slog.New(slog.DiscardHandler)}
	if err := os.WriteFile(b.epochPath("t-0"), legacyEpoch(4), 0o644); err != nil {
		t.Fatal(err)
	}
	if e := b.readEpoch("t-0"); e != 4 {
		t.Fatalf("old checkpoint read as %d, want 4", e)
	}
	if err := b.writeEpoch("t-0", 5); err != nil {
		t.Fatal(err)
	}
	if e := b.readEpoch("t-0"); e != 5 {
		t.Fatalf("new checkpoint read as %d, want 5", e)
	}
	data, err := os.ReadFile(filepath.Join(dir, "t-0"+epochExt))
	if err != nil || string(data) != string(encodeEpoch(5)) {
		t.Fatalf("checkpoint file %x %v, want %x", data, err, encodeEpoch(5))
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("%d files in the state dir, want 1", len(ents))
	}
}
