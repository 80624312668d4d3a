package initkit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// The next level's images (kernel, initramfs and, for a level that boots
// two more, the next level's own images disk) travel on an ext4 disk
// labelled guestabi.NextLabel, not inside this level's initramfs: the
// pipeline builds h-next.ext4 for H and g1-next.ext4 (inside it) for G1.
// A level mounts that disk read-only at guestabi.NextDir, so the shell,
// the nested scenarios and a user typing gonest by hand all find
// guestabi.NextKernel and guestabi.NextInitrd at the same place.

// ext2/3/4 superblock fields (Documentation/filesystems/ext4/super.rst).
const (
	superblockOffset = 1024   // the superblock starts 1 KiB into the device
	sbMagicOffset    = 0x38   // s_magic, __le16
	sbMagic          = 0xEF53 // EXT2_SUPER_MAGIC, shared by ext2, ext3 and ext4
	sbLabelOffset    = 0x78   // s_volume_name[16], NUL-padded
	sbLabelSize      = 16
)

// pollEvery is how often the waits below look again.
const pollEvery = 50 * time.Millisecond

// Ext4Label reads the volume label of an ext2/3/4 file system; ok is false
// when r holds no such file system.
func Ext4Label(r io.ReaderAt) (label string, ok bool) {
	sb := make([]byte, sbLabelOffset+sbLabelSize)
	if _, err := r.ReadAt(sb, superblockOffset); err != nil {
		return "", false
	}
	if binary.LittleEndian.Uint16(sb[sbMagicOffset:]) != sbMagic {
		return "", false
	}
	name := sb[sbLabelOffset : sbLabelOffset+sbLabelSize]
	if i := strings.IndexByte(string(name), 0); i >= 0 {
		name = name[:i]
	}
	return string(name), true
}

// FindLabelledDisk returns the virtio-blk disk (/dev/vdX, listed from
// sysBlock, opened under devDir) whose ext4 label is label, or "".
func FindLabelledDisk(sysBlock, devDir, label string) string {
	names, err := filepath.Glob(filepath.Join(sysBlock, "vd*"))
	if err != nil {
		return ""
	}
	for _, n := range names {
		dev := filepath.Join(devDir, filepath.Base(n))
		f, err := os.Open(dev)
		if err != nil {
			continue
		}
		got, ok := Ext4Label(f)
		f.Close()
		if ok && got == label {
			return dev
		}
	}
	return ""
}

// ErrNoNextDisk is MountNextImages' error when no disk carries the label.
var ErrNoNextDisk = errors.New("no virtio-blk disk labelled")

// NextImagesWait is how long a scenario that needs the next level's images
// waits for their disk to appear (virtio_blk may still be probing).
const NextImagesWait = 10 * time.Second

// MountNextImages makes guestabi.NextKernel and NextInitrd available:
// they are there already (mounted before, or packed into this initramfs),
// or the disk labelled guestabi.NextLabel is mounted read-only at
// guestabi.NextDir. It waits up to wait for the disk to appear.
func MountNextImages(ctx context.Context, log *slog.Logger, wait time.Duration) error {
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		return nil
	}
	err := poll(ctx, wait, func() (bool, error) {
		dev := FindLabelledDisk("/sys/block", "/dev", guestabi.NextLabel)
		if dev == "" {
			return false, nil
		}
		if err := os.MkdirAll(guestabi.NextDir, 0o755); err != nil {
			return true, fmt.Errorf("next-level images: %w", err)
		}
		if err := unix.Mount(dev, guestabi.NextDir, "ext4", unix.MS_RDONLY, ""); err != nil {
			return true, fmt.Errorf("mount %s (label %s) on %s: %w", dev, guestabi.NextLabel, guestabi.NextDir, err)
		}
		log.Info("next-level images mounted", "device", dev, "dir", guestabi.NextDir)
		return true, nil
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("%w %q within %v: attach this level's next-images disk "+
			"(images/out/h-next.ext4 for H, g1-next.ext4 for G1)", ErrNoNextDisk, guestabi.NextLabel, wait)
	}
	return err
}

// errWaited is poll's error when the time ran out.
var errWaited = errors.New("waited")

// poll calls try until it is done, ctx ends, or wait passes (errWaited).
func poll(ctx context.Context, wait time.Duration, try func() (bool, error)) error {
	deadline := time.Now().Add(wait)
	for {
		if done, err := try(); done || err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return errWaited
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// WaitForFile polls for path until it exists, ctx ends or d passes.
func WaitForFile(ctx context.Context, path string, d time.Duration) error {
	var statErr error
	err := poll(ctx, d, func() (bool, error) {
		_, statErr = os.Stat(path)
		return statErr == nil, nil
	})
	if errors.Is(err, errWaited) {
		return fmt.Errorf("%s did not appear within %v: %w", path, d, statErr)
	}
	return err
}

// DiskBySerial waits up to wait for the virtio-blk disk whose serial
// (/sys/block/vdX/serial) is serial and returns its /dev path.
func DiskBySerial(ctx context.Context, serial string, wait time.Duration) (string, error) {
	var dev string
	err := poll(ctx, wait, func() (bool, error) {
		var ok bool
		dev, ok = FindDiskBySerial("/sys/block", serial)
		return ok, nil
	})
	if errors.Is(err, errWaited) {
		return "", fmt.Errorf("no virtio-blk disk with serial %q within %v (disks: %s)", serial, wait, ListDisks("/sys/block"))
	}
	return dev, err
}

// FindDiskBySerial looks through sysBlock (/sys/block) for a vd* disk with
// the serial.
func FindDiskBySerial(sysBlock, serial string) (string, bool) {
	return virtioDisks.find(sysBlock, serial)
}

// ListDisks says which vd* disks exist and their serials, for an error.
func ListDisks(sysBlock string) string { return virtioDisks.list(sysBlock) }

// diskBus is how one disk bus's block devices show their serials in sysfs.
type diskBus struct {
	glob    string                          // the bus's disks under /sys/block, e.g. "vd*"
	serial  func(dir string) (string, bool) // a disk's serial, from its /sys/block/<name> directory
	unknown string                          // what list prints for a disk whose serial cannot be read
}

// virtioDisks are virtio-blk disks: the serial is /sys/block/vdX/serial.
var virtioDisks = diskBus{glob: "vd*", serial: func(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "serial"))
	return strings.TrimRight(string(b), "\n\x00 "), err == nil
}}

// find returns the /dev path of the bus's disk with the serial.
func (bus diskBus) find(sysBlock, serial string) (string, bool) {
	names, err := filepath.Glob(filepath.Join(sysBlock, bus.glob))
	if err != nil {
		return "", false
	}
	for _, n := range names {
		if got, ok := bus.serial(n); ok && got == serial {
			return "/dev/" + filepath.Base(n), true
		}
	}
	return "", false
}

// list says which of the bus's disks exist and their serials, for an
// error: "vda serial=\"x\", vdb serial=\"y\"", or "none".
func (bus diskBus) list(sysBlock string) string {
	names, _ := filepath.Glob(filepath.Join(sysBlock, bus.glob))
	var out []string
	for _, n := range names {
		serial, ok := bus.serial(n)
		if !ok {
			serial = bus.unknown
		}
		out = append(out, fmt.Sprintf("%s serial=%q", filepath.Base(n), serial))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}
