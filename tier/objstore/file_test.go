package objstore_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

func TestFileAcceptance(t *testing.T) {
	objstoretest.RunAcceptance(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.Open(context.Background(), (&url.URL{Scheme: "file", Path: t.TempDir()}).String())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestFileLeavesNoTempFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := objstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, b, "a/b", []byte("x"))
	objstoretest.Put(t, b, "a/c", []byte("y"), objstore.IfAbsent())
	if err := b.Put(context.Background(), "a/c", strings.NewReader("z"), 1, objstore.IfAbsent()); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second IfAbsent put: %v", err)
	}
	_ = b.Put(context.Background(), "a/d", strings.NewReader("short"), 10)
	var names []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "a/b,a/c" {
		t.Fatalf("files on disk = %q, want only a/b and a/c", names)
	}
	// Deleting the last object removes its directory.
	for _, k := range []string{"a/b", "a/c"} {
		if err := b.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory a after deleting its objects: %v", err)
	}
}

func TestFileKeyDirectoryConflict(t *testing.T) {
	b, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, b, "a/b", []byte("x"))
	if err := b.Put(context.Background(), "a", strings.NewReader("y"), 1); err == nil {
		t.Fatal("Put of a key that is a directory of other objects succeeded")
	}
	if err := b.Put(context.Background(), "a/b/c", strings.NewReader("y"), 1); err == nil {
		t.Fatal("Put below an object succeeded")
	}
}
