package lazyfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func mount(t *testing.T) (*FS, string) {
	t.Helper()
	if err := Supported(); err != nil {
		t.Skipf("cannot mount FUSE here: %v", err)
	}
	mnt := t.TempDir()
	f, err := Mount(t.TempDir(), mnt)
	if err != nil {
		t.Skipf("cannot mount FUSE here: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return f, mnt
}

// Synced data survives a cut; data written after the last fsync does not, and reads and sizes see
// unsynced data until the cut.
func TestCutDropsUnsyncedData(t *testing.T) {
	f, mnt := mount(t)
	p := filepath.Join(mnt, "log")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("synced;")); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("S"), 0); err != nil { // an overwrite of synced bytes, unsynced
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "Synced;lost" {
		t.Fatalf("before the cut: %q, want %q", got, "Synced;lost")
	}
	if st, _ := os.Stat(p); st.Size() != 11 {
		t.Fatalf("size before the cut %d, want 11", st.Size())
	}
	w.Close()
	if f.Pending() != 5 {
		t.Fatalf("pending %d bytes, want 5", f.Pending())
	}
	if dropped := f.Cut(); dropped != 5 {
		t.Fatalf("cut dropped %d bytes, want 5", dropped)
	}
	if got, _ := os.ReadFile(p); string(got) != "synced;" {
		t.Fatalf("after the cut: %q, want %q", got, "synced;")
	}

	// Truncates are pending too; O_SYNC writes are durable at once.
	w, err = os.OpenFile(p, os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "sy" {
		t.Fatalf("after an unsynced truncate: %q", got)
	}
	w.Close()
	f.Cut()
	if got, _ := os.ReadFile(p); string(got) != "synced;" {
		t.Fatalf("unsynced truncate survived a cut: %q", got)
	}
	s, err := os.OpenFile(filepath.Join(mnt, "meta"), os.O_CREATE|os.O_WRONLY|os.O_SYNC|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f.Cut()
	if got, _ := os.ReadFile(filepath.Join(mnt, "meta")); !bytes.Equal(got, []byte("kept")) {
		t.Fatalf("O_SYNC write lost on a cut: %q", got)
	}
}
