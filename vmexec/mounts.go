package vmexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// guestOwned are the directories the guest mounts for itself (its own
// proc, sysfs and devtmpfs): host mount points at or under them are not
// shared.
var guestOwned = []string{"/proc", "/sys", "/dev"}

// MountPoints reads the mount points of a /proc/self/mountinfo, in order,
// with the octal escapes (\040 for a space) decoded.
func MountPoints(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			return nil, fmt.Errorf("mountinfo line %d: want at least 5 fields, got %d", line, len(f))
		}
		p, err := unescapeMountinfo(f[4])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMountinfo decodes the \ooo escapes the kernel writes for space,
// tab, newline and backslash (fs/proc_namespace.c, mangle via seq_path).
func unescapeMountinfo(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape in %q", s)
			}
			b.WriteByte(byte(n))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// Submounts picks, from the host's mount points, the directories that the
// guest sees as file systems of their own under the root share: those
// whose device differs from their parent directory's (hostfs flags them
// FUSE_ATTR_SUBMOUNT, and the guest's overlayfs refuses to cross into an
// automount point, fs/overlayfs/namei.c ovl_lookup_single: EREMOTE). The
// guest's own /proc, /sys and /dev, and everything at or below a
// writable share (served directly, not through an overlay), are left
// out. stat is os.Stat, or a fake in tests. The result is sorted and
// without duplicates, parents before children.
func Submounts(points []string, writable []string, stat func(string) (os.FileInfo, error)) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range points {
		p = path.Clean(p)
		if p == "/" || seen[p] || !path.IsAbs(p) || under(p, guestOwned) || under(p, writable) {
			continue
		}
		seen[p] = true
		st, err := stat(p)
		if err != nil || !st.IsDir() {
			continue // unreachable, or a file bind-mounted over a file: crossed like any file
		}
		parent, err := stat(path.Dir(p))
		if err != nil {
			continue
		}
		if devOf(st) != devOf(parent) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// under reports whether p is one of dirs or below one of them.
func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// devOf is a file's device number, or ^0 when the FileInfo carries none.
func devOf(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return ^uint64(0)
}

// hostSubmounts reads this process's mount table and returns Submounts of
// it.
func hostSubmounts(writable []string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("host mounts: %w", err)
	}
	defer f.Close()
	points, err := MountPoints(f)
	if err != nil {
		return nil, err
	}
	return Submounts(points, writable, os.Stat), nil
}

// realDir resolves dir to an absolute path without symlinks, and checks
// that it is a directory.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", errors.New("is not a directory")
	}
	return real, nil
}
