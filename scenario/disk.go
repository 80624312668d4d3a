package scenario

import (
	"context"
	"os"
	"path/filepath"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// Where the disk scenario looks and mounts.
const (
	diskDevice = "/dev/vda" // the first virtio-blk disk
	diskMount  = "/mnt/disk"
)

// runDisk mounts the first virtio-blk disk read-only as ext4 and checks
// the file the images pipeline put there (guestabi.DiskCheckFile).
func runDisk(ctx context.Context, env *Env) guestabi.Verdict {
	if err := initkit.WaitForFile(ctx, diskDevice, diskWaitTime); err != nil {
		env.Log.Error("no virtio-blk disk; attach disk.ext4 (lab Config.Disks)", "device", diskDevice, "err", err)
		return guestabi.SetupError
	}
	if err := os.MkdirAll(diskMount, 0o755); err != nil {
		env.Log.Error("create mount point", "err", err)
		return guestabi.SetupError
	}
	if err := unix.Mount(diskDevice, diskMount, "ext4", unix.MS_RDONLY, ""); err != nil {
		env.Log.Error("mount the disk as ext4 (are ext4 and its crc32c soft dependency loaded?)",
			"device", diskDevice, "err", err)
		return guestabi.Fail
	}
	defer func() {
		if err := unix.Unmount(diskMount, 0); err != nil {
			env.Log.Warn("unmount", "path", diskMount, "err", err)
		}
	}()
	got, err := os.ReadFile(filepath.Join(diskMount, guestabi.DiskCheckFile))
	if err != nil {
		env.Log.Error("read the check file", "err", err)
		return guestabi.Fail
	}
	if string(got) != guestabi.DiskCheckText {
		env.Log.Error("check file differs", "want", guestabi.DiskCheckText, "got", string(got))
		return guestabi.Fail
	}
	env.Log.Info("disk read through virtio-blk", "device", diskDevice, "file", guestabi.DiskCheckFile, "bytes", len(got))
	return guestabi.Pass
}
