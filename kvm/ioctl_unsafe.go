package kvm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl issues an ioctl with an integer (or no) argument and returns the
// kernel's non-negative result.
func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// ioctlPtr issues an ioctl whose argument is a pointer to *arg, a mirrored
// kernel struct. The pointer is live for the duration of the syscall.
func ioctlPtr[T any](fd int, req uintptr, arg *T) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(arg)))
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// ioctlBuf issues an ioctl whose argument is a variable-length struct
// encoded in buf (a header followed by an array).
func ioctlBuf(fd int, req uintptr, buf []byte) (uintptr, error) {
	if len(buf) == 0 {
		return 0, unix.EINVAL
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return r, errno
	}
	return r, nil
}
