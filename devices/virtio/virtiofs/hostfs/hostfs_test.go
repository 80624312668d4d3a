package hostfs

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// These tests call the file system directly, the way go-fuse does, to
// check what the device-level tests (package virtiofs) cannot see: that
// descriptors are closed exactly when nothing uses them, under races a
// hostile guest can set up with two queues, and that a swap racing with
// lookups never reaches outside the tree.

const root = rootID

func newFS(t *testing.T, ro bool) (*FS, string) {
	t.Helper()
	top := t.TempDir()
	share := filepath.Join(top, "share")
	require.NoError(t, os.Mkdir(share, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(top, "outside"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(top, "outside", "secret"), []byte("SECRET"), 0o644))
	fs, err := New(share, Options{ReadOnly: ro})
	require.NoError(t, err)
	t.Cleanup(func() { fs.Close() })
	return fs, share
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(entries)
}

func lookup(t *testing.T, fs *FS, parent uint64, name string) uint64 {
	t.Helper()
	var out fuse.EntryOut
	require.Equal(t, fuse.OK, fs.Lookup(nil, &fuse.InHeader{NodeId: parent}, name, &out))
	return out.NodeId
}

func TestNewRefusesWhatIsNotADirectory(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	tests := []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such directory; give an existing directory to share"},
		{file, "is not a directory; share a directory"},
	}
	for _, tt := range tests {
		_, err := New(tt.path, Options{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
	}
}

// TestDescriptorsOutliveForgetAndReleaseWhileInUse: a READ whose reply is
// still being written holds its handle and node, so a RELEASE and a
// FORGET arriving meanwhile (on the hiprio queue) cannot close the
// descriptor under it, where a reused descriptor number would have the
// READ fill guest memory from another file.
func TestDescriptorsOutliveForgetAndReleaseWhileInUse(t *testing.T) {
	fs, share := newFS(t, false)
	require.NoError(t, os.WriteFile(filepath.Join(share, "f"), []byte("content"), 0o644))
	base := openFDs(t)

	node := lookup(t, fs, root, "f")
	var oo fuse.OpenOut
	require.Equal(t, fuse.OK, fs.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: node}}, &oo))
	rr, st := fs.Read(nil, &fuse.ReadIn{Fh: oo.Fh, Size: 100}, nil)
	require.Equal(t, fuse.OK, st)

	fs.Release(nil, &fuse.ReleaseIn{Fh: oo.Fh})
	fs.Forget(node, 1)
	// Descriptors that would take the freed numbers, were they freed.
	other, err := os.Open(filepath.Join(filepath.Dir(share), "outside", "secret"))
	require.NoError(t, err)
	defer other.Close()

	buf := make([]byte, 100)
	n, st := rr.(*readResult).Readv([][]byte{buf})
	require.Equal(t, fuse.OK, st)
	assert.Equal(t, "content", string(buf[:n]))
	rr.Done()
	assert.Equal(t, base+1, openFDs(t), "the handle's and the node's descriptors are closed after the READ")
	_, st = fs.Read(nil, &fuse.ReadIn{Fh: oo.Fh, Size: 1}, nil)
	assert.Equal(t, fuse.EBADF, st)
}

// TestConcurrentLookupForget races lookups, attribute reads and forgets
// of the same names from several goroutines (run it with -race); when
// every lookup is forgotten, every descriptor is closed.
func TestConcurrentLookupForget(t *testing.T) {
	fs, share := newFS(t, false)
	names := []string{"a", "b", "c"}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(share, n), []byte(n), 0o644))
	}
	base := openFDs(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				n := names[(i+g)%len(names)]
				var out fuse.EntryOut
				if fs.Lookup(nil, &fuse.InHeader{NodeId: root}, n, &out) != fuse.OK {
					t.Errorf("lookup %s failed", n)
					return
				}
				var ao fuse.AttrOut
				fs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: out.NodeId}}, &ao)
				fs.Forget(out.NodeId, 1)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, base, openFDs(t), "every lookup forgotten, every descriptor closed")
}

