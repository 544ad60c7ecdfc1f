package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/strata-log/strata/tier/localfs"
)

// errNotDir: a path component is a file, e.g. looking up "a/b" when "a" is an object.
var errNotDir error = syscall.ENOTDIR

// NewFile returns a Bucket that keeps each object as a file under the absolute directory dir,
// creating dir if needed. Key "a/b/c" is the file dir/a/b/c:
//
//	dir/
//	  a/
//	    b/
//	      c                      object "a/b/c", complete bytes, no header
//	      .strata-tmp-8172635    a Put in progress (or cut short by a crash): never listed
//
// A Put writes a temporary file beside the target (named ".strata-tmp-*", never listed), fsyncs
// it, renames it into place and fsyncs the directory, so an object is either absent or complete
// after a crash. IfAbsent links the temporary file to the key instead of renaming it: link(2)
// fails when the name exists, so of two racing writers exactly one wins. Delete removes the
// directories it leaves empty.
//
// Unlike S3, a key cannot be both an object and a directory of other objects: when "a/b" exists,
// a Put of "a" fails (and the other way round).
func NewFile(dir string) (Bucket, error) {
	if dir == "" || !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("%w: file bucket directory %q is not an absolute path", ErrConfig, dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%w: file bucket directory: %w", ErrConfig, err)
	}
	return &fileBucket{root: dir}, nil
}

type fileBucket struct {
	root   string
	closed atomic.Bool
}

var _ Bucket = (*fileBucket)(nil)

func (f *fileBucket) check(ctx context.Context, key string) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: file %q: %w", key, err)
	}
	return ValidateKey(key)
}

func (f *fileBucket) path(key string) string { return filepath.Join(f.root, filepath.FromSlash(key)) }

