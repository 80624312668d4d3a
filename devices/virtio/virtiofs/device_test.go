package virtiofs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/virtio"
)

const root = fuse.FUSE_ROOT_ID

func TestConfigSpace(t *testing.T) {
	dev, err := New(Spec{Dir: t.TempDir(), Tag: "host-files"}, nil)
	require.NoError(t, err)
	defer dev.Close()
	cfg := make([]byte, configSize)
	dev.ReadConfig(0, cfg)
	want := make([]byte, configSize)
	copy(want, "host-files")
	binary.LittleEndian.PutUint32(want[cfgNumRequestQueues:], 1)
	assert.Equal(t, want, cfg)
	assert.Equal(t, uint16(26), dev.DeviceType())
	assert.Equal(t, []uint16{128, 1024}, dev.QueueSizes())
	assert.Equal(t, uint64(0), dev.Features())

	// A 36-byte tag fills the field with no NUL, as virtio 1.2 §5.11.4 allows.
	long := "abcdefghijklmnopqrstuvwxyz0123456789"
	dev2, err := New(Spec{Dir: t.TempDir(), Tag: long}, nil)
	require.NoError(t, err)
	defer dev2.Close()
	dev2.ReadConfig(0, cfg)
	assert.Equal(t, long, string(cfg[:TagMax]))

	// Reads past the structure read zeros; writes change nothing.
	tail := []byte{0xff, 0xff}
	dev.ReadConfig(configSize, tail)
	assert.Equal(t, []byte{0, 0}, tail)
	dev.WriteConfig(0, []byte("XXXX"))
	dev.ReadConfig(0, cfg)
	assert.Equal(t, want, cfg)
}

func TestInitNegotiatesOneMiBTransfers(t *testing.T) {
	h := newHarness(t, false)
	out := h.init()
	assert.Equal(t, uint32(7), out.Major)
	assert.Equal(t, uint32(MaxWrite), out.MaxWrite)
	assert.Equal(t, uint16(256), out.MaxPages, "256 pages of 4 KiB: 1 MiB READ and WRITE")
	assert.NotZero(t, out.Flags&fuse.CAP_MAX_PAGES)
	assert.NotZero(t, out.Flags&fuse.CAP_READDIRPLUS)
	assert.Zero(t, out.Flags&fuse.CAP_POSIX_LOCKS, "locks are the guest's own")
}

func TestReadWriteCreate(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	big := make([]byte, 3*MaxWrite+123)
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "big"), big, 0o644))

	e := h.mustLookup(root, "big")
	assert.Equal(t, uint64(len(big)), e.Attr.Size)
	got, st := h.readFile(e.NodeId, MaxWrite)
	require.Equal(t, fuse.OK, st)
	assert.True(t, bytes.Equal(big, got), "1 MiB READs return the file byte for byte")

	c, st := h.create(root, "new", uint32(os.O_WRONLY|os.O_CREATE|os.O_EXCL), 0o640)
	require.Equal(t, fuse.OK, st)
	n, st := h.write(c.NodeId, c.Fh, 0, big[:MaxWrite])
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, uint32(MaxWrite), n)
	n, st = h.write(c.NodeId, c.Fh, MaxWrite, []byte("tail"))
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, uint32(4), n)
	// The host sees every completed WRITE at once: there is no cache in between.
	assert.Equal(t, append(append([]byte{}, big[:MaxWrite]...), "tail"...), h.hostFile(h.dir, "new"))
	st2, err := os.Stat(filepath.Join(h.dir, "new"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st2.Mode().Perm())

	assert.Equal(t, fuse.OK, h.call(opFsync, c.NodeId, fuse.FsyncIn{Fh: c.Fh}).status)
	assert.Equal(t, fuse.OK, h.call(opFlush, c.NodeId, fuse.FlushIn{Fh: c.Fh}).status)
	assert.Equal(t, fuse.OK, h.call(opRelease, c.NodeId, fuse.ReleaseIn{Fh: c.Fh}).status)
	assert.Equal(t, fuse.OK, h.call(opSyncfs, root, fuse.InHeader{}, make([]byte, 8)).status)

	// The handle is gone after RELEASE.
	_, st = h.read(c.NodeId, c.Fh, 0, 10)
	assert.Equal(t, fuse.EBADF, st)
}

