package portio

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A rep outsb is one instruction but many exits, one per byte, and the
// VMM assembles a port's bytes into lines in the order they arrive. Two
// processes of one guest writing lines to the same port (three nested
// gonests forwarding their guests' messages, and this level's init its
// own) could interleave inside a line if one were preempted midway, or
// ran on another vCPU, and the VMM would drop both garbled lines. So
// every Writer of every process holds an flock(2) on a file of its own
// per port while it writes a string: flock excludes other open file
// descriptions, in this process and others (Documentation/filesystems/
// locks.rst). A single byte (outb) needs no lock.

// LockDir holds the lock files, one per port.
var LockDir = "/run"

// lockFile is the lock file of port under dir.
func lockFile(dir string, port uint16) string {
	return filepath.Join(dir, fmt.Sprintf("gonest-port-%#x.lock", port))
}

// portLock serializes string writes to one port across processes.
type portLock struct{ f *os.File }

// openLock opens port's lock file under dir; nil, with the reason, when
// it cannot (a read-only /run): the writes then go unlocked.
func openLock(dir string, port uint16) (*portLock, error) {
	f, err := os.OpenFile(lockFile(dir, port), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("port 0x%x lock: %w", port, err)
	}
	return &portLock{f: f}, nil
}

// hold takes the lock, runs fn and releases it; without a lock it only
// runs fn.
func (l *portLock) hold(fn func()) {
	if l == nil {
		fn()
		return
	}
	for {
		err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	defer unix.Flock(int(l.f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing the file would release it too
	fn()
}

func (l *portLock) close() {
	if l != nil {
		l.f.Close()
	}
}
