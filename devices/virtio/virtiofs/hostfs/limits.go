package hostfs

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Every node the guest's kernel keeps cached holds one host descriptor
// (an O_PATH descriptor, as in virtiofsd), so a guest that walked a tree
// of ten thousand files holds ten thousand of them. raiseNoFile lifts
// gonest's RLIMIT_NOFILE as far as it may, once: the soft limit to the
// hard one (Go's runtime does that much at start), and, with
// CAP_SYS_RESOURCE (as root), both to fs.nr_open, the kernel's ceiling.
// An init process's hard limit is 4096 (INR_OPEN_MAX in
// include/uapi/linux/fs.h), which a gonest started from an initramfs
// inherits.

var raiseOnce sync.Once

// raiseNoFile returns the limit in force afterwards.
func raiseNoFile() uint64 {
	raiseOnce.Do(func() {
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
			return
		}
		want := lim
		want.Cur = lim.Max
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > want.Max {
				want.Cur, want.Max = n, n
			}
		}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &want) != nil && want.Max != lim.Max {
			want.Max = lim.Max // without CAP_SYS_RESOURCE: up to the hard limit
			want.Cur = lim.Max
			unix.Setrlimit(unix.RLIMIT_NOFILE, &want)
		}
	})
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return lim.Cur
}
