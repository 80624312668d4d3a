package main

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
	"github.com/gonest/gonest/images/kmod"
	"golang.org/x/sys/unix"
)

// The next level's images (kernel, initramfs and, for a level that boots
// two more, the next level's own images disk) travel on an ext4 disk
// labelled guestabi.NextLabel, not inside this level's initramfs: the
// pipeline builds h-next.ext4 for H and g1-next.ext4 (inside it) for G1.
// gonest-init mounts that disk read-only at guestabi.NextDir, so the
// shell, the nested scenarios and a user typing gonest by hand all find
// guestabi.NextKernel and guestabi.NextInitrd at the same place.

// ext2/3/4 superblock fields (Documentation/filesystems/ext4/super.rst).
const (
	superblockOffset = 1024   // the superblock starts 1 KiB into the device
	sbMagicOffset    = 0x38   // s_magic, __le16
	sbMagic          = 0xEF53 // EXT2_SUPER_MAGIC, shared by ext2, ext3 and ext4
	sbLabelOffset    = 0x78   // s_volume_name[16], NUL-padded
	sbLabelSize      = 16
)

// nextImagesWait is how long a scenario that needs the next level's images
// waits for their disk to appear (virtio_blk may still be probing).
const nextImagesWait = 10 * time.Second

// ext4Label reads the volume label of an ext2/3/4 file system; ok is false
// when r holds no such file system.
func ext4Label(r io.ReaderAt) (label string, ok bool) {
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

// findLabelledDisk returns the virtio-blk disk (/dev/vdX, listed from
// sysBlock, opened under devDir) whose ext4 label is label, or "".
func findLabelledDisk(sysBlock, devDir, label string) string {
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
		got, ok := ext4Label(f)
		f.Close()
		if ok && got == label {
			return dev
		}
	}
	return ""
}

// mountNextImages makes guestabi.NextKernel and NextInitrd available:
// they are there already (mounted before, or packed into this initramfs),
// or the disk labelled guestabi.NextLabel is mounted read-only at
// guestabi.NextDir. It waits up to wait for the disk to appear.
// errNoNextDisk is mountNextImages' error when no disk carries the label.
var errNoNextDisk = errors.New("no virtio-blk disk labelled")

func mountNextImages(ctx context.Context, log *slog.Logger, wait time.Duration) error {
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		if dev := findLabelledDisk("/sys/block", "/dev", guestabi.NextLabel); dev != "" {
			if err := os.MkdirAll(guestabi.NextDir, 0o755); err != nil {
				return fmt.Errorf("next-level images: %w", err)
			}
			if err := unix.Mount(dev, guestabi.NextDir, "ext4", unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("mount %s (label %s) on %s: %w", dev, guestabi.NextLabel, guestabi.NextDir, err)
			}
			log.Info("next-level images mounted", "device", dev, "dir", guestabi.NextDir)
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w %q within %v: attach this level's next-images disk "+
				"(images/out/h-next.ext4 for H, g1-next.ext4 for G1)", errNoNextDisk, guestabi.NextLabel, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpuInfo returns the CPU vendor ("AuthenticAMD") and flags of the first
// processor in /proc/cpuinfo; empty when it cannot be read.
func cpuInfo() (string, map[string]bool) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", map[string]bool{}
	}
	return cpuVendor(string(data)), cpuFlags(strings.NewReader(string(data)))
}

// cpuVendor returns the first "vendor_id" of a /proc/cpuinfo text.
func cpuVendor(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "vendor_id" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// loadModuleByName loads one module of this image and its dependencies,
// outside the boot-time set (the KVM module on a CPU that hides svm/vmx).
func loadModuleByName(log *slog.Logger, name string) error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	ix, err := kmod.LoadDir(dir)
	if err != nil {
		return err
	}
	if _, ok := ix.Lookup(name); !ok {
		return fmt.Errorf("module %s is not in this image", name)
	}
	mods, err := ix.Closure([]string{name})
	if err != nil {
		return err
	}
	for _, m := range mods {
		if err := loadModule(log, dir, m); err != nil && !m.Optional {
			return err
		}
	}
	return nil
}
