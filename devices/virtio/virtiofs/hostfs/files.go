package hostfs

import (
	"errors"
	"math"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/internal/iov"
)

// iovMax is how many buffers one preadv/pwritev takes (Linux's IOV_MAX).
const iovMax = 1024

// keptOpenFlags are the open(2) flags of a guest's OPEN that reach the
// host. O_DIRECT is dropped (its alignment rules are the guest's
// kernel's, not the host file's), and so are O_NOATIME (it needs
// ownership), O_NONBLOCK and the creation flags.
const keptOpenFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_SYNC | unix.O_DSYNC

// openFlags turns a guest's open flags into the host's, refusing writes
// on a read-only share.
func openFlags(guest uint32, ro bool) (int, fuse.Status) {
	flags := int(guest) & keptOpenFlags
	acc := flags & unix.O_ACCMODE
	if acc == unix.O_ACCMODE {
		return 0, fuse.EINVAL
	}
	if ro && acc != unix.O_RDONLY {
		return 0, fuse.EROFS
	}
	return flags | unix.O_LARGEFILE, fuse.OK
}

// Open implements fuse.RawFileSystem: regular files only, reopened from
// the node's descriptor.
func (fs *FS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	flags, st := openFlags(in.Flags, fs.ro)
	if !st.Ok() {
		return st
	}
	node, st := fs.getInode(in.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(node)
	switch {
	case node.isDir():
		return fuse.EISDIR
	case node.isSymlink():
		return fuse.Status(unix.ELOOP)
	case !node.isRegular():
		return fuse.EACCES // devices, FIFOs and sockets are the guest's own, never the host's
	}
	fd, err := fs.openNode(node, flags)
	if err != nil {
		return status(err)
	}
	// The page cache stays across opens; attribute refreshes (at most a
	// second old) drop it when the host changed the file
	// (FUSE_AUTO_INVAL_DATA).
	*out = fuse.OpenOut{Fh: fs.newHandle(fd, node, false), OpenFlags: fuse.FOPEN_KEEP_CACHE}
	return fuse.OK
}

// openNode reopens a regular file or a directory; on a read-only share
// without touching its access time where the host lets us.
func (fs *FS) openNode(node *inode, flags int) (int, error) {
	if fs.ro {
		fd, err := fs.reopen(node.fd, flags|unix.O_NOATIME)
		if !errors.Is(err, unix.EPERM) {
			return fd, err
		}
	}
	return fs.reopen(node.fd, flags)
}

// readResult reads straight into the guest's buffers. It holds a
// reference to the handle until the reply is written (Done).
type readResult struct {
	fs   *FS
	h    *handle
	off  int64
	size int
}

// Read implements fuse.RawFileSystem. The data moves later, when go-fuse
// calls Readv with the guest's buffers.
func (fs *FS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if in.Offset > math.MaxInt64 {
		return nil, fuse.EINVAL
	}
	h, st := fs.getHandle(in.Fh, false)
	if !st.Ok() {
		return nil, st
	}
	return &readResult{fs: fs, h: h, off: int64(in.Offset), size: int(in.Size)}, fuse.OK
}

// Size implements fuse.ReadResult.
func (r *readResult) Size() int { return r.size }

// Done implements fuse.ReadResult.
func (r *readResult) Done() {
	if r.h != nil {
		r.fs.putHandle(r.h)
		r.h = nil
	}
}

// Readv fills dst from the file, up to Size bytes, stopping early only
// at the end of the file (a short READ means end of file to FUSE).
func (r *readResult) Readv(dst [][]byte) (int, fuse.Status) {
	n, err := preadvFull(r.h.fd, iov.Trim(nil, dst, uint64(r.size)), r.off)
	if err != nil && n == 0 {
		return 0, status(err)
	}
	return n, fuse.OK
}

// Bytes implements fuse.ReadResult, for callers without a scatter list.
func (r *readResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	n, st := r.Readv([][]byte{buf[:min(len(buf), r.size)]})
	return buf[:n], st
}

// preadvFull reads into iov at off until it is full or the file ends.
func preadvFull(fd int, bufs [][]byte, off int64) (int, error) {
	total := 0
	for len(bufs) > 0 {
		n, err := unix.Preadv(fd, bufs[:min(len(bufs), iovMax)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			return total, err
		}
		total += n
		off += int64(n)
		bufs = iov.Advance(bufs, uint64(n))
	}
	return total, nil
}

// Writev implements fuse.RawFileSystem: data (guest memory) goes to the
// file with pwritev. The payload must be exactly the size the request
// names.
func (fs *FS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	if fs.ro {
		return 0, fuse.EROFS
	}
	if in.Offset > math.MaxInt64 || iov.Len(data) != uint64(in.Size) {
		return 0, fuse.EINVAL
	}
	h, st := fs.getHandle(in.Fh, false)
	if !st.Ok() {
		return 0, st
	}
	defer fs.putHandle(h)
	off := int64(in.Offset)
	total := 0
	bufs := append([][]byte(nil), data...) // Advance trims its elements; data stays as it was
	for len(bufs) > 0 {
		n, err := unix.Pwritev(h.fd, bufs[:min(len(bufs), iovMax)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n == 0 {
			if total > 0 {
				break // report what was written, as write(2) does
			}
			if err == nil {
				err = unix.EIO
			}
			return 0, status(err)
		}
		total += n
		off += int64(n)
		bufs = iov.Advance(bufs, uint64(n))
	}
	return uint32(total), fuse.OK
}

// Write implements fuse.RawFileSystem.
func (fs *FS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return fs.Writev(cancel, in, [][]byte{data})
}

// Flush implements fuse.RawFileSystem: data is written through on every
// WRITE, so there is nothing to flush; the handle must exist.
func (fs *FS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	h, st := fs.getHandle(in.Fh, false)
	if st.Ok() {
		fs.putHandle(h)
	}
	return st
}

// fsyncFdatasync is FUSE_FSYNC_FDATASYNC (include/uapi/linux/fuse.h).
const fsyncFdatasync = 1

// Fsync implements fuse.RawFileSystem.
func (fs *FS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return fs.fsync(in, false)
}

// FsyncDir implements fuse.RawFileSystem.
func (fs *FS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return fs.fsync(in, true)
}

func (fs *FS) fsync(in *fuse.FsyncIn, dir bool) fuse.Status {
	h, st := fs.getHandle(in.Fh, dir)
	if !st.Ok() {
		return st
	}
	defer fs.putHandle(h)
	if in.FsyncFlags&fsyncFdatasync != 0 {
		return status(retryEINTR(func() error { return unix.Fdatasync(h.fd) }))
	}
	return status(retryEINTR(func() error { return unix.Fsync(h.fd) }))
}

// Fallocate implements fuse.RawFileSystem.
func (fs *FS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	if fs.ro {
		return fuse.EROFS
	}
	if in.Offset > math.MaxInt64 || in.Length > math.MaxInt64 {
		return fuse.EINVAL
	}
	h, st := fs.getHandle(in.Fh, false)
	if !st.Ok() {
		return st
	}
	defer fs.putHandle(h)
	return status(retryEINTR(func() error {
		return unix.Fallocate(h.fd, in.Mode, int64(in.Offset), int64(in.Length))
	}))
}

// Lseek implements fuse.RawFileSystem: SEEK_DATA and SEEK_HOLE, the only
// whences the kernel asks the file system about.
func (fs *FS) Lseek(cancel <-chan struct{}, in *fuse.LseekIn, out *fuse.LseekOut) fuse.Status {
	if in.Whence != unix.SEEK_DATA && in.Whence != unix.SEEK_HOLE || in.Offset > math.MaxInt64 {
		return fuse.EINVAL
	}
	h, st := fs.getHandle(in.Fh, false)
	if !st.Ok() {
		return st
	}
	defer fs.putHandle(h)
	off, err := unix.Seek(h.fd, int64(in.Offset), int(in.Whence))
	if err != nil {
		return status(err)
	}
	out.Offset = uint64(off)
	return fuse.OK
}