func (f *fileBucket) Put(ctx context.Context, key string, r io.ReaderAt, size int64, opts ...PutOption) error {
	if err := f.check(ctx, key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("objstore: file put %q: negative size %d", key, size)
	}
	o := ApplyPutOptions(opts)
	final := f.path(key)
	dir := filepath.Dir(final)

	tmp, err := f.createTemp(dir)
	if err != nil {
		return fmt.Errorf("objstore: file put %q: %w", key, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a rename; after a link it drops the second name
	if err := writeSync(ctx, tmp, io.NewSectionReader(r, 0, size), size); err != nil {
		return fmt.Errorf("objstore: file put %q: %w", key, err)
	}
	if o.IfAbsent {
		err = os.Link(tmpName, final)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("objstore: file put %q: %w", key, ErrExists)
		}
	} else {
		err = os.Rename(tmpName, final)
	}
	if err != nil {
		return fmt.Errorf("objstore: file put %q: %w", key, err)
	}
	if err := localfs.SyncDir(dir); err != nil {
		return fmt.Errorf("objstore: file put %q: %w", key, err)
	}
	return nil
}

// createTemp makes dir (durably) and a temporary file in it. A concurrent Delete may remove a
// directory it has just made (pruning what looks empty), so it tries a few times.
func (f *fileBucket) createTemp(dir string) (*os.File, error) {
	var err error
	for range 100 {
		if err = mkdirAllSync(f.root, dir); err == nil {
			var tmp *os.File
			if tmp, err = os.CreateTemp(dir, tmpPrefix+"*"); err == nil {
				return tmp, nil
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// writeSync copies exactly size bytes from r into t, fsyncs and closes it, checking ctx between
// chunks.
func writeSync(ctx context.Context, t *os.File, r io.Reader, size int64) error {
	buf := make([]byte, min(size, 1<<20)+1)
	n, err := io.CopyBuffer(t, ctxReader{ctx, r}, buf)
	if err == nil && n != size {
		err = fmt.Errorf("reader gave %d of %d bytes", n, size)
	}
	if err == nil {
		err = t.Chmod(0o644)
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// mkdirAllSync creates dir and its missing parents below root, fsyncing each parent so the new
// entries survive a crash.
func mkdirAllSync(root, dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is an object, not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if dir == root || parent == dir {
		return err
	}
	if err := mkdirAllSync(root, parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return localfs.SyncDir(parent)
}

// open returns the object's file and size, or ErrNotFound.
func (f *fileBucket) open(ctx context.Context, op, key string) (*os.File, int64, error) {
	if err := f.check(ctx, key); err != nil {
		return nil, 0, err
	}
	fh, err := os.Open(f.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		return nil, 0, fmt.Errorf("objstore: file %s %q: %w", op, key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("objstore: file %s %q: %w", op, key, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, fmt.Errorf("objstore: file %s %q: %w", op, key, err)
	}
	if !fi.Mode().IsRegular() {
		fh.Close()
		return nil, 0, fmt.Errorf("objstore: file %s %q: %w", op, key, ErrNotFound)
	}
	return fh, fi.Size(), nil
}

func (f *fileBucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	fh, _, err := f.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return fh, nil
}

func (f *fileBucket) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("objstore: file get %q: offset %d: %w", key, off, ErrInvalidRange)
	}
	fh, size, err := f.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	if off > size {
		fh.Close()
		return nil, fmt.Errorf("objstore: file get %q: offset %d past size %d: %w", key, off, size, ErrInvalidRange)
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	return &sectionReadCloser{SectionReader: io.NewSectionReader(fh, off, n), c: fh}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	c io.Closer
}

func (s *sectionReadCloser) Close() error { return s.c.Close() }

func (f *fileBucket) Head(ctx context.Context, key string) (Attrs, error) {
	if err := f.check(ctx, key); err != nil {
		return Attrs{}, err
	}
	fi, err := os.Stat(f.path(key))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) || (err == nil && !fi.Mode().IsRegular()) {
		return Attrs{}, fmt.Errorf("objstore: file head %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return Attrs{}, fmt.Errorf("objstore: file head %q: %w", key, err)
	}
	return Attrs{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

func (f *fileBucket) Delete(ctx context.Context, key string) error {
	if err := f.check(ctx, key); err != nil {
		return err
	}
	p := f.path(key)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) || (err == nil && fi.IsDir()) {
		return nil
	}
	if err == nil {
		err = os.Remove(p)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: file delete %q: %w", key, err)
	}
	// Drop directories left empty; rmdir fails harmlessly on one that is not.
	dir := filepath.Dir(p)
	for dir != f.root && strings.HasPrefix(dir, f.root) {
		if os.Remove(dir) != nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err := localfs.SyncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: file delete %q: %w", key, err)
	}
	return nil
}

// List walks the tree in key order. Directory entries sort as name+"/", which is where their keys
// fall among the keys of sibling files ("a-c" < "a/b" < "a0").
func (f *fileBucket) List(ctx context.Context, prefix string, fn func(Attrs) error) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: file list %q: %w", prefix, err)
	}
	if !listable(prefix) {
		return nil // no valid key lies there (and the walk must not escape the root)
	}
	dirPart := prefix[:strings.LastIndexByte(prefix, '/')+1]
	return f.walk(ctx, filepath.Join(f.root, filepath.FromSlash(dirPart)), dirPart, prefix, fn)
}

func (f *fileBucket) walk(ctx context.Context, dir, keyDir, prefix string, fn func(Attrs) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("objstore: file list %q: %w", prefix, err)
	}
	sortKey := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortKey(a), sortKey(b)) })
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("objstore: file list %q: %w", prefix, err)
		}
		key := keyDir + e.Name()
		if e.IsDir() {
			sub := key + "/"
			if !strings.HasPrefix(sub, prefix) && !strings.HasPrefix(prefix, sub) {
				continue
			}
			if err := f.walk(ctx, filepath.Join(dir, e.Name()), sub, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while we listed
		}
		if err != nil {
			return fmt.Errorf("objstore: file list %q: %w", prefix, err)
		}
		if err := fn(Attrs{Key: key, Size: fi.Size(), Modified: fi.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileBucket) Close() error {
	f.closed.Store(true)
	return nil
}
