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
// partition's truth even when it appended nothing under E. The file is one frame:
//
//	+--------+--------+---------+-------------+
//	| len u32| crc u32| version | epoch int32 |
//	|   = 5  | crc32c of version+epoch         |
//	+--------+--------+---------+-------------+
//	   4        4        1          4          bytes, big-endian
//
// Written as temp file → fsync → rename → directory fsync. A missing or bad file means "unknown":
// the newest batch's epoch is used instead.

const (
	epochExt     = ".epoch"
	epochVersion = 1
)

// ErrBadCheckpoint is returned by decodeEpoch for bytes that are not a valid checkpoint.
var ErrBadCheckpoint = errors.New("broker: bad leader-epoch checkpoint")

func encodeEpoch(epoch int32) []byte {
	b := make([]byte, 13)
	binary.BigEndian.PutUint32(b[0:], 5)
	b[8] = epochVersion
	binary.BigEndian.PutUint32(b[9:], uint32(epoch))
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
	return b
}

func decodeEpoch(b []byte) (int32, error) {
	if len(b) != 13 || binary.BigEndian.Uint32(b[0:]) != 5 {
		return -1, fmt.Errorf("%w: %d bytes", ErrBadCheckpoint, len(b))
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return -1, fmt.Errorf("%w: checksum mismatch", ErrBadCheckpoint)
	}
	if b[8] != epochVersion {
		return -1, fmt.Errorf("%w: version %d", ErrBadCheckpoint, b[8])
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
