package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/localfs"
	"github.com/strata-log/strata/tier/segment"
)

// Leader-epoch checkpoints. Before a leader serves a partition under epoch E it records E in
// <StateDir>/<log name>.epoch, so the node later knows up to which epoch its local log is the
// partition's truth even when it appended nothing under E. The file is one local frame
// (segment.AppendFrame) of version 1 whose payload is the epoch:
//
//	+---------+------------+-------------+-------------+
//	| len u32 | crc32c u32 | version u16 | epoch int32 |
//	|   = 4   |            |     = 1     |             |
//	+---------+------------+-------------+-------------+
//	    4          4             2             4        bytes, big-endian
//
// Written with localfs.WriteFileAtomic. A missing or bad file means "unknown": the newest batch's
// epoch is used instead.
//
// Migration: checkpoints written before the broker used the shared frame are 13 bytes — len = 5
// (it counted the version), the CRC32C, a one-byte version 1, the epoch. decodeEpoch still reads
// them (the lengths differ, so neither layout passes for the other); the next checkpoint of that
// log is written in the frame layout.

const (
	epochExt     = ".epoch"
	epochVersion = 1
	legacySize   = 13 // a checkpoint in the layout before the shared frame
)

func encodeEpoch(epoch int32) []byte {
	return segment.AppendFrame(make([]byte, 0, segment.FrameHeaderSize+4), epochVersion, binary.BigEndian.AppendUint32(nil, uint32(epoch)))
}

// decodeEpoch reads a checkpoint in either layout. Errors wrap segment.ErrCorrupt.
func decodeEpoch(b []byte) (int32, error) {
	if len(b) == legacySize && binary.BigEndian.Uint32(b) == legacySize-8 {
		return decodeLegacyEpoch(b)
	}
	v, p, n, err := segment.ReadFrame(b)
	switch {
	case err != nil:
		return -1, fmt.Errorf("broker: epoch checkpoint: %w", err)
	case n != len(b):
		return -1, fmt.Errorf("broker: epoch checkpoint: %w: %d bytes after the frame", segment.ErrCorrupt, len(b)-n)
	case v != epochVersion:
		return -1, fmt.Errorf("broker: epoch checkpoint: %w: version %d", segment.ErrCorrupt, v)
	case len(p) != 4:
		return -1, fmt.Errorf("broker: epoch checkpoint: %w: payload of %d bytes", segment.ErrCorrupt, len(p))
	}
	return int32(binary.BigEndian.Uint32(p)), nil
}

// decodeLegacyEpoch reads the 13-byte layout of before the shared frame (see Migration above).
func decodeLegacyEpoch(b []byte) (int32, error) {
	if crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(b[4:]) {
		return -1, fmt.Errorf("broker: epoch checkpoint: %w: checksum mismatch", segment.ErrCorrupt)
	}
	if b[8] != epochVersion {
		return -1, fmt.Errorf("broker: epoch checkpoint: %w: version %d", segment.ErrCorrupt, b[8])
	}
	return int32(binary.BigEndian.Uint32(b[9:])), nil
}

func (b *Broker) epochPath(name string) string {
	return filepath.Join(b.cfg.StateDir, name+epochExt)
}

// readEpoch returns the checkpointed epoch of a log, or -1 when there is none (or it is bad).
func (b *Broker) readEpoch(name string) int32 {
	if b.cfg.StateDir == "" {
		return -1
	}
	data, err := os.ReadFile(b.epochPath(name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			b.log.Warn("broker: read epoch checkpoint", "log", name, "err", err)
		}
		return -1
	}
	e, err := decodeEpoch(data)
	if err != nil {
		b.log.Warn("broker: ignoring epoch checkpoint", "log", name, "err", err)
		return -1
	}
	return e
}

// writeEpoch durably records that the local log is the truth up to epoch.
func (b *Broker) writeEpoch(name string, epoch int32) error {
	if b.cfg.StateDir == "" {
		return nil
	}
	if err := os.MkdirAll(b.cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("broker: state dir: %w", err)
	}
	if err := localfs.WriteFileAtomic(b.cfg.StateDir, name+epochExt, encodeEpoch(epoch)); err != nil {
		return fmt.Errorf("broker: write epoch checkpoint: %w", err)
	}
	return nil
}

func (b *Broker) removeEpoch(name string) {
	if b.cfg.StateDir == "" {
		return
	}
	if err := os.Remove(b.epochPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.log.Warn("broker: remove epoch checkpoint", "log", name, "err", err)
	}
}

// localEpoch is the newest epoch under which this node's copy of a log is known to be the
// partition's truth: the checkpoint, or else the epoch of the newest batch (-1 for an empty log).
func (b *Broker) localEpoch(name string, log *hotlog.Log) (int32, error) {
	if e := b.readEpoch(name); e >= 0 {
		return e, nil
	}
	segs := log.Segments()
	if len(segs) == 0 || log.EndOffset() <= log.StartOffset() {
		return -1, nil
	}
	newest := int32(-1)
	from := max(segs[len(segs)-1].BaseOffset, log.StartOffset())
	if from >= log.EndOffset() && len(segs) > 1 {
		from = max(segs[len(segs)-2].BaseOffset, log.StartOffset())
	}
	err := log.ScanBatches(from, func(info segment.BatchInfo) error {
		newest = max(newest, info.PartitionLeaderEpoch)
		return nil
	})
	if err != nil {
		return -1, fmt.Errorf("broker: scan %s for its leader epoch: %w", name, err)
	}
	return newest, nil
}
