package guestmem

import "unsafe"

// HostAddr returns the host virtual address of the region's first byte, for
// KVM_SET_USER_MEMORY_REGION and mincore. The region must stay mapped for as
// long as the address is in use.
func (r Region) HostAddr() uintptr {
	if len(r.Data) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&r.Data[0]))
}
