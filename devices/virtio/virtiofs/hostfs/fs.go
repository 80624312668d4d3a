package hostfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// DefaultTimeout is how long the guest may cache entries and attributes.
const DefaultTimeout = time.Second

// rootID is the node ID FUSE gives the root of the file system.
const rootID = fuse.FUSE_ROOT_ID

// Options configure an FS.
type Options struct {
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// Timeout is how long the guest caches entries and attributes;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives rare events; nil discards them.
	Logger *slog.Logger
}

// FS is a fuse.RawFileSystem over one host directory. Its methods may be
// called from several goroutines.
type FS struct {
	fuse.RawFileSystem // ENOSYS for everything the methods below do not serve

	ro       bool
	procFD   int // /proc/self/fd, opened O_PATH, for reopening descriptors
	uid      uint32
	gids     map[uint32]bool // gids a chown may set: our egid and groups
	validSec uint64
	validNs  uint32
	log      *slog.Logger
	dir      string
	create   *creator // nil: files are created with gonest's umask
	// submounts: the guest automounts directories flagged
	// FUSE_ATTR_SUBMOUNT (SetSubmounts).
	submounts atomic.Bool

	mu      sync.Mutex
	inodes  map[uint64]*inode
	byKey   map[inodeKey]*inode
	nextID  uint64
	handles map[uint64]*handle
	nextFH  uint64
	closed  bool

	fdWarned atomic.Bool
}

// New opens dir, which must be a directory, as the root of an FS.
// Errors name dir and say what to do.
func New(dir string, o Options) (*FS, error) {
	rootFD, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, fmt.Errorf("%s: no such directory; give an existing directory to share", dir)
		case errors.Is(err, unix.ENOTDIR):
			return nil, fmt.Errorf("%s is not a directory; share a directory", dir)
		case errors.Is(err, unix.EACCES):
			return nil, fmt.Errorf("%s: permission denied; share a directory you can reach", dir)
		}
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	procFD, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(rootFD)
		return nil, fmt.Errorf("/proc/self/fd: %w; file sharing needs /proc mounted", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		unix.Close(rootFD)
		unix.Close(procFD)
		return nil, fmt.Errorf("%s: fstat: %w", dir, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	fs := &FS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		ro:            o.ReadOnly,
		procFD:        procFD,
		uid:           uint32(os.Geteuid()),
		gids:          map[uint32]bool{uint32(os.Getegid()): true},
		validSec:      uint64(timeout / time.Second),
		validNs:       uint32(timeout % time.Second),
		log:           log.With("share", dir),
		dir:           dir,
		inodes:        map[uint64]*inode{},
		byKey:         map[inodeKey]*inode{},
		nextID:        rootID + 1,
		handles:       map[uint64]*handle{},
		nextFH:        1,
	}
	fs.log.Debug("share opened", "read_only", fs.ro, "descriptor_limit", raiseNoFile())
	if fs.create = newCreator(); fs.create == nil {
		fs.log.Warn("unshare(CLONE_FS) refused: files the guest creates get gonest's umask applied to their modes")
	}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			fs.gids[uint32(g)] = true
		}
	}
	root := &inode{id: rootID, fd: rootFD, key: keyOf(&st), mode: st.Mode & unix.S_IFMT, lookups: 1}
	fs.inodes[rootID] = root
	fs.byKey[root.key] = root
	return fs, nil
}

// String implements fuse.RawFileSystem.
func (fs *FS) String() string { return "gonest-hostfs" }

// Dir returns the shared directory as it was given to New.
func (fs *FS) Dir() string { return fs.dir }

// Reset forgets every node but the root and releases every open handle,
// as a fresh mount expects (FUSE DESTROY, or a device reset). Requests
// still running keep their descriptors until they finish.
func (fs *FS) Reset() {
	fs.mu.Lock()
	var closeFDs []int
	for id, in := range fs.inodes {
		if id == rootID {
			continue
		}
		in.lookups = 0
		closeFDs = append(closeFDs, fs.dropInodeLocked(in)...)
	}
	for _, h := range fs.handles {
		closeFDs = append(closeFDs, fs.releaseLocked(h)...)
	}
	fs.mu.Unlock()
	closeAll(closeFDs)
}

