package blk

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/disk"
)

// loopDevice attaches image to a free loop device and returns its path,
// detached at cleanup. It skips, saying why, where loop devices cannot be
// made (not root, no /dev/loop-control, a container that forbids it).
func loopDevice(t *testing.T, image string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("block-device test skipped: attaching a loop device needs root")
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("block-device test skipped: %v", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		t.Skipf("block-device test skipped: LOOP_CTL_GET_FREE: %v", err)
	}
	path := fmt.Sprintf("/dev/loop%d", n)
	loop, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("block-device test skipped: %v", err)
	}
	defer loop.Close()
	backing, err := os.OpenFile(image, os.O_RDWR, 0)
	require.NoError(t, err)
	defer backing.Close()
	cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
	if err := unix.IoctlLoopConfigure(int(loop.Fd()), &cfg); err != nil {
		t.Skipf("block-device test skipped: LOOP_CONFIGURE %s: %v", path, err)
	}
	t.Cleanup(func() {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Errorf("detach %s: %v", path, err)
			return
		}
		defer f.Close()
		if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
			t.Errorf("LOOP_CLR_FD %s: %v", path, err)
		}
	})
	return path
}

// TestBlockDevice: H in the lab hands gonest its /dev/vdX. A block device
// has no size in stat(2); Open must take it from the device (seek to the
// end), lock it, and the request path must read and write it.
func TestBlockDevice(t *testing.T) {
	image := newImage(t, diskBytes)
	dev := loopDevice(t, image)

	h := newHarness(t, disk.Spec{Path: dev})
	assert.Equal(t, uint64(diskBytes/SectorSize), h.dev.Capacity(), "capacity from the device, not stat")
	assert.NotZero(t, h.dev.Features()&FeatureWriteZeroes)

	r := h.do(TypeIn, 3, nil, SectorSize)
	require.Equal(t, byte(StatusOK), r.status)
	assert.Equal(t, sectorOf(4), r.in, "sector 3 holds byte 4")

	require.Equal(t, byte(StatusOK), h.do(TypeOut, 5, sectorOf(0xAB), 0).status)
	require.Equal(t, byte(StatusOK), h.do(TypeWriteZeroes, 0, segment(7, 1, 0), 0).status)
	require.Equal(t, byte(StatusOK), h.do(TypeFlush, 0, nil, 0).status)
	assert.Equal(t, byte(StatusIOErr), h.do(TypeIn, diskBytes/SectorSize, nil, SectorSize).status, "past the end")

	_, err := Open(disk.Spec{Path: dev, ReadOnly: true}, nil)
	require.Error(t, err, "flock works on a block device: a writer excludes others")
	assert.Contains(t, err.Error(), "in use by another process")

	require.NoError(t, h.dev.Close())
	// The writes went through the loop device to its backing file.
	got, err := os.ReadFile(image)
	require.NoError(t, err)
	assert.Equal(t, sectorOf(0xAB), got[5*SectorSize:6*SectorSize])
	assert.Equal(t, make([]byte, SectorSize), got[7*SectorSize:8*SectorSize])
	assert.Equal(t, sectorOf(7), got[6*SectorSize:7*SectorSize], "neighbours untouched")

	ro, err := Open(disk.Spec{Path: dev, ReadOnly: true}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(diskBytes/SectorSize), ro.Capacity())
	assert.NotZero(t, ro.Features()&FeatureRO)
	assert.NoError(t, ro.Close())
}
