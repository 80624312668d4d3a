package execinit

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMakeOpaque builds an upper layer's opaque directory the way the
// init does: each directory on the way with its lower twin's owner and
// mode, the leaf marked trusted.overlay.opaque.
func TestMakeOpaque(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("trusted.* extended attributes and chown need root, as the init has")
	}
	lower, upper := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(lower, "home/u/src"), 0o755))
	require.NoError(t, os.Chmod(filepath.Join(lower, "home/u"), 0o700))
	require.NoError(t, os.Chown(filepath.Join(lower, "home/u"), 1000, 1001))
	require.NoError(t, unix.Chmod(filepath.Join(lower, "home"), 0o1777))

	err := makeOpaque(lower, upper, "home/u/src")
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
		t.Skipf("this test directory's file system takes no trusted.* attributes: %v", err)
	}
	require.NoError(t, err)
	st := func(p string) *syscall.Stat_t {
		fi, err := os.Stat(filepath.Join(upper, p))
		require.NoError(t, err)
		return fi.Sys().(*syscall.Stat_t)
	}
	assert.Equal(t, uint32(0o1777), st("home").Mode&0o7777)
	assert.Equal(t, uint32(0o700), st("home/u").Mode&0o7777)
	assert.Equal(t, [2]uint32{1000, 1001}, [2]uint32{st("home/u").Uid, st("home/u").Gid})
	buf := make([]byte, 8)
	n, err := unix.Getxattr(filepath.Join(upper, "home/u/src"), "trusted.overlay.opaque", buf)
	require.NoError(t, err)
	assert.Equal(t, "y", string(buf[:n]))
	_, err = unix.Getxattr(filepath.Join(upper, "home/u"), "trusted.overlay.opaque", buf)
	assert.Error(t, err, "only the leaf is opaque")

	// A second hole below the same parent reuses what is there.
	require.NoError(t, os.MkdirAll(filepath.Join(lower, "home/u/other"), 0o750))
	require.NoError(t, makeOpaque(lower, upper, "home/u/other"))
	assert.Equal(t, uint32(0o750), st("home/u/other").Mode&0o7777)

	// A place the lower layer lacks (the guest's own /proc on a root
	// without one) is made 0755 root.
	require.NoError(t, makeOpaque(lower, upper, "proc"))
	assert.Equal(t, uint32(0o755), st("proc").Mode&0o7777)
}
