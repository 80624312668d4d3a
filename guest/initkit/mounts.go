package initkit

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mount is one filesystem gonest-init mounts at boot.
type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

// bootMounts are what the scenarios and the shell expect. devtmpfs gives
// /dev/kvm (once kvm loads) and /dev/vda (once virtio_blk does).
var bootMounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

// MountAll mounts /proc, /sys, /dev (devtmpfs) and /tmp; one already mounted (EBUSY) is fine.
func MountAll() error {
	var errs []error
	for _, m := range bootMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	return errors.Join(errs...)
}
