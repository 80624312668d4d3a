package scenario

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blkZeroOut asks the block layer to zero n bytes at off
// (ioctl BLKZEROOUT, whose argument is a uint64[2] {start, length}).
func blkZeroOut(fd int, off, n uint64) error {
	rng := [2]uint64{off, n}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&rng)))
	if errno != 0 {
		return fmt.Errorf("BLKZEROOUT %d+%d: %w", off, n, errno)
	}
	return nil
}