// TestSwapRaceNeverEscapes: one goroutine keeps exchanging a file inside
// the share with a symlink to a file outside, under one name, while the
// other looks the name up, opens and reads it. The reads see the inside
// file or fail; never the secret.
func TestSwapRaceNeverEscapes(t *testing.T) {
	fs, share := newFS(t, false)
	secret := filepath.Join(filepath.Dir(share), "outside", "secret")
	flip := filepath.Join(share, "flip")
	other := filepath.Join(share, "other")
	require.NoError(t, os.WriteFile(flip, []byte("inside"), 0o644))
	require.NoError(t, os.Symlink(secret, other))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, flip, unix.AT_FDCWD, other, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange: %v", err)
				return
			}
		}
	}()
	reads := 0
	for range 3000 {
		var e fuse.EntryOut
		if fs.Lookup(nil, &fuse.InHeader{NodeId: root}, "flip", &e) != fuse.OK {
			continue
		}
		var oo fuse.OpenOut
		if fs.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: e.NodeId}}, &oo) == fuse.OK {
			rr, st := fs.Read(nil, &fuse.ReadIn{Fh: oo.Fh, Size: 64}, nil)
			require.Equal(t, fuse.OK, st)
			buf := make([]byte, 64)
			n, _ := rr.(*readResult).Readv([][]byte{buf})
			rr.Done()
			require.Equal(t, "inside", string(buf[:n]), "a read through the share reached outside it")
			reads++
			fs.Release(nil, &fuse.ReleaseIn{Fh: oo.Fh})
		}
		fs.Forget(e.NodeId, 1)
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, reads, "some reads hit the inside file")
}

func TestResetClosesEverythingButTheRoot(t *testing.T) {
	fs, share := newFS(t, false)
	require.NoError(t, os.Mkdir(filepath.Join(share, "d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(share, "d", "f"), []byte("f"), 0o644))
	base := openFDs(t)
	d := lookup(t, fs, root, "d")
	f := lookup(t, fs, d, "f")
	var oo, do fuse.OpenOut
	require.Equal(t, fuse.OK, fs.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: f}}, &oo))
	require.Equal(t, fuse.OK, fs.OpenDir(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: d}}, &do))
	assert.Equal(t, base+4, openFDs(t))
	fs.Reset()
	assert.Equal(t, base, openFDs(t))
	var ao fuse.AttrOut
	assert.Equal(t, fuse.OK, fs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: root}}, &ao))
	assert.Equal(t, fuse.EBADF, fs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: f}}, &ao))
}

// TestUmaskDoesNotApply: the guest's modes arrive masked by its own
// umask; gonest's must not mask them again.
func TestUmaskDoesNotApply(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	fs, share := newFS(t, false)
	var e fuse.EntryOut
	require.Equal(t, fuse.OK, fs.Mkdir(nil, &fuse.MkdirIn{InHeader: fuse.InHeader{NodeId: root}, Mode: 0o775}, "d", &e))
	var c fuse.CreateOut
	require.Equal(t, fuse.OK, fs.Create(nil, &fuse.CreateIn{InHeader: fuse.InHeader{NodeId: root},
		Flags: uint32(os.O_CREATE | os.O_WRONLY), Mode: 0o664}, "f", &c))
	for name, want := range map[string]os.FileMode{"d": 0o775, "f": 0o664} {
		fi, err := os.Stat(filepath.Join(share, name))
		require.NoError(t, err)
		assert.Equal(t, want, fi.Mode().Perm(), name)
	}
}

// TestOutOfDescriptors: each cached node holds a descriptor. New raises
// the limit as far as it may; past it, lookups fail with EMFILE (and the
// share says so once in the log), and work again once nodes are forgotten.
func TestOutOfDescriptors(t *testing.T) {
	fs, share := newFS(t, false)
	var lim unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
	assert.Equal(t, lim.Max, lim.Cur, "the soft limit is raised to the hard one")
	for i := range 20 {
		require.NoError(t, os.WriteFile(filepath.Join(share, strconv.Itoa(i)), nil, 0o644))
	}
	low := lim
	low.Cur = uint64(openFDs(t) + 10)
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)

	var ids []uint64
	var failed fuse.Status
	for i := range 20 {
		var out fuse.EntryOut
		st := fs.Lookup(nil, &fuse.InHeader{NodeId: root}, strconv.Itoa(i), &out)
		if !st.Ok() {
			failed = st
			break
		}
		ids = append(ids, out.NodeId)
	}
	assert.Equal(t, fuse.Status(unix.EMFILE), failed)
	assert.True(t, fs.fdWarned.Load(), "the share said so in the log")
	for _, id := range ids {
		fs.Forget(id, 1)
	}
	lookup(t, fs, root, "19")
}

func TestCacheTimeout(t *testing.T) {
	dir := t.TempDir()
	fs, err := New(dir, Options{Timeout: 90*time.Minute + 500*time.Millisecond})
	require.NoError(t, err)
	defer fs.Close()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), nil, 0o644))
	var e fuse.EntryOut
	require.Equal(t, fuse.OK, fs.Lookup(nil, &fuse.InHeader{NodeId: root}, "f", &e))
	assert.Equal(t, []uint64{5400, 5400}, []uint64{e.EntryValid, e.AttrValid})
	assert.Equal(t, []uint32{5e8, 5e8}, []uint32{e.EntryValidNsec, e.AttrValidNsec})
	var a fuse.AttrOut
	require.Equal(t, fuse.OK, fs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: e.NodeId}}, &a))
	assert.Equal(t, uint64(5400), a.AttrValid)
}
