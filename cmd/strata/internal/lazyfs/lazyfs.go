// Package lazyfs is a FUSE file system for power-cut tests, after Jepsen's LazyFS: a loopback over
// a backing directory that keeps every file's written-but-not-fsynced data in memory, as a page
// cache does, and drops it on Cut, as a power cut does.
//
// What it models:
//
//	write, truncate      kept per inode (in the order made) until that inode is fsynced; reads and
//	                     sizes see them, as they would see the page cache
//	fsync, fdatasync     the inode's pending writes and truncates reach the backing file, which is
//	                     then fsynced; a file opened O_SYNC or O_DSYNC syncs after every write
//	create, mkdir,       pass straight through (durable at once: the model is of file data, not of
//	rename, unlink       directory entries, so a file created and never synced survives a cut, empty
//	                     or short, as it can on ext4)
//	Cut                  every inode's pending writes and truncates are dropped
//
// Files are opened with FUSE's direct I/O so the kernel's own page cache never holds data this
// file system dropped; attribute and entry caching is off for the same reason. Mounting needs
// root (the mount(2) system call is used directly; no fusermount is needed).
package lazyfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is a mounted lazy file system.
type FS struct {
	backing string
	server  *fuse.Server

	mu     sync.Mutex
	inodes map[uint64]*inode // pending state by backing inode number
	cuts   int
}

// Mount serves backing at mountpoint (both existing directories).
func Mount(backing, mountpoint string) (*FS, error) {
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	f := &FS{backing: backing, inodes: map[uint64]*inode{}}
	lb, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, fmt.Errorf("lazyfs: %w", err)
	}
	rootNode := &node{LoopbackNode: lb.(*fs.LoopbackNode), fs: f}
	zero := time.Duration(0)
	server, err := fs.Mount(mountpoint, rootNode, &fs.Options{
		MountOptions: fuse.MountOptions{DirectMountStrict: true, FsName: "lazyfs", Name: "lazyfs"},
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
	})
	if err != nil {
		return nil, fmt.Errorf("lazyfs: mount %s: %w", mountpoint, err)
	}
	f.server = server
	return f, nil
}

// Unmount stops serving. Pending data is dropped, as on a cut.
func (f *FS) Unmount() error {
	f.Cut()
	return f.server.Unmount()
}

// Cut drops every written-but-not-fsynced byte and truncate, and returns how many bytes of writes
// it dropped. Processes using the file system should be dead first, as after a power cut.
func (f *FS) Cut() (dropped int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cuts++
	for ino, s := range f.inodes {
		s.mu.Lock()
		for _, o := range s.ops {
			dropped += int64(len(o.data))
		}
		s.ops = nil
		s.mu.Unlock()
		delete(f.inodes, ino)
	}
	return dropped
}

// Pending is how many bytes of writes wait for an fsync.
func (f *FS) Pending() (n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.inodes {
		s.mu.Lock()
		for _, o := range s.ops {
			n += int64(len(o.data))
		}
		s.mu.Unlock()
	}
	return n
}

func (f *FS) state(ino uint64) *inode {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.inodes[ino]
	if s == nil {
		s = &inode{}
		f.inodes[ino] = s
	}
	return s
}

// op is a pending write (data at off) or truncate (to size).
type op struct {
	off   int64
	data  []byte
	trunc bool
	size  int64
}

// inode is one file's pending writes and truncates, oldest first.
type inode struct {
	mu  sync.Mutex
	ops []op
}

// size is the file's size as its readers see it: the backing size with the pending ops applied.
func (s *inode) size(fd int) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, err
	}
	size := st.Size
	for _, o := range s.ops {
		if o.trunc {
			size = o.size
		} else {
			size = max(size, o.off+int64(len(o.data)))
		}
	}
	return size, nil
}

// read fills dest from off: the backing bytes with the pending ops laid over them in order.
func (s *inode) read(fd int, dest []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	size, err := s.size(fd)
	if err != nil {
		return 0, err
	}
	n := int(min(int64(len(dest)), size-off))
	if n <= 0 {
		return 0, nil
	}
	buf := dest[:n]
	clear(buf)
	for got := 0; got < n; {
		m, err := syscall.Pread(fd, buf[got:], off+int64(got))
		if err != nil {
			return 0, err
		}
		if m == 0 {
			break
		}
		got += m
	}
	end := off + int64(n)
	for _, o := range s.ops {
		if o.trunc {
			if o.size < end {
				clear(buf[max(o.size-off, 0):])
			}
			continue
		}
		lo, hi := max(o.off, off), min(o.off+int64(len(o.data)), end)
		if lo < hi {
			copy(buf[lo-off:hi-off], o.data[lo-o.off:hi-o.off])
		}
	}
	return n, nil
}

func (s *inode) add(o op) {
	s.mu.Lock()
	s.ops = append(s.ops, o)
	s.mu.Unlock()
}

// sync writes the pending ops to the backing file through fd and fsyncs it.
func (s *inode) sync(fd int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.ops {
		var err error
		if o.trunc {
			err = syscall.Ftruncate(fd, o.size)
		} else {
			for w := 0; w < len(o.data) && err == nil; {
				var m int
				m, err = syscall.Pwrite(fd, o.data[w:], o.off+int64(w))
				w += m
			}
		}
		if err != nil {
			s.ops = s.ops[i:]
			return err
		}
	}
	s.ops = nil
	return syscall.Fsync(fd)
}

