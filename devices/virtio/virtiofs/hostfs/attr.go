package hostfs

import (
	"errors"
	"math"
	"strconv"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Mode bits the guest may not set (see the package comment).
const (
	modeSetuid = unix.S_ISUID
	modeSetgid = unix.S_ISGID
)

// safeMode keeps the permission bits of mode that the guest may set on a
// file of type typ: never set-user-ID, and set-group-ID only on a
// directory (where it means "new files inherit the group").
func safeMode(mode, typ uint32) uint32 {
	mode &= 0o7777 &^ modeSetuid
	if typ != unix.S_IFDIR {
		mode &^= modeSetgid
	}
	return mode
}

// GetAttr implements fuse.RawFileSystem.
func (fs *FS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	node, st := fs.getInode(in.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(node)
	return fs.attrOut(node, out)
}

func (fs *FS) attrOut(node *inode, out *fuse.AttrOut) fuse.Status {
	var s unix.Stat_t
	if err := fstat(node.fd, &s); err != nil {
		return status(err)
	}
	out.AttrValid, out.AttrValidNsec = fs.validSec, fs.validNs
	fillAttr(&out.Attr, &s, fs.attrFlags(node))
	return fuse.OK
}

// setAttrChanges are the SETATTR fields that change the file.
const setAttrChanges = fuse.FATTR_MODE | fuse.FATTR_UID | fuse.FATTR_GID | fuse.FATTR_SIZE |
	fuse.FATTR_ATIME | fuse.FATTR_MTIME | fuse.FATTR_ATIME_NOW | fuse.FATTR_MTIME_NOW | fuse.FATTR_CTIME

// SetAttr implements fuse.RawFileSystem: mode, owner, size, then times,
// each on the inode itself, then the new attributes.
func (fs *FS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	if fs.ro && in.Valid&setAttrChanges != 0 {
		return fuse.EROFS
	}
	node, st := fs.getInode(in.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(node)
	var h *handle
	if fh, ok := in.GetFh(); ok {
		if h, st = fs.getHandle(fh, false); !st.Ok() {
			return st
		}
		defer fs.putHandle(h)
	}
	if mode, ok := in.GetMode(); ok {
		if st := fs.chmod(node, safeMode(mode, node.mode)); !st.Ok() {
			return st
		}
	}
	if in.Valid&(fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		if st := fs.chown(node, in); !st.Ok() {
			return st
		}
	}
	if size, ok := in.GetSize(); ok {
		if st := fs.truncate(node, h, size); !st.Ok() {
			return st
		}
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		if st := fs.utimes(node, in); !st.Ok() {
			return st
		}
	}
	return fs.attrOut(node, out)
}

func (fs *FS) chmod(node *inode, mode uint32) fuse.Status {
	if !node.isRegular() && !node.isDir() {
		return fuse.Status(unix.EOPNOTSUPP) // Linux has no lchmod; devices and FIFOs are left alone
	}
	return status(unix.Fchmodat(fs.procFD, strconv.Itoa(node.fd), mode, 0))
}

// chown allows only gonest's own uid and its groups, or the owner and
// group the file already has.
func (fs *FS) chown(node *inode, in *fuse.SetAttrIn) fuse.Status {
	var cur unix.Stat_t
	if err := fstat(node.fd, &cur); err != nil {
		return status(err)
	}
	uid, gid := -1, -1
	if u, ok := in.GetUID(); ok && u != cur.Uid {
		if u != fs.uid {
			return fuse.EPERM
		}
		uid = int(u)
	}
	if g, ok := in.GetGID(); ok && g != cur.Gid {
		if !fs.gids[g] {
			return fuse.EPERM
		}
		gid = int(g)
	}
	if uid == -1 && gid == -1 {
		return fuse.OK
	}
	return status(unix.Fchownat(node.fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW))
}

func (fs *FS) truncate(node *inode, h *handle, size uint64) fuse.Status {
	switch {
	case node.isDir():
		return fuse.EISDIR
	case !node.isRegular():
		return fuse.EINVAL
	case size > math.MaxInt64:
		return fuse.EINVAL
	}
	if h != nil && h.in == node {
		return status(retryEINTR(func() error { return unix.Ftruncate(h.fd, int64(size)) }))
	}
	fd, err := fs.reopen(node.fd, unix.O_WRONLY)
	if err != nil {
		return status(err)
	}
	defer unix.Close(fd)
	return status(retryEINTR(func() error { return unix.Ftruncate(fd, int64(size)) }))
}

func (fs *FS) utimes(node *inode, in *fuse.SetAttrIn) fuse.Status {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	pick := func(i int, set, now uint32, sec uint64, nsec uint32) {
		switch {
		case in.Valid&now != 0:
			ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
		case in.Valid&set != 0:
			ts[i] = unix.Timespec{Sec: int64(sec), Nsec: int64(nsec % 1e9)}
		}
	}
	pick(0, fuse.FATTR_ATIME, fuse.FATTR_ATIME_NOW, in.Atime, in.Atimensec)
	pick(1, fuse.FATTR_MTIME, fuse.FATTR_MTIME_NOW, in.Mtime, in.Mtimensec)
	err := unix.UtimesNanoAt(node.fd, "", ts, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.EINVAL) && (node.isRegular() || node.isDir()) {
		// A kernel whose utimensat lacks AT_EMPTY_PATH: through /proc.
		err = unix.UtimesNanoAt(fs.procFD, strconv.Itoa(node.fd), ts, 0)
	}
	return status(err)
}

// Readlink implements fuse.RawFileSystem.
func (fs *FS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	node, st := fs.getInode(h.NodeId)
	if !st.Ok() {
		return nil, st
	}
	defer fs.putInode(node)
	if !node.isSymlink() {
		return nil, fuse.EINVAL
	}
	buf := make([]byte, pathMax)
	n, err := unix.Readlinkat(node.fd, "", buf)
	if err != nil {
		return nil, status(err)
	}
	return buf[:n], fuse.OK
}

// StatFs implements fuse.RawFileSystem.
func (fs *FS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	node, st := fs.getInode(h.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(node)
	var s unix.Statfs_t
	if err := retryEINTR(func() error { return unix.Fstatfs(node.fd, &s) }); err != nil {
		return status(err)
	}
	*out = fuse.StatfsOut{
		Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail, Files: s.Files, Ffree: s.Ffree,
		Bsize: uint32(s.Bsize), NameLen: uint32(s.Namelen), Frsize: uint32(s.Frsize),
	}
	return fuse.OK
}
