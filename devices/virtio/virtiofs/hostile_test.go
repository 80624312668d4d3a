package virtiofs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A hostile guest sends whatever FUSE requests it likes through the
// virtqueue. None may reach a host file outside the share; each gets an
// error reply. The harness's "outside" directory, next to the share,
// holds the secret these tests try to reach.

// outsideUnchanged checks that nothing was created in, removed from or
// written to the outside directory.
func (h *harness) outsideUnchanged() {
	h.t.Helper()
	entries, err := os.ReadDir(h.outside)
	require.NoError(h.t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(h.t, []string{"secret"}, names, "the outside directory changed")
	assert.Equal(h.t, []byte("SECRET"), h.hostFile(h.outside, "secret"))
}

func TestHostileNamesNeverLeaveTheTree(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "sub"), 0o755))
	sub := h.mustLookup(root, "sub")
	bad := []struct {
		name string
		want fuse.Status
	}{
		{"..", fuse.EINVAL},
		{".", fuse.EINVAL},
		{"../outside", fuse.EINVAL},
		{"../outside/secret", fuse.EINVAL},
		{"/etc/passwd", fuse.EINVAL},
		{"sub/../../outside", fuse.EINVAL},
		{"", fuse.EINVAL},
		{strings.Repeat("n", 256), fuse.Status(unix.ENAMETOOLONG)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			for _, parent := range []uint64{root, sub.NodeId} {
				_, st := h.lookup(parent, tt.name)
				assert.Equal(t, tt.want, st, "LOOKUP")
				_, st = h.create(parent, tt.name, uint32(os.O_CREATE|os.O_WRONLY), 0o644)
				assert.Equal(t, tt.want, st, "CREATE")
				assert.Equal(t, tt.want, h.call(opMkdir, parent, fuse.MkdirIn{Mode: 0o755}, name(tt.name)).status, "MKDIR")
				assert.Equal(t, tt.want, h.call(opMknod, parent, fuse.MknodIn{Mode: unix.S_IFREG | 0o644}, name(tt.name)).status, "MKNOD")
				assert.Equal(t, tt.want, h.call(opSymlink, parent, fuse.InHeader{}, name(tt.name), name("x")).status, "SYMLINK")
				assert.Equal(t, tt.want, h.call(opUnlink, parent, fuse.InHeader{}, name(tt.name)).status, "UNLINK")
				assert.Equal(t, tt.want, h.call(opRmdir, parent, fuse.InHeader{}, name(tt.name)).status, "RMDIR")
				assert.Equal(t, tt.want, h.call(opLink, parent, fuse.LinkIn{Oldnodeid: sub.NodeId}, name(tt.name)).status, "LINK")
			}
		})
	}
	h.outsideUnchanged()
}

