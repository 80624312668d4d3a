package hostfs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// inodeKey identifies a host inode.
type inodeKey struct{ dev, ino uint64 }

func keyOf(st *unix.Stat_t) inodeKey { return inodeKey{dev: st.Dev, ino: st.Ino} }

// inode is one node the guest knows: an O_PATH descriptor of a host inode.
// Its descriptor is closed once the guest has forgotten every lookup and
// no request is using it.
type inode struct {
	id   uint64
	fd   int // O_PATH
	key  inodeKey
	mode uint32 // S_IFMT bits; an inode's type never changes
	// submount: a directory on another host file system than the one it
	// was found in (a mount point), reported as FUSE_ATTR_SUBMOUNT.
	submount bool

	lookups uint64 // the kernel's nlookup count
	refs    int    // requests using fd right now
	dead    bool   // out of the table; close fd at the last ref
}

func (in *inode) isDir() bool     { return in.mode == unix.S_IFDIR }
func (in *inode) isRegular() bool { return in.mode == unix.S_IFREG }
func (in *inode) isSymlink() bool { return in.mode == unix.S_IFLNK }

// handle is an open file or directory: a real descriptor, with the inode
// it was opened from.
type handle struct {
	id  uint64
	fd  int
	in  *inode
	dir bool

	refs     int
	released bool

	mu sync.Mutex // serializes directory reads
	dirState
}

// getInode returns node id with a reference the caller must put.
func (fs *FS) getInode(id uint64) (*inode, fuse.Status) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, ok := fs.inodes[id]
	if !ok {
		return nil, fuse.EBADF
	}
	in.refs++
	return in, fuse.OK
}

// putInode drops a reference taken by getInode.
func (fs *FS) putInode(in *inode) {
	fs.mu.Lock()
	in.refs--
	fd := -1
	if in.dead && in.refs == 0 {
		fd = in.fd
	}
	fs.mu.Unlock()
	if fd >= 0 {
		unix.Close(fd)
	}
}

// intern enters the host inode behind fd (an O_PATH descriptor the caller
// gives up), found in directory parentDev, into the table, or counts one
// more lookup of the node that already holds it, and returns the node's
// id and attribute flags.
func (fs *FS) intern(fd int, st *unix.Stat_t, parentDev uint64) (uint64, uint32) {
	key := keyOf(st)
	fs.mu.Lock()
	in, ok := fs.byKey[key]
	if ok {
		in.lookups++
	} else {
		in = &inode{id: fs.nextID, fd: fd, key: key, mode: st.Mode & unix.S_IFMT, lookups: 1,
			submount: st.Dev != parentDev && st.Mode&unix.S_IFMT == unix.S_IFDIR}
		fs.nextID++
		fs.inodes[in.id] = in
		fs.byKey[key] = in
	}
	id, flags := in.id, fs.attrFlags(in)
	fs.mu.Unlock()
	if ok {
		unix.Close(fd)
	}
	return id, flags
}

// attrFlags are a node's fuse_attr flags: FUSE_ATTR_SUBMOUNT for a mount
// point, when the guest's kernel said it automounts them (FUSE_SUBMOUNTS
// at INIT), so that each host file system gets its own device number in
// the guest and inode numbers from two of them never look alike.
func (fs *FS) attrFlags(in *inode) uint32 {
	if in.submount && fs.submounts.Load() {
		return fuse.ATTR_SUBMOUNT
	}
	return 0
}

// Forget implements fuse.RawFileSystem: the kernel dropped n lookups of
// node id. Unknown nodes and counts larger than the node's are a hostile
// guest's and change nothing beyond the node itself.
func (fs *FS) Forget(id, n uint64) {
	if id == rootID {
		return
	}
	fs.mu.Lock()
	in, ok := fs.inodes[id]
	if !ok {
		fs.mu.Unlock()
		return
	}
	in.lookups -= min(n, in.lookups)
	var fds []int
	if in.lookups == 0 {
		fds = fs.dropInodeLocked(in)
	}
	fs.mu.Unlock()
	closeAll(fds)
}

// dropInodeLocked takes in out of the table and returns its descriptor
// to close, unless a request still uses it.
func (fs *FS) dropInodeLocked(in *inode) []int {
	delete(fs.inodes, in.id)
	if fs.byKey[in.key] == in {
		delete(fs.byKey, in.key)
	}
	in.dead = true
	if in.refs == 0 {
		return []int{in.fd}
	}
	return nil
}

// newHandle registers an open descriptor of in. The handle holds a
// reference to in until it is closed.
func (fs *FS) newHandle(fd int, in *inode, dir bool) uint64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in.refs++
	h := &handle{id: fs.nextFH, fd: fd, in: in, dir: dir}
	fs.nextFH++
	fs.handles[h.id] = h
	return h.id
}

// getHandle returns open handle fh of the wanted kind with a reference
// the caller must put.
func (fs *FS) getHandle(fh uint64, dir bool) (*handle, fuse.Status) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, ok := fs.handles[fh]
	if !ok || h.dir != dir {
		return nil, fuse.EBADF
	}
	h.refs++
	return h, fuse.OK
}

// putHandle drops a reference taken by getHandle.
func (fs *FS) putHandle(h *handle) {
	fs.mu.Lock()
	h.refs--
	fds := fs.maybeCloseLocked(h)
	fs.mu.Unlock()
	closeAll(fds)
}

// release closes handle fh once no request uses it.
func (fs *FS) release(fh uint64, dir bool) {
	fs.mu.Lock()
	var fds []int
	if h, ok := fs.handles[fh]; ok && h.dir == dir {
		fds = fs.releaseLocked(h)
	}
	fs.mu.Unlock()
	closeAll(fds)
}

func (fs *FS) releaseLocked(h *handle) []int {
	delete(fs.handles, h.id)
	h.released = true
	return fs.maybeCloseLocked(h)
}

// maybeCloseLocked returns the descriptors to close when a released
// handle has no users left: its own, and its inode's if that was the
// inode's last reference.
func (fs *FS) maybeCloseLocked(h *handle) []int {
	if !h.released || h.refs > 0 || h.fd < 0 {
		return nil
	}
	fds := []int{h.fd}
	h.fd = -1
	h.in.refs--
	if h.in.dead && h.in.refs == 0 {
		fds = append(fds, h.in.fd)
	}
	return fds
}

// Release implements fuse.RawFileSystem.
func (fs *FS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) { fs.release(in.Fh, false) }

// ReleaseDir implements fuse.RawFileSystem.
func (fs *FS) ReleaseDir(in *fuse.ReleaseIn) { fs.release(in.Fh, true) }
