package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestFilePutDeleteRace: Deletes prune directories that concurrent Puts are about to use; every
// Put must still land.
func TestFilePutDeleteRace(t *testing.T) {
	b, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				key := fmt.Sprintf("a/b/c/w%d-%d", w, i)
				if err := b.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
					errs <- err
					return
				}
				if err := b.Delete(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestFileIgnoresLeftoverTempFiles: a temporary file left by a crash mid-Put is not an object.
func TestFileIgnoresLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	b, err := objstore.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	objstoretest.Put(t, b, "p/real", []byte("x"))
	if err := os.WriteFile(filepath.Join(dir, "p", ".strata-tmp-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := b.List(context.Background(), "", func(a objstore.Attrs) error { keys = append(keys, a.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "p/real" {
		t.Fatalf("List = %q, want only p/real", keys)
	}
	if _, err := b.Head(context.Background(), "p/.strata-tmp-123"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Head of a temp file name: %v, want ErrInvalidKey", err)
	}
}