// TestHostileSymlinksPointingOut: absolute and relative symlinks to the
// outside directory and to the secret are nodes of their own; nothing
// follows them on the host.
func TestHostileSymlinksPointingOut(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	links := map[string]string{
		"abs-dir":  h.outside,
		"abs-file": filepath.Join(h.outside, "secret"),
		"rel-dir":  "../outside",
		"rel-file": "../outside/secret",
		"deep":     "../../../../../../../../" + strings.TrimPrefix(h.outside, "/") + "/secret",
		"proc":     "/proc/self/root" + h.outside,
	}
	for n, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(h.dir, n)))
	}
	for n, target := range links {
		t.Run(n, func(t *testing.T) {
			e := h.mustLookup(root, n)
			assert.Equal(t, uint32(unix.S_IFLNK), e.Attr.Mode&unix.S_IFMT)
			assert.Equal(t, uint64(len(target)), e.Attr.Size)

			r := h.call(opReadlink, e.NodeId, fuse.InHeader{})
			require.Equal(t, fuse.OK, r.status)
			assert.Equal(t, target, string(r.body), "the guest gets the text, to resolve in its own namespace")

			_, st := h.lookup(e.NodeId, "secret")
			assert.Equal(t, fuse.ENOTDIR, st, "a symlink is not a directory to look into")
			_, st = h.open(e.NodeId, uint32(os.O_RDONLY))
			assert.Equal(t, fuse.Status(unix.ELOOP), st, "OPEN never follows a symlink")
			_, st = h.open(e.NodeId, uint32(os.O_WRONLY))
			assert.Equal(t, fuse.Status(unix.ELOOP), st)
			assert.Equal(t, fuse.ENOTDIR, h.call(opOpendir, e.NodeId, fuse.OpenIn{}).status)
			_, st = h.create(e.NodeId, "planted", uint32(os.O_CREATE|os.O_WRONLY), 0o644)
			assert.Equal(t, fuse.ENOTDIR, st)
			assert.Equal(t, fuse.ENOTDIR, h.call(opMkdir, e.NodeId, fuse.MkdirIn{Mode: 0o755}, name("planted")).status)
			set := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_SIZE}}
			assert.Equal(t, fuse.EINVAL, h.call(opSetattr, e.NodeId, set).status, "truncate through a symlink")
			set = fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_MODE, Mode: 0o777}}
			assert.Equal(t, fuse.Status(unix.EOPNOTSUPP), h.call(opSetattr, e.NodeId, set).status, "chmod through a symlink")
		})
	}
	h.outsideUnchanged()
	fi, err := os.Stat(filepath.Join(h.outside, "secret"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

// TestHostileSwapBetweenLookupAndOpen replaces a looked-up file and a
// looked-up directory with symlinks to the outside. The nodes keep
// meaning the inodes that were looked up.
func TestHostileSwapBetweenLookupAndOpen(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	f := filepath.Join(h.dir, "f")
	d := filepath.Join(h.dir, "d")
	require.NoError(t, os.WriteFile(f, []byte("inside"), 0o644))
	require.NoError(t, os.Mkdir(d, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(d, "x"), []byte("x"), 0o644))
	fe := h.mustLookup(root, "f")
	de := h.mustLookup(root, "d")

	// The swap: what was looked up moves away, symlinks out take its place.
	require.NoError(t, os.Rename(f, f+".old"))
	require.NoError(t, os.Symlink(filepath.Join(h.outside, "secret"), f))
	require.NoError(t, os.Rename(d, d+".old"))
	require.NoError(t, os.Symlink(h.outside, d))

	got, st := h.readFile(fe.NodeId, 4096)
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, "inside", string(got), "OPEN reopens the inode, not the path")
	fh, st := h.open(fe.NodeId, uint32(os.O_WRONLY))
	require.Equal(t, fuse.OK, st)
	_, st = h.write(fe.NodeId, fh, 0, []byte("INSIDE"))
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, []byte("INSIDE"), h.hostFile(f+".old"))
	set := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_SIZE, Size: 1}}
	require.Equal(t, fuse.OK, h.call(opSetattr, fe.NodeId, set).status)
	assert.Equal(t, []byte("I"), h.hostFile(f+".old"), "truncate reaches the looked-up inode")

	_, st = h.lookup(de.NodeId, "secret")
	assert.Equal(t, fuse.ENOENT, st, "a looked-up directory stays the one looked up")
	x := h.mustLookup(de.NodeId, "x")
	assert.Equal(t, uint64(1), x.Attr.Size)
	_, st = h.create(de.NodeId, "made", uint32(os.O_CREATE|os.O_WRONLY), 0o644)
	require.Equal(t, fuse.OK, st)
	assert.FileExists(t, filepath.Join(d+".old", "made"))
	require.Equal(t, fuse.OK, h.call(opUnlink, de.NodeId, fuse.InHeader{}, name("x")).status)
	assert.NoFileExists(t, filepath.Join(d+".old", "x"))

	// Looked up again, the names are the symlinks now.
	assert.Equal(t, uint32(unix.S_IFLNK), h.mustLookup(root, "f").Attr.Mode&unix.S_IFMT)
	assert.Equal(t, uint32(unix.S_IFLNK), h.mustLookup(root, "d").Attr.Mode&unix.S_IFMT)
	h.outsideUnchanged()
}

// TestHostileCreateThroughDanglingSymlink: creating at a name that is a
// symlink to a file that does not exist yet must not create that file.
func TestHostileCreateThroughDanglingSymlink(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	target := filepath.Join(h.outside, "planted")
	require.NoError(t, os.Symlink(target, filepath.Join(h.dir, "dangle")))
	for _, flags := range []int{os.O_CREATE | os.O_WRONLY, os.O_CREATE | os.O_WRONLY | os.O_TRUNC, os.O_CREATE | os.O_RDWR | os.O_EXCL} {
		_, st := h.create(root, "dangle", uint32(flags), 0o644)
		assert.NotEqual(t, fuse.OK, st, "flags %#x", flags)
	}
	assert.Equal(t, fuse.Status(unix.EEXIST), h.call(opMkdir, root, fuse.MkdirIn{Mode: 0o755}, name("dangle")).status)
	assert.Equal(t, fuse.Status(unix.EEXIST), h.call(opMknod, root, fuse.MknodIn{Mode: unix.S_IFIFO | 0o644}, name("dangle")).status)
	assert.Equal(t, fuse.Status(unix.EEXIST), h.call(opSymlink, root, fuse.InHeader{}, name("dangle"), name("elsewhere")).status)
	assert.NoFileExists(t, target)
	h.outsideUnchanged()
}

