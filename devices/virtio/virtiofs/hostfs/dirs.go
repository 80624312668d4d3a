package hostfs

import (
	"bytes"
	"encoding/binary"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// direntBufSize is the getdents64 buffer of each open directory: about a
// thousand short names per system call.
const direntBufSize = 32 << 10

// struct linux_dirent64 (getdents64(2)).
const (
	direntIno    = 0
	direntOff    = 8
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// dirState is where an open directory's listing stands: the last
// getdents64 buffer, the next entry in it, and that entry's offset.
type dirState struct {
	buf      []byte
	pos, end int
	next     uint64 // the offset the guest passes to continue at buf[pos]
	valid    bool
}

// OpenDir implements fuse.RawFileSystem.
func (fs *FS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	node, st := fs.getInode(in.NodeId)
	if !st.Ok() {
		return st
	}
	defer fs.putInode(node)
	if !node.isDir() {
		return fuse.ENOTDIR
	}
	fd, err := fs.openNode(node, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return status(err)
	}
	*out = fuse.OpenOut{Fh: fs.newHandle(fd, node, true)}
	return fuse.OK
}

// ReadDir implements fuse.RawFileSystem.
func (fs *FS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return fs.readDir(in, out, false)
}

// ReadDirPlus implements fuse.RawFileSystem: each entry comes with its
// node and attributes, so listing a directory needs no LOOKUP per file.
func (fs *FS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return fs.readDir(in, out, true)
}

func (fs *FS) readDir(in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	h, st := fs.getHandle(in.Fh, true)
	if !st.Ok() {
		return st
	}
	defer fs.putHandle(h)
	h.mu.Lock()
	defer h.mu.Unlock()
	d := &h.dirState
	if !d.valid || d.next != in.Offset {
		// A new listing, or a seek: start from the guest's offset.
		if _, err := unix.Seek(h.fd, int64(in.Offset), unix.SEEK_SET); err != nil {
			d.valid = false
			return status(err)
		}
		*d = dirState{buf: d.buf, next: in.Offset, valid: true}
	}
	if d.buf == nil {
		d.buf = make([]byte, direntBufSize)
	}
	added := false
	for {
		if d.pos >= d.end {
			n, err := getdents(h.fd, d.buf)
			if err != nil {
				d.valid = false
				if added {
					return fuse.OK // the guest gets what there is; the error comes back next time
				}
				return status(err)
			}
			if n == 0 {
				return fuse.OK // end of directory
			}
			d.pos, d.end = 0, n
		}
		e, reclen, ok := parseDirent(d.buf[d.pos:d.end])
		if !ok {
			d.valid = false
			return fuse.EIO
		}
		if !fs.addEntry(h.in, out, e, plus) {
			return fuse.OK // the guest's buffer is full; it continues at d.next
		}
		added = true
		d.pos += reclen
		d.next = e.Off
	}
}

// addEntry adds one entry and, for READDIRPLUS, looks it up. It reports
// false when the guest's buffer has no room, before any lookup is
// counted, so that no node is referenced that the guest never hears of.
func (fs *FS) addEntry(dir *inode, out *fuse.DirEntryList, e fuse.DirEntry, plus bool) bool {
	if !plus {
		return out.AddDirEntry(e)
	}
	eo := out.AddDirLookupEntry(e)
	if eo == nil {
		return false
	}
	if e.Name == "." || e.Name == ".." {
		return true // the kernel skips these; a zero node ID says "no attributes"
	}
	if checkName(e.Name).Ok() && fs.lookupAt(dir, e.Name, eo).Ok() {
		out.FixMode(eo.Attr.Mode) // the entry may have changed type since getdents
	}
	// A failed lookup (the file went away) leaves node ID 0: the guest
	// lists the name and looks it up itself if it needs to.
	return true
}

func getdents(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// parseDirent decodes the linux_dirent64 at the start of b.
func parseDirent(b []byte) (fuse.DirEntry, int, bool) {
	if len(b) < direntName {
		return fuse.DirEntry{}, 0, false
	}
	reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
	if reclen <= direntName || reclen > len(b) {
		return fuse.DirEntry{}, 0, false
	}
	name := b[direntName:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return fuse.DirEntry{
		Ino:  binary.NativeEndian.Uint64(b[direntIno:]),
		Off:  binary.NativeEndian.Uint64(b[direntOff:]),
		Mode: uint32(b[direntType]) << 12, // DT_* is S_IFMT >> 12
		Name: string(name),
	}, reclen, true
}