func TestOpenUnlinkFstat(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	c, st := h.create(root, "tmp", uint32(os.O_RDWR|os.O_CREATE), 0o600)
	require.Equal(t, fuse.OK, st)
	_, st = h.write(c.NodeId, c.Fh, 0, []byte("still here"))
	require.Equal(t, fuse.OK, st)
	require.Equal(t, fuse.OK, h.call(opUnlink, root, fuse.InHeader{}, name("tmp")).status)
	_, err := os.Lstat(filepath.Join(h.dir, "tmp"))
	require.True(t, os.IsNotExist(err))

	a, st := h.getattr(c.NodeId)
	require.Equal(t, fuse.OK, st, "fstat of an unlinked open file")
	assert.Equal(t, uint32(0), a.Attr.Nlink)
	assert.Equal(t, uint64(10), a.Attr.Size)
	b, st := h.read(c.NodeId, c.Fh, 0, 100)
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, "still here", string(b))
}

func TestRenameLinkTimes(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "a"), []byte("A"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "sub"), 0o755))
	a := h.mustLookup(root, "a")
	sub := h.mustLookup(root, "sub")

	r := h.call(opRename, root, struct {
		fuse.InHeader
		Newdir uint64
	}{Newdir: sub.NodeId}, name("a"), name("b"))
	require.Equal(t, fuse.OK, r.status)
	assert.Equal(t, []byte("A"), h.hostFile(h.dir, "sub", "b"))

	// A hard link inside the tree is the same node.
	r = h.call(opLink, root, fuse.LinkIn{Oldnodeid: a.NodeId}, name("hard"))
	var l fuse.EntryOut
	h.decode(r, &l)
	assert.Equal(t, a.NodeId, l.NodeId)
	assert.Equal(t, uint32(2), l.Attr.Nlink)

	// RENAME2 with RENAME_EXCHANGE swaps.
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "x"), []byte("X"), 0o644))
	r = h.call(opRename2, root, fuse.RenameIn{Newdir: root, Flags: unix.RENAME_EXCHANGE}, name("x"), name("hard"))
	require.Equal(t, fuse.OK, r.status)
	assert.Equal(t, []byte("X"), h.hostFile(h.dir, "hard"))
	assert.Equal(t, []byte("A"), h.hostFile(h.dir, "x"))

	// WRITE moves mtime and ctime; SETATTR sets them.
	before, st := h.getattr(a.NodeId)
	require.Equal(t, fuse.OK, st)
	time.Sleep(20 * time.Millisecond)
	fh, st := h.open(a.NodeId, uint32(os.O_WRONLY))
	require.Equal(t, fuse.OK, st)
	_, st = h.write(a.NodeId, fh, 1, []byte("B"))
	require.Equal(t, fuse.OK, st)
	after, st := h.getattr(a.NodeId)
	require.Equal(t, fuse.OK, st)
	assert.True(t, after.Attr.ModTime().After(before.Attr.ModTime()), "mtime moves on WRITE")
	assert.True(t, after.Attr.ChangeTime().After(before.Attr.ChangeTime()), "ctime moves on WRITE")

	set := fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{
		Valid: fuse.FATTR_MTIME | fuse.FATTR_SIZE, Mtime: 1_000_000_000, Mtimensec: 5, Size: 1}}
	var ao fuse.AttrOut
	h.decode(h.call(opSetattr, a.NodeId, set), &ao)
	assert.Equal(t, uint64(1_000_000_000), ao.Attr.Mtime)
	assert.Equal(t, uint32(5), ao.Attr.Mtimensec)
	assert.Equal(t, uint64(1), ao.Attr.Size)
	assert.Equal(t, []byte("A"), h.hostFile(h.dir, "sub", "b"))
}