// TestHostileHardLinks: a hard link can only be made, inside the tree, to
// a node the guest looked up inside the tree; linking a symlink that
// points out links the symlink, not its target.
func TestHostileHardLinks(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.Symlink(filepath.Join(h.outside, "secret"), filepath.Join(h.dir, "out")))
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "sub"), 0o755))
	out := h.mustLookup(root, "out")
	sub := h.mustLookup(root, "sub")

	r := h.call(opLink, root, fuse.LinkIn{Oldnodeid: out.NodeId}, name("hl"))
	require.Equal(t, fuse.OK, r.status)
	fi, err := os.Lstat(filepath.Join(h.dir, "hl"))
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the symlink is linked, not its target")
	hl := h.mustLookup(root, "hl")
	_, st := h.open(hl.NodeId, uint32(os.O_RDONLY))
	assert.Equal(t, fuse.Status(unix.ELOOP), st)

	tests := []struct {
		what       string
		parent, of uint64
		name       string
		want       fuse.Status
	}{
		{"a directory", root, sub.NodeId, "dirlink", fuse.EPERM},
		{"a name with ..", root, out.NodeId, "../escaped", fuse.EINVAL},
		{"into a symlink", out.NodeId, sub.NodeId, "x", fuse.ENOTDIR},
		{"a forged node", root, 1 << 40, "forged", fuse.EBADF},
		{"into a forged node", 1 << 40, out.NodeId, "x", fuse.EBADF},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			assert.Equal(t, tt.want, h.call(opLink, tt.parent, fuse.LinkIn{Oldnodeid: tt.of}, name(tt.name)).status)
		})
	}
	h.outsideUnchanged()
}

// TestHostileRenameOutOfTheTree: both ends of a rename are a directory
// node and one component.
func TestHostileRenameOutOfTheTree(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), []byte("f"), 0o644))
	require.NoError(t, os.Symlink(h.outside, filepath.Join(h.dir, "out")))
	out := h.mustLookup(root, "out")
	f := h.mustLookup(root, "f")
	rename := func(from uint64, oldName string, to uint64, newName string, flags uint32) fuse.Status {
		return h.call(opRename2, from, fuse.RenameIn{Newdir: to, Flags: flags}, name(oldName), name(newName)).status
	}
	tests := []struct {
		what string
		st   fuse.Status
	}{
		{"new name with ..", rename(root, "f", root, "../escaped", 0)},
		{"absolute new name", rename(root, "f", root, h.outside+"/escaped", 0)},
		{"old name with ..", rename(root, "../outside/secret", root, "stolen", 0)},
		{"into a symlink to the outside", rename(root, "f", out.NodeId, "escaped", 0)},
		{"into a file", rename(root, "f", f.NodeId, "escaped", 0)},
		{"into a forged node", rename(root, "f", 1<<40, "escaped", 0)},
		{"whiteout", rename(root, "f", root, "g", unix.RENAME_WHITEOUT)},
		{"unknown flags", rename(root, "f", root, "g", 1<<20)},
	}
	want := []fuse.Status{fuse.EINVAL, fuse.EINVAL, fuse.EINVAL, fuse.ENOTDIR, fuse.ENOTDIR, fuse.EBADF, fuse.EINVAL, fuse.EINVAL}
	for i, tt := range tests {
		assert.Equal(t, want[i], tt.st, tt.what)
	}
	assert.Equal(t, []byte("f"), h.hostFile(h.dir, "f"))
	h.outsideUnchanged()
}

// TestHostileForgedNodesAndHandles: node IDs and file handles are the
// device's; any other number is EBADF.
func TestHostileForgedNodesAndHandles(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), []byte("f"), 0o644))
	f := h.mustLookup(root, "f")
	fh, st := h.open(f.NodeId, uint32(os.O_RDONLY))
	require.Equal(t, fuse.OK, st)
	var dir fuse.OpenOut
	h.decode(h.call(opOpendir, root, fuse.OpenIn{}), &dir)

	// ^0 is go-fuse's made-up node for its /dev/fuse poll workaround.
	for _, node := range []uint64{0, 2 << 20, ^uint64(0)} {
		_, st := h.getattr(node)
		assert.Equal(t, fuse.EBADF, st, "GETATTR %d", node)
		_, st = h.lookup(node, "f")
		assert.Equal(t, fuse.EBADF, st, "LOOKUP in %d", node)
	}
	for _, bad := range []uint64{0, fh + 100, ^uint64(0), dir.Fh} {
		_, st := h.read(f.NodeId, bad, 0, 10)
		assert.Equal(t, fuse.EBADF, st, "READ fh %d", bad)
		_, st = h.write(f.NodeId, bad, 0, []byte("x"))
		assert.Equal(t, fuse.EBADF, st, "WRITE fh %d", bad)
	}
	r := h.call(opReaddirplus, root, fuse.ReadIn{Fh: fh, Size: 4096})
	assert.Equal(t, fuse.EBADF, r.status, "a file handle is not a directory handle")
	// go-fuse's reserved name in the root is not answered with made-up data.
	_, st = h.lookup(root, pollHackName)
	assert.Equal(t, fuse.ENOENT, st)
	_, st = h.create(root, pollHackName, uint32(os.O_CREATE|os.O_WRONLY), 0o644)
	assert.Equal(t, fuse.EPERM, st)
	// Releasing twice, or a handle that never was, changes nothing.
	h.call(opRelease, f.NodeId, fuse.ReleaseIn{Fh: fh})
	h.call(opRelease, f.NodeId, fuse.ReleaseIn{Fh: fh})
	h.call(opRelease, f.NodeId, fuse.ReleaseIn{Fh: 12345})
	_, st = h.getattr(f.NodeId)
	assert.Equal(t, fuse.OK, st)
}

