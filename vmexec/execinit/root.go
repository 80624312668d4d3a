package execinit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/vmexec/job"
)

// readAheadKB is the read-ahead the init gives each virtio-fs mount. Linux
// caps a FUSE mount's at 128 KiB whatever the device offers
// (fs/fuse/inode.c, process_init_reply), so a sequential read moves 128
// KiB a request; 1 MiB requests read a large file about four times
// faster in the lab (docs/sharing.md).
const readAheadKB = "1024"

// buildRoot mounts the command's root at newRootDir: the host's root
// read-only under a tmpfs overlay (one overlay per host file system), the
// writable shares over it, then the guest's own /proc, /sys and /dev moved
// in.
func buildRoot(log *slog.Logger, j job.Job) error {
	for _, d := range []string{hostDir, layersDir, newRootDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := mountRootShare(j.Root); err != nil {
		return err
	}
	if j.Root.Transport == job.TransportVirtioFS {
		setReadAhead(log, hostDir)
	}
	if err := unix.Mount("tmpfs", layersDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs for the overlays: %w", err)
	}
	for _, s := range planRoot(j) {
		if err := mountStep(log, s); err != nil {
			return err
		}
	}
	for _, d := range ownMounts {
		if err := unix.Mount(d, newRootDir+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s into the new root: %w", d, err)
		}
	}
	return nil
}

func mountRootShare(r job.Root) error {
	fstype, data := "virtiofs", ""
	if r.Transport == job.Transport9P {
		fstype, data = "9p", ninePOptions
	}
	if err := unix.Mount(r.Tag, hostDir, fstype, unix.MS_RDONLY, data); err != nil {
		return fmt.Errorf("mount the host's root (%s %s) on %s: %w", fstype, r.Tag, hostDir, err)
	}
	return nil
}

func mountStep(log *slog.Logger, s step) error {
	switch s.kind {
	case stepShare:
		if err := os.MkdirAll(s.target, 0o755); err != nil {
			return fmt.Errorf("share %s: %w", s.path, err)
		}
		fstype, data := "virtiofs", ""
		if s.ninep {
			fstype, data = "9p", ninePOptions
		}
		if err := unix.Mount(s.tag, s.target, fstype, unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
			return fmt.Errorf("mount writable share %s (%s %s): %w", s.path, fstype, s.tag, err)
		}
		if !s.ninep {
			setReadAhead(log, s.target)
		}
		log.Info("writable share mounted", "path", s.path, "tag", s.tag)
		return nil
	case stepOverlay:
		if err := automount(s.lower); err != nil {
			return fmt.Errorf("overlay %s: %w", s.path, err)
		}
		for _, d := range []string{s.upper, s.work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		for _, rel := range s.opaque {
			if err := makeOpaque(s.lower, s.upper, rel); err != nil {
				return fmt.Errorf("overlay %s: %w", s.path, err)
			}
		}
		// The root of an upper layer takes its attributes from the lower:
		// the overlay's root directory shows the upper's.
		if err := copyAttrs(s.lower, s.upper); err != nil {
			return fmt.Errorf("overlay %s: %w", s.path, err)
		}
		if err := unix.Mount("overlay", s.target, "overlay", 0, s.options()); err != nil {
			return fmt.Errorf("mount overlay on %s (%s): %w", s.path, s.options(), err)
		}
		log.Info("overlay mounted", "path", s.path, "opaque", strings.Join(s.opaque, ","))
		return nil
	}
	return fmt.Errorf("unknown mount step %d", s.kind)
}

// automount makes the guest's kernel mount the virtio-fs submount at dir
// now, by opening it: overlayfs resolves its lowerdir without
// LOOKUP_AUTOMOUNT, so it would get the automount point itself and refuse
// it as "not supported" (fs/namei.c, follow_automount; fs/overlayfs,
// ovl_mount_dir_noesc and ovl_dentry_weird). Once mounted, every lookup
// crosses into it.
func automount(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	return unix.Close(fd)
}

// makeOpaque creates rel in an overlay's upper layer, each directory on
// the way with its lower twin's owner and mode (an upper directory hides
// the lower's attributes), and marks rel opaque: overlayfs then never
// looks up rel in the lower layer, where it is another file system's
// mount point (Documentation/filesystems/overlayfs.rst, "whiteouts and
// opaque directories").
func makeOpaque(lower, upper, rel string) error {
	cur := ""
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		up := filepath.Join(upper, cur)
		if _, err := os.Lstat(up); err == nil {
			continue
		}
		if err := os.Mkdir(up, 0o755); err != nil {
			return err
		}
		if err := copyAttrs(filepath.Join(lower, cur), up); err != nil {
			return err
		}
	}
	if err := unix.Setxattr(filepath.Join(upper, rel), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %s opaque: %w", rel, err)
	}
	return nil
}

// copyAttrs gives dst the mode and owner of src when src is a directory;
// a missing src leaves dst as it is (0755 root).
func copyAttrs(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil || !st.IsDir() {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := os.Lchown(dst, int(sys.Uid), int(sys.Gid)); err != nil {
		return err
	}
	return unix.Chmod(dst, sys.Mode&0o7777)
}

// setReadAhead raises the read-ahead of the virtio-fs mount at dir (its
// backing device's, /sys/class/bdi/MAJOR:MINOR, shared with its
// submounts).
func setReadAhead(log *slog.Logger, dir string) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if err := os.WriteFile(p, []byte(readAheadKB), 0); err != nil {
		log.Info("read-ahead not raised", "dir", dir, "err", err)
	}
}

// switchRoot makes newRootDir the root, as switch_root does: the
// initramfs cannot be pivoted away (pivot_root refuses rootfs), so the new
// root is moved over it and chrooted into.
func switchRoot() error {
	if err := unix.Chdir(newRootDir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the new root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// extraMounts are mounted in the new root: a pty file system, POSIX shared
// memory, cgroups and the kernel's debugging file systems (a test of
// kernel code reads tracefs). The last four are optional: a kernel may
// lack them.
var extraMounts = []struct {
	source, target, fstype, data string
	flags                        uintptr
	optional                     bool
}{
	{"devpts", "/dev/pts", "devpts", "mode=0620,ptmxmode=0666", unix.MS_NOSUID | unix.MS_NOEXEC, false},
	{"tmpfs", "/dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV, false},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
	{"bpf", "/sys/fs/bpf", "bpf", "mode=0700", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
	{"debugfs", "/sys/kernel/debug", "debugfs", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
	{"tracefs", "/sys/kernel/tracing", "tracefs", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
}

// devLinks are the /dev links a shell and programs expect (udev makes
// them on a host; devtmpfs does not).
var devLinks = map[string]string{
	"/dev/fd":     "/proc/self/fd",
	"/dev/stdin":  "/proc/self/fd/0",
	"/dev/stdout": "/proc/self/fd/1",
	"/dev/stderr": "/proc/self/fd/2",
}

// finishDev mounts extraMounts and makes devLinks, in the new root.
func finishDev(log *slog.Logger) error {
	for _, m := range extraMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil && !m.optional {
			return err
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		switch {
		case err == nil, errors.Is(err, unix.EBUSY):
		case m.optional:
			log.Info("optional mount skipped", "fs", m.fstype, "err", err)
		default:
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	for link, target := range devLinks {
		if err := os.Symlink(target, link); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}
