package virtiofs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// snapshot records every path of a tree with its content, mode, size and
// times, to show that a read-only share left it exactly as it was. It
// reads with O_NOATIME so that taking it moves no access time itself.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(p, &st))
		v := fmt.Sprint(st.Mode, st.Size, st.Mtim, st.Ctim, st.Atim, st.Nlink, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOATIME, 0)
			require.NoError(t, err)
			f := os.NewFile(uintptr(fd), p)
			b, err := io.ReadAll(f)
			require.NoError(t, err)
			f.Close()
			v += string(b)
		case unix.S_IFDIR:
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOATIME, 0)
			require.NoError(t, err)
			f := os.NewFile(uintptr(fd), p)
			names, err := f.Readdirnames(-1)
			require.NoError(t, err)
			f.Close()
			for _, n := range names {
				walk(filepath.Join(p, n))
			}
		}
		snap[p] = v
	}
	walk(dir)
	return snap
}

func TestReadOnlyShareRefusesEveryWrite(t *testing.T) {
	h := newHarness(t, true)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), []byte("original"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "d", "g"), []byte("g"), 0o644))
	require.NoError(t, os.Symlink("f", filepath.Join(h.dir, "link")))
	f := h.mustLookup(root, "f")
	d := h.mustLookup(root, "d")
	before := snapshot(t, h.dir)

	// Reading works, and does not even move access times.
	got, st := h.readFile(f.NodeId, 4096)
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, "original", string(got))
	fh, st := h.open(f.NodeId, uint32(os.O_RDONLY))
	require.Equal(t, fuse.OK, st)

	set := func(valid uint32) fuse.SetAttrIn {
		return fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: valid, Size: 1, Mode: 0o777, Mtime: 1}}
	}
	writes := []struct {
		what string
		st   fuse.Status
	}{
		{"OPEN for writing", status(h.open(f.NodeId, uint32(os.O_WRONLY)))},
		{"OPEN read-write", status(h.open(f.NodeId, uint32(os.O_RDWR)))},
		{"OPEN append", status(h.open(f.NodeId, uint32(os.O_WRONLY|os.O_APPEND)))},
		{"CREATE", status(h.create(root, "new", uint32(os.O_CREATE|os.O_WRONLY), 0o644))},
		{"CREATE over a file", status(h.create(root, "f", uint32(os.O_CREATE|os.O_RDWR|os.O_TRUNC), 0o644))},
		{"WRITE on a read handle", status(h.write(f.NodeId, fh, 0, []byte("X")))},
		{"MKDIR", h.call(opMkdir, root, fuse.MkdirIn{Mode: 0o755}, name("nd")).status},
		{"MKNOD", h.call(opMknod, root, fuse.MknodIn{Mode: unix.S_IFREG | 0o644}, name("nn")).status},
		{"SYMLINK", h.call(opSymlink, root, fuse.InHeader{}, name("ns"), name("f")).status},
		{"LINK", h.call(opLink, root, fuse.LinkIn{Oldnodeid: f.NodeId}, name("nl")).status},
		{"UNLINK", h.call(opUnlink, root, fuse.InHeader{}, name("f")).status},
		{"RMDIR", h.call(opRmdir, d.NodeId, fuse.InHeader{}, name("g")).status},
		{"RMDIR dir", h.call(opRmdir, root, fuse.InHeader{}, name("d")).status},
		{"RENAME", h.call(opRename2, root, fuse.RenameIn{Newdir: root}, name("f"), name("moved")).status},
		{"SETATTR size", h.call(opSetattr, f.NodeId, set(fuse.FATTR_SIZE)).status},
		{"SETATTR mode", h.call(opSetattr, f.NodeId, set(fuse.FATTR_MODE)).status},
		{"SETATTR mtime", h.call(opSetattr, f.NodeId, set(fuse.FATTR_MTIME)).status},
		{"SETATTR mtime now", h.call(opSetattr, d.NodeId, set(fuse.FATTR_MTIME_NOW|fuse.FATTR_MTIME)).status},
		{"SETATTR owner", h.call(opSetattr, f.NodeId, set(fuse.FATTR_UID|fuse.FATTR_GID)).status},
		{"FALLOCATE", h.call(opFallocate, f.NodeId, fuse.FallocateIn{Fh: fh, Length: 4096}).status},
	}
	for _, w := range writes {
		assert.Equal(t, fuse.EROFS, w.st, w.what)
	}
	// Flushing and syncing change nothing and are allowed.
	assert.Equal(t, fuse.OK, h.call(opFsync, f.NodeId, fuse.FsyncIn{Fh: fh}).status)
	assert.Equal(t, fuse.OK, h.call(opSyncfs, root, fuse.InHeader{}, make([]byte, 8)).status)
	assert.Equal(t, fuse.OK, h.call(opRelease, f.NodeId, fuse.ReleaseIn{Fh: fh}).status)

	assert.Equal(t, before, snapshot(t, h.dir), "the host tree is unchanged, times included")
}

// status keeps the status of a two-result call.
func status[T any](_ T, st fuse.Status) fuse.Status { return st }