func TestHostileDeviceNodesAndPrivileges(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	for _, typ := range []uint32{unix.S_IFCHR, unix.S_IFBLK} {
		r := h.call(opMknod, root, fuse.MknodIn{Mode: typ | 0o666, Rdev: 0x0801}, name("dev"))
		assert.Equal(t, fuse.EPERM, r.status, "no device nodes on the host")
	}
	assert.NoFileExists(t, filepath.Join(h.dir, "dev"))

	var fifo fuse.EntryOut
	h.decode(h.call(opMknod, root, fuse.MknodIn{Mode: unix.S_IFIFO | 0o644}, name("fifo")), &fifo)
	_, st := h.open(fifo.NodeId, uint32(os.O_RDONLY))
	assert.Equal(t, fuse.EACCES, st, "special files are opened by the guest, never on the host")

	c, st := h.create(root, "suid", uint32(os.O_CREATE|os.O_WRONLY), 0o4755|unix.S_ISGID)
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, uint32(0o755), c.Attr.Mode&0o7777, "no set-user-ID or set-group-ID from CREATE")
	set := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_MODE, Mode: 0o6777}}
	var ao fuse.AttrOut
	h.decode(h.call(opSetattr, c.NodeId, set), &ao)
	assert.Equal(t, uint32(0o777), ao.Attr.Mode&0o7777, "nor from chmod")
	var dir fuse.EntryOut
	h.decode(h.call(opMkdir, root, fuse.MkdirIn{Mode: 0o775}, name("shared")), &dir)
	assert.Equal(t, uint32(0o775), dir.Attr.Mode&0o7777, "the guest's mode, not masked again by gonest's umask")
	set = fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_MODE, Mode: 0o2775}}
	h.decode(h.call(opSetattr, dir.NodeId, set), &ao)
	assert.Equal(t, uint32(0o2775), ao.Attr.Mode&0o7777, "set-group-ID stays on directories")

	other := uint32(os.Geteuid() + 4242)
	set = fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_UID, Owner: fuse.Owner{Uid: other}}}
	assert.Equal(t, fuse.EPERM, h.call(opSetattr, c.NodeId, set).status, "no giving files away")
	set = fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_UID | fuse.FATTR_GID,
		Owner: fuse.Owner{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}}}
	assert.Equal(t, fuse.OK, h.call(opSetattr, c.NodeId, set).status, "chown to gonest's own ids is fine")
}

// TestHostileCreateOverSpecialFiles: CREATE without O_EXCL of a name that
// exists opens it as OPEN would, regular files only. A FIFO would block
// the device's worker in open(2) until a reader came, and a device node
// (sharing the host's / brings /dev) would run its driver's open.
func TestHostileCreateOverSpecialFiles(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, unix.Mkfifo(filepath.Join(h.dir, "fifo"), 0o666))
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "dir"), 0o755))
	require.NoError(t, os.Symlink("dir", filepath.Join(h.dir, "link")))
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "file"), []byte("old"), 0o644))
	tests := []struct {
		name string
		want fuse.Status
	}{
		{"fifo", fuse.EACCES},
		{"dir", fuse.EISDIR},
		{"link", fuse.Status(unix.ELOOP)},
		{"file", fuse.OK},
	}
	for _, tt := range tests {
		for _, flags := range []int{os.O_CREATE | os.O_WRONLY, os.O_CREATE | os.O_RDONLY} {
			_, st := h.create(root, tt.name, uint32(flags), 0o644)
			assert.Equal(t, tt.want, st, "%s %#x", tt.name, flags)
		}
		_, st := h.create(root, tt.name, uint32(os.O_CREATE|os.O_EXCL|os.O_WRONLY), 0o644)
		assert.Equal(t, fuse.Status(unix.EEXIST), st, "%s with O_EXCL", tt.name)
	}
	c, st := h.create(root, "file", uint32(os.O_CREATE|os.O_TRUNC|os.O_WRONLY), 0o644)
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, uint64(0), c.Attr.Size)
	assert.Empty(t, h.hostFile(h.dir, "file"), "O_TRUNC truncates an existing file")
}
