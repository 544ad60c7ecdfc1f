package localfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-log/strata/tier/localfs"
)

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	for _, data := range []string{"first", "second, longer", ""} {
		if err := localfs.WriteFileAtomic(dir, "state", []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "state"))
		if err != nil || string(got) != data {
			t.Fatalf("read %q %v, want %q", got, err, data)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("%d entries left in the directory, want only the file", len(ents))
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	if err := localfs.WriteFileAtomic(dir, "state", []byte("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if err := localfs.SyncDir(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SyncDir: got %v, want an error wrapping fs.ErrNotExist", err)
	}
}
