// Package localfs holds the steps that make changes to local files durable, shared by every tier
// package that keeps files on a node's disk (the hot log, the file object store) and by the broker's
// leader-epoch checkpoints: fsync of a directory, so that a create, rename or remove in it survives
// a crash, and replacing a small file by atomic rename.
//
// The functions are safe for concurrent use; WriteFileAtomic calls for one name race only in
// which whole version is left, never in a mix of the two.
package localfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory dir, making the creates, renames and removes of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localfs: open dir for sync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("localfs: sync dir %s: %w", dir, err)
	}
	return nil
}

// TempSuffix ends the name of every temporary file WriteFileAtomic creates ("<name>.<random>.tmp").
// A crash can leave one behind; an owner that lists its directory at start may remove them.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces dir/name with data: temp file in dir → write → fsync → rename over name →
// fsync dir. After a crash dir/name holds either the old or the new bytes, never a mix. On error the
// temp file is removed (a crash may still leave one; see TempSuffix).
func WriteFileAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, name+".*"+TempSuffix)
	if err != nil {
		return fmt.Errorf("localfs: create temp for %s: %w", name, err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("localfs: write %s: %w", name, err)
	}
	return SyncDir(dir)
}