// Close releases every descriptor. The FS must not be used afterwards.
func (fs *FS) Close() error {
	fs.Reset()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil
	}
	fs.closed = true
	fs.create.stop()
	root := fs.inodes[rootID]
	delete(fs.inodes, rootID)
	delete(fs.byKey, root.key)
	return errors.Join(unix.Close(root.fd), unix.Close(fs.procFD))
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// noteFDs warns, once, when the host runs out of descriptors for the
// share: the guest then sees EMFILE until its kernel forgets nodes.
func (fs *FS) noteFDs(err error) {
	if (errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)) && fs.fdWarned.CompareAndSwap(false, true) {
		fs.log.Warn("out of file descriptors for the share: each file the guest keeps cached holds one; "+
			"raise the hard RLIMIT_NOFILE (ulimit -Hn) or run gonest as root", "limit", raiseNoFile(), "err", err)
	}
}

// status turns a system call error into the errno FUSE carries.
func status(err error) fuse.Status {
	if err == nil {
		return fuse.OK
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return fuse.Status(errno)
	}
	return fuse.EIO
}

// retryEINTR runs f until it does not fail with EINTR.
func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// SetSubmounts records whether the guest's kernel automounts submounts
// (it says so with FUSE_SUBMOUNTS in its INIT request).
func (fs *FS) SetSubmounts(on bool) { fs.submounts.Store(on) }

// fillAttr converts a host stat into FUSE attributes with flags.
func fillAttr(a *fuse.Attr, st *unix.Stat_t, flags uint32) {
	*a = fuse.Attr{
		Ino:       st.Ino,
		Size:      uint64(st.Size),
		Blocks:    uint64(st.Blocks),
		Atime:     uint64(st.Atim.Sec),
		Atimensec: uint32(st.Atim.Nsec),
		Mtime:     uint64(st.Mtim.Sec),
		Mtimensec: uint32(st.Mtim.Nsec),
		Ctime:     uint64(st.Ctim.Sec),
		Ctimensec: uint32(st.Ctim.Nsec),
		Mode:      st.Mode,
		Nlink:     uint32(st.Nlink),
		Owner:     fuse.Owner{Uid: st.Uid, Gid: st.Gid},
		Rdev:      encodeDev(st.Rdev),
		Blksize:   uint32(st.Blksize),
		Flags:     flags,
	}
}

// encodeDev packs a device number the way FUSE carries it, which the
// kernel unpacks with new_decode_dev (include/linux/kdev_t.h).
func encodeDev(dev uint64) uint32 {
	major, minor := unix.Major(dev), unix.Minor(dev)
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}

// fillEntry answers a LOOKUP-like request with node id and attributes.
func (fs *FS) fillEntry(out *fuse.EntryOut, id uint64, flags uint32, st *unix.Stat_t) {
	out.NodeId = id
	out.Generation = 0 // node IDs are never reused
	out.EntryValid, out.EntryValidNsec = fs.validSec, fs.validNs
	out.AttrValid, out.AttrValidNsec = fs.validSec, fs.validNs
	fillAttr(&out.Attr, st, flags)
}

// fstat stats what fd refers to, without following a symlink.
func fstat(fd int, st *unix.Stat_t) error {
	return unix.Fstatat(fd, "", st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
}

// Syncfs writes the host file system holding the share to its disk: the
// guest's sync(2) (FUSE SYNCFS). A read-only share has nothing to write.
func (fs *FS) Syncfs() fuse.Status {
	if fs.ro {
		return fuse.OK
	}
	root, st := fs.getInode(rootID)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(root)
	fd, err := fs.reopen(root.fd, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return status(err)
	}
	defer unix.Close(fd)
	return status(retryEINTR(func() error { return unix.Syncfs(fd) }))
}
