package guestmem

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// HostAddr returns the host virtual address of the region's first byte, for
// KVM_SET_USER_MEMORY_REGION and mincore. The region must stay mapped for as
// long as the address is in use.
func (r Region) HostAddr() uintptr {
	if len(r.Data) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&r.Data[0]))
}

// mincore fills vec with one byte per page of b; bit 0 says the page is
// resident. golang.org/x/sys/unix has no wrapper for it.
func mincore(b, vec []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