// TestReaddirplusLargeDirectory lists 3000 entries through 4 KiB
// READDIRPLUS buffers, as Linux does, and checks each name comes once
// with its node and attributes.
func TestReaddirplusLargeDirectory(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	const n = 3000
	want := []string{".", ".."}
	for i := range n {
		nm := fmt.Sprintf("file-%04d-%s", i, bytes.Repeat([]byte("x"), i%40))
		require.NoError(t, os.WriteFile(filepath.Join(h.dir, nm), []byte(nm), 0o644))
		want = append(want, nm)
	}
	var oo fuse.OpenOut
	h.decode(h.call(opOpendir, root, fuse.OpenIn{}), &oo)
	var got []string
	off := uint64(0)
	for calls := 0; ; calls++ {
		require.Less(t, calls, n, "the listing must end")
		r := h.call(opReaddirplus, root, fuse.ReadIn{Fh: oo.Fh, Offset: off, Size: 4096})
		require.Equal(t, fuse.OK, r.status)
		if len(r.body) == 0 {
			break
		}
		for b := r.body; len(b) > 0; {
			var e fuse.EntryOut
			require.NoError(t, binary.Read(bytes.NewReader(b), binary.LittleEndian, &e))
			b = b[128:]
			nameLen := binary.LittleEndian.Uint32(b[16:])
			nm := string(b[24 : 24+nameLen])
			off = binary.LittleEndian.Uint64(b[8:])
			b = b[(24+int(nameLen)+7)&^7:]
			got = append(got, nm)
			if nm != "." && nm != ".." {
				require.NotZero(t, e.NodeId, nm)
				assert.Equal(t, uint64(len(nm)), e.Attr.Size, nm)
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got)
	assert.Equal(t, fuse.OK, h.call(opReleasedir, root, fuse.ReleaseIn{Fh: oo.Fh}).status)
}

func TestForgetOnHiprioQueue(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), nil, 0o644))
	e := h.mustLookup(root, "f")
	// FORGET has no reply: the chain has no writable buffer, used len 0.
	out := h.raw(0, h.encode(opForget, e.NodeId, fuse.ForgetIn{Nlookup: 1}), 0)
	assert.Empty(t, out)
	_, st := h.getattr(e.NodeId)
	assert.Equal(t, fuse.EBADF, st, "a forgotten node is gone")
	// The root is never forgotten.
	h.raw(0, h.encode(opForget, root, fuse.ForgetIn{Nlookup: 100}), 0)
	_, st = h.getattr(root)
	assert.Equal(t, fuse.OK, st)
}

func TestDestroyForgetsEverything(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), []byte("x"), 0o644))
	e := h.mustLookup(root, "f")
	fh, st := h.open(e.NodeId, uint32(os.O_RDONLY))
	require.Equal(t, fuse.OK, st)
	require.Equal(t, fuse.OK, h.call(opDestroy, root, fuse.InHeader{}).status)
	_, st = h.read(e.NodeId, fh, 0, 1)
	assert.Equal(t, fuse.EBADF, st)
	_, st = h.getattr(e.NodeId)
	assert.Equal(t, fuse.EBADF, st)
	h.init() // a new mount
	assert.Equal(t, uint64(1), h.mustLookup(root, "f").Attr.Size)
}

// TestMountPointsAreSubmounts: a directory on another host file system
// is flagged FUSE_ATTR_SUBMOUNT when the guest's kernel automounts
// submounts, so that it gets a device number of its own in the guest.
func TestMountPointsAreSubmounts(t *testing.T) {
	h := newHarness(t, false)
	mnt := filepath.Join(h.dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(h.dir, "plain"), 0o755))
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mounting a tmpfs inside the share needs CAP_SYS_ADMIN: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	for _, submounts := range []bool{false, true} {
		flags := uint32(fuse.CAP_MAX_PAGES | fuse.CAP_INIT_EXT)
		if submounts {
			flags |= fuseSubmounts
		}
		var out initOut
		r := h.call(opInit, 0, fuse.InitIn{Major: 7, Minor: 36, Flags: flags})
		require.Equal(t, fuse.OK, r.status)
		require.NoError(t, binary.Read(bytes.NewReader(r.body), binary.LittleEndian, &out))
		want := uint32(0)
		if submounts {
			want = fuse.ATTR_SUBMOUNT
		}
		assert.Equal(t, want, h.mustLookup(root, "mnt").Attr.Flags, "submounts %v", submounts)
		assert.Zero(t, h.mustLookup(root, "plain").Attr.Flags)
		a, st := h.getattr(h.mustLookup(root, "mnt").NodeId)
		require.Equal(t, fuse.OK, st)
		assert.Equal(t, want, a.Attr.Flags)
	}
}

func TestActivateResetClose(t *testing.T) {
	dev, err := New(Spec{Dir: t.TempDir(), Tag: "t"}, nil)
	require.NoError(t, err)
	require.NoError(t, dev.Activate(virtio.Activation{Queues: make([]*virtio.Queue, 2)}))
	assert.ErrorIs(t, dev.Activate(virtio.Activation{}), virtio.ErrActive)
	dev.Reset()
	require.NoError(t, dev.Activate(virtio.Activation{}))
	require.NoError(t, dev.Close())
	require.NoError(t, dev.Close())
	assert.ErrorIs(t, dev.Activate(virtio.Activation{}), virtio.ErrClosed)
}
