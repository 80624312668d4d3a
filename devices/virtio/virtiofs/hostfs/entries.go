package hostfs

import (
	"errors"
	"strconv"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// parentFor checks name and returns the parent directory node, for an
// operation that changes the tree.
func (fs *FS) parentFor(id uint64, name string) (*inode, fuse.Status) {
	if fs.ro {
		return nil, fuse.EROFS
	}
	if st := checkName(name); !st.Ok() {
		return nil, st
	}
	parent, st := fs.getInode(id)
	if !st.Ok() {
		return nil, st
	}
	if !parent.isDir() {
		fs.putInode(parent)
		return nil, fuse.ENOTDIR
	}
	return parent, fuse.OK
}

// made finishes a MKDIR, MKNOD, SYMLINK or LINK: err is the host call's
// result; on success the new entry is looked up.
func (fs *FS) made(parent *inode, name string, err error, out *fuse.EntryOut) fuse.Status {
	if err != nil {
		return status(err)
	}
	return fs.lookupAt(parent, name, out)
}

// Mkdir implements fuse.RawFileSystem.
func (fs *FS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	parent, st := fs.parentFor(in.NodeId, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	err := fs.create.run(func() error { return unix.Mkdirat(parent.fd, name, safeMode(in.Mode, unix.S_IFDIR)) })
	return fs.made(parent, name, err, out)
}

// Mknod implements fuse.RawFileSystem: regular files, FIFOs and sockets;
// never device nodes.
func (fs *FS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	typ := in.Mode & unix.S_IFMT
	switch typ {
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	case unix.S_IFCHR, unix.S_IFBLK:
		return fuse.EPERM
	default:
		return fuse.EINVAL
	}
	parent, st := fs.parentFor(in.NodeId, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	err := fs.create.run(func() error { return unix.Mknodat(parent.fd, name, typ|safeMode(in.Mode, typ), 0) })
	return fs.made(parent, name, err, out)
}

// Symlink implements fuse.RawFileSystem. The target is stored as given
// and never resolved on the host.
func (fs *FS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	if st := checkTarget(target); !st.Ok() {
		return st
	}
	parent, st := fs.parentFor(h.NodeId, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	err := unix.Symlinkat(target, parent.fd, name)
	return fs.made(parent, name, err, out)
}

// Link implements fuse.RawFileSystem: a hard link, inside the tree, to a
// node the guest looked up inside the tree.
func (fs *FS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	parent, st := fs.parentFor(in.NodeId, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	target, st := fs.getInode(in.Oldnodeid)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(target)
	if target.isDir() {
		return fuse.EPERM
	}
	// The magic link names the inode itself, a symlink included (it is
	// linked, not followed), without the CAP_DAC_READ_SEARCH that
	// linkat's AT_EMPTY_PATH needs.
	err := unix.Linkat(fs.procFD, strconv.Itoa(target.fd), parent.fd, name, unix.AT_SYMLINK_FOLLOW)
	return fs.made(parent, name, err, out)
}

// Unlink implements fuse.RawFileSystem.
func (fs *FS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return fs.remove(h.NodeId, name, 0)
}

// Rmdir implements fuse.RawFileSystem.
func (fs *FS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return fs.remove(h.NodeId, name, unix.AT_REMOVEDIR)
}

func (fs *FS) remove(id uint64, name string, flags int) fuse.Status {
	parent, st := fs.parentFor(id, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	return status(unix.Unlinkat(parent.fd, name, flags))
}

// renameFlags are the renameat2 flags a guest may ask for.
// RENAME_WHITEOUT makes a character device and is refused.
const renameFlags = unix.RENAME_NOREPLACE | unix.RENAME_EXCHANGE

// Rename implements fuse.RawFileSystem (RENAME and RENAME2): both names
// are single components under directories inside the tree.
func (fs *FS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if in.Flags&^renameFlags != 0 {
		return fuse.EINVAL
	}
	if st := checkName(newName); !st.Ok() {
		return st
	}
	from, st := fs.parentFor(in.NodeId, oldName)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(from)
	to, st := fs.getInode(in.Newdir)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(to)
	if !to.isDir() {
		return fuse.ENOTDIR
	}
	return status(unix.Renameat2(from.fd, oldName, to.fd, newName, uint(in.Flags)))
}

// Create implements fuse.RawFileSystem: an atomic create-and-open. Only
// a new regular file is created (O_EXCL, so a dangling symlink at name is
// never followed to create its target); an existing name is opened the
// way OPEN opens it, regular files only, so a FIFO or a device node in
// the tree is never opened on the host.
func (fs *FS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	flags, st := openFlags(in.Flags, fs.ro)
	if !st.Ok() {
		return st
	}
	parent, st := fs.parentFor(in.NodeId, name)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(parent)
	flags |= int(in.Flags) & unix.O_TRUNC
	fd, pfd, err := fs.createOrOpen(parent, name, flags, safeMode(in.Mode, unix.S_IFREG), in.Flags&unix.O_EXCL != 0)
	if err != nil {
		return status(err)
	}
	var s unix.Stat_t
	if err := fstat(pfd, &s); err != nil {
		unix.Close(fd)
		unix.Close(pfd)
		return status(err)
	}
	id, aflags := fs.intern(pfd, &s, parent.key.dev)
	fs.fillEntry(&out.EntryOut, id, aflags, &s)
	node, st := fs.getInode(id)
	if !st.Ok() { // forgotten already: only a hostile guest races FORGET with its own CREATE
		unix.Close(fd)
		return st
	}
	defer fs.putInode(node)
	out.OpenOut = fuse.OpenOut{Fh: fs.newHandle(fd, node, false)}
	return fuse.OK
}

// createOrOpen returns an open descriptor and an O_PATH descriptor of the
// regular file name in parent, creating it unless it exists (or failing
// with EEXIST when excl).
func (fs *FS) createOrOpen(parent *inode, name string, flags int, mode uint32, excl bool) (fd, pfd int, err error) {
	err = fs.create.run(func() (err error) {
		fd, err = openBeneath(parent.fd, name, flags|unix.O_CREAT|unix.O_EXCL, mode)
		return err
	})
	if err == nil {
		// The node is taken from the open descriptor, not by name again,
		// so it is the file just created whatever happens at name meanwhile.
		if pfd, err = fs.reopen(fd, unix.O_PATH); err != nil {
			unix.Close(fd)
		}
		return fd, pfd, err
	}
	if !errors.Is(err, unix.EEXIST) || excl {
		return -1, -1, err
	}
	if pfd, err = openBeneath(parent.fd, name, unix.O_PATH, 0); err != nil {
		return -1, -1, err
	}
	var s unix.Stat_t
	if err = fstat(pfd, &s); err == nil {
		switch s.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			fd, err = fs.reopen(pfd, flags)
		case unix.S_IFDIR:
			err = unix.EISDIR
		case unix.S_IFLNK:
			err = unix.ELOOP
		default:
			err = unix.EACCES
		}
	}
	if err != nil {
		unix.Close(pfd)
		return -1, -1, err
	}
	return fd, pfd, nil
}
