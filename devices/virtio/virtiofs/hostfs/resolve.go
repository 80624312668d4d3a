package hostfs

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Limits of Linux names (include/uapi/linux/limits.h).
const (
	nameMax = 255  // NAME_MAX
	pathMax = 4096 // PATH_MAX, including the NUL
)

// checkName accepts exactly one path component.
func checkName(name string) fuse.Status {
	switch {
	case name == "" || name == "." || name == "..":
		return fuse.EINVAL
	case len(name) > nameMax:
		return fuse.Status(unix.ENAMETOOLONG)
	case strings.ContainsAny(name, "/\x00"):
		return fuse.EINVAL
	}
	return fuse.OK
}

// checkTarget accepts a symlink's contents: any bytes but NUL, stored as
// they are and never resolved on the host.
func checkTarget(target string) fuse.Status {
	switch {
	case target == "" || strings.IndexByte(target, 0) >= 0:
		return fuse.EINVAL
	case len(target) >= pathMax:
		return fuse.Status(unix.ENAMETOOLONG)
	}
	return fuse.OK
}

// resolveBeneath are the openat2 rules for every name the guest gives:
// no "..", no absolute path, no symlink and no /proc magic link on the
// way. With one checked component they can only matter if checkName is
// wrong; they are the second lock on the door.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// noOpenat2 is set once openat2 turned out to be missing (Linux < 5.6).
var noOpenat2 atomic.Bool

// openBeneath opens name, one checked component, relative to directory
// descriptor dir. flags must include O_NOFOLLOW: a trailing symlink is
// opened itself (with O_PATH) or refused (ELOOP), never followed.
func openBeneath(dir int, name string, flags int, mode uint32) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveBeneath}
		for {
			fd, err := unix.Openat2(dir, name, &how)
			switch {
			case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
				continue // EAGAIN: a rename raced with a RESOLVE_BENEATH walk
			case errors.Is(err, unix.ENOSYS):
				noOpenat2.Store(true)
			default:
				return fd, err
			}
			break
		}
	}
	var fd int
	err := retryEINTR(func() (err error) {
		fd, err = unix.Openat(dir, name, flags, mode)
		return err
	})
	return fd, err
}

// reopen opens the inode behind O_PATH descriptor fd again, with flags,
// through /proc/self/fd: no name is resolved, so whatever now sits at the
// inode's old path does not matter. Callers check the inode's type first;
// only regular files and directories are reopened.
func (fs *FS) reopen(fd, flags int) (int, error) {
	var nfd int
	err := retryEINTR(func() (err error) {
		nfd, err = unix.Openat(fs.procFD, strconv.Itoa(fd), flags|unix.O_CLOEXEC, 0)
		return err
	})
	fs.noteFDs(err)
	return nfd, err
}

// lookupAt looks name up in parent and enters the result into the table.
func (fs *FS) lookupAt(parent *inode, name string, out *fuse.EntryOut) fuse.Status {
	if !parent.isDir() {
		return fuse.ENOTDIR
	}
	fd, err := openBeneath(parent.fd, name, unix.O_PATH, 0)
	if err != nil {
		fs.noteFDs(err)
		return status(err)
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		unix.Close(fd)
		return status(err)
	}
	id, flags := fs.intern(fd, &st, parent.key.dev)
	fs.fillEntry(out, id, flags, &st)
	return fuse.OK
}

// Lookup implements fuse.RawFileSystem.
func (fs *FS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if st := checkName(name); !st.Ok() {
		return st
	}
	parent, st := fs.getInode(h.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	return fs.lookupAt(parent, name, out)
}
