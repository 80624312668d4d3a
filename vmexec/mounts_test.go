package vmexec

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw
24 22 0:22 / /sys rw shared:3 - sysfs sysfs rw
25 24 0:23 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw
26 22 0:5 / /dev rw shared:5 - devtmpfs udev rw
27 26 0:24 / /dev/pts rw shared:6 - devpts devpts rw
28 22 0:25 / /tmp rw shared:7 - tmpfs tmpfs rw
29 22 8:2 / /home rw shared:8 - ext4 /dev/sda2 rw
30 29 0:26 / /home/u/my\040disk rw shared:9 - fuse.sshfs host:/ rw
31 22 8:1 /srv /mnt/bind rw shared:10 - ext4 /dev/sda1 rw
32 22 0:27 / /etc/resolv.conf rw - tmpfs tmpfs rw
33 29 0:28 / /home/u/src/pkg/cache rw - tmpfs tmpfs rw
34 22 0:25 / /tmp rw shared:7 - tmpfs tmpfs rw
`

func TestMountPoints(t *testing.T) {
	got, err := MountPoints(strings.NewReader(mountinfo))
	require.NoError(t, err)
	assert.Equal(t, []string{"/", "/proc", "/sys", "/sys/fs/cgroup", "/dev", "/dev/pts", "/tmp", "/home",
		"/home/u/my disk", "/mnt/bind", "/etc/resolv.conf", "/home/u/src/pkg/cache", "/tmp"}, got)

	_, err = MountPoints(strings.NewReader("22 1 8:1 /\n"))
	assert.ErrorContains(t, err, "mountinfo line 1")
	_, err = MountPoints(strings.NewReader(`22 1 8:1 / /a\09x rw - ext4 x rw` + "\n"))
	assert.ErrorContains(t, err, "bad escape")
}

// fakeInfo is a directory or file on a device.
type fakeInfo struct {
	dir bool
	dev uint64
}

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Dev: f.dev} }
func (f fakeInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

func TestSubmounts(t *testing.T) {
	points, err := MountPoints(strings.NewReader(mountinfo))
	require.NoError(t, err)
	tree := map[string]fakeInfo{
		"/": {true, 1}, "/tmp": {true, 25}, "/home": {true, 2}, "/home/u": {true, 2},
		"/home/u/my disk": {true, 26}, "/mnt": {true, 1}, "/mnt/bind": {true, 1}, // a bind of the same file system
		"/etc": {true, 1}, "/etc/resolv.conf": {false, 27}, "/home/u/src/pkg/cache": {true, 28},
		"/home/u/src": {true, 2}, "/home/u/src/pkg": {true, 2},
	}
	stat := func(p string) (os.FileInfo, error) {
		if fi, ok := tree[p]; ok {
			return fi, nil
		}
		return nil, errors.New("no such file")
	}
	got := Submounts(points, []string{"/home/u/src/pkg"}, stat)
	assert.Equal(t, []string{"/home", "/home/u/my disk", "/tmp"}, got,
		"other file systems only: not /proc /sys /dev (the guest's own), not a bind of the same device, not a file, "+
			"not what lies under a writable share, once each")
	assert.Empty(t, Submounts([]string{"/", "/proc", "/dev/pts"}, nil, stat))
}

func TestUnder(t *testing.T) {
	assert.True(t, under("/dev/pts", guestOwned))
	assert.True(t, under("/proc", guestOwned))
	assert.False(t, under("/devices", guestOwned))
	assert.False(t, under("/system", guestOwned))
}