// node is a loopback node whose files keep unsynced data in memory.
type node struct {
	*fs.LoopbackNode
	fs *FS
}

// WrapChild makes every node of the tree a lazy one.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), fs: n.fs}
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
)

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(nil))
}

// openFlags are the flags a backing file is opened with: no O_SYNC (this file system decides when
// data reaches it), no O_TRUNC (a truncate is pending like a write), no O_APPEND (the kernel gives
// offsets).
func openFlags(flags uint32) int {
	return int(flags &^ (syscall.O_SYNC | syscall.O_DSYNC | syscall.O_TRUNC | syscall.O_APPEND | syscall.O_CREAT |
		syscall.O_EXCL | fuse.FMODE_EXEC))
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fd, err := syscall.Open(n.backingPath(), openFlags(flags), 0)
	if err != nil {
		return nil, 0, fs.ToErrno(err)
	}
	f := n.file(fd, flags)
	if flags&syscall.O_TRUNC != 0 {
		f.s.add(op{trunc: true})
	}
	return f, fuse.FOPEN_DIRECT_IO, 0
}

// Unlink and Rename drop the pending state of a file that goes away, whose inode number the
// backing file system may give to a new file.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.forget(n.GetChild(name))
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&fs.RENAME_EXCHANGE == 0 {
		n.forget(newParent.EmbeddedInode().GetChild(newName))
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

func (n *node) forget(ch *fs.Inode) {
	if ch == nil {
		return
	}
	n.fs.mu.Lock()
	delete(n.fs.inodes, ch.StableAttr().Ino)
	n.fs.mu.Unlock()
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	ch, fh, _, errno := n.LoopbackNode.Create(ctx, name, flags&^(syscall.O_SYNC|syscall.O_DSYNC|syscall.O_TRUNC), mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	// Reopen the loopback's file as ours (the loopback handle is released at once).
	lf := fh.(interface {
		Release(context.Context) syscall.Errno
	})
	defer lf.Release(ctx)
	child := ch.Operations().(*node)
	fd, err := syscall.Open(filepath.Join(n.backingPath(), name), openFlags(flags), 0) // ch is not linked in yet
	if err != nil {
		return nil, nil, 0, fs.ToErrno(err)
	}
	f := child.file(fd, flags)
	if flags&syscall.O_TRUNC != 0 {
		f.s.add(op{trunc: true})
	}
	return ch, f, fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) file(fd int, flags uint32) *file {
	return &file{fd: fd, s: n.fs.state(n.StableAttr().Ino), syncWrites: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if f, ok := fh.(*file); ok {
		return f.Getattr(ctx, out)
	}
	if errno := n.LoopbackNode.Getattr(ctx, fh, out); errno != 0 {
		return errno
	}
	if out.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return 0
	}
	fd, err := syscall.Open(n.backingPath(), syscall.O_RDONLY, 0)
	if err != nil {
		return 0 // the loopback's answer stands
	}
	defer syscall.Close(fd)
	s := n.fs.state(n.StableAttr().Ino)
	s.mu.Lock()
	size, err := s.size(fd)
	s.mu.Unlock()
	if err == nil {
		out.Size = uint64(size)
	}
	return 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	sz, truncate := in.GetSize()
	if truncate {
		n.fs.state(n.StableAttr().Ino).add(op{trunc: true, size: int64(sz)})
		in.Valid &^= fuse.FATTR_SIZE
	}
	if f, ok := fh.(*file); ok {
		fh = nil
		defer func() { f.Getattr(ctx, out) }()
	}
	if errno := n.LoopbackNode.Setattr(ctx, fh, in, out); errno != 0 {
		return errno
	}
	return n.Getattr(ctx, nil, out)
}

// file is an open file: its backing fd and its inode's pending state.
type file struct {
	fd         int
	s          *inode
	syncWrites bool // opened O_SYNC or O_DSYNC
	mu         sync.Mutex
	closed     bool
}

var (
	_ fs.FileReader    = (*file)(nil)
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileFlusher   = (*file)(nil)
	_ fs.FileReleaser  = (*file)(nil)
	_ fs.FileGetattrer = (*file)(nil)
)

func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := f.s.read(f.fd, dest, off)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	f.s.add(op{off: off, data: append([]byte(nil), data...)})
	if f.syncWrites {
		if err := f.s.sync(f.fd); err != nil {
			return 0, fs.ToErrno(err)
		}
	}
	return uint32(len(data)), 0
}

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return fs.ToErrno(f.s.sync(f.fd))
}

// Flush is close(2) on a descriptor: it syncs nothing.
func (f *file) Flush(ctx context.Context) syscall.Errno { return 0 }

func (f *file) Release(ctx context.Context) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	return fs.ToErrno(syscall.Close(f.fd))
}

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	var st syscall.Stat_t
	if err := syscall.Fstat(f.fd, &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStat(&st)
	f.s.mu.Lock()
	size, err := f.s.size(f.fd)
	f.s.mu.Unlock()
	if err != nil {
		return fs.ToErrno(err)
	}
	out.Size = uint64(size)
	return 0
}

// ErrNotPermitted is wrapped by Mount's error when this process may not mount (not root).
var ErrNotPermitted = errors.New("lazyfs: mounting needs root")

// Supported reports whether this process can mount a lazy file system here.
func Supported() error {
	if os.Geteuid() != 0 {
		return ErrNotPermitted
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("lazyfs: %w", err)
	}
	return nil
}
