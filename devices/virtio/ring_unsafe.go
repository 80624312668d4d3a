package virtio

import (
	"sync/atomic"
	"unsafe"
)

// Guest memory is shared with vCPUs that run the guest driver while a
// worker goroutine runs the device. The split ring protocol needs four
// things from the device side, and this file is where each is obtained,
// deliberately, for amd64 (gonest runs on x86 KVM only):
//
//  1. Index fields are read and written whole. The driver reads used.idx
//     as a u16; two byte stores would let it see a torn value. load16 and
//     store16 are single aligned 16-bit moves, which x86 performs
//     atomically; atomicLoad32/atomicStore32 are sync/atomic operations.
//  2. The device reads avail.idx before the ring entries and descriptors
//     that it publishes (load-load order). x86 (TSO) keeps loads in order;
//     avail.idx is read with atomic.LoadUint32 on the aligned word holding
//     it, so the compiler cannot move later loads above it either.
//  3. The device writes the used element before used.idx (store-store
//     order). TSO keeps stores in order; used.idx is published with
//     atomic.StoreUint32 of the flags+idx word (the device owns both), so
//     the compiler keeps the element stores before it.
//  4. A store must be visible before a following load of another field
//     (store-load order, the one reordering TSO allows): publishing
//     used.idx and then reading used_event, or writing avail_event and then
//     re-reading avail.idx before sleeping. atomic.StoreUint32 compiles to
//     XCHG and fence to LOCK XADD; both are full barriers.
//
// The addresses come from guestmem slices whose guest alignment NewQueue
// checked; it also checks the host alignment, which only a test's odd
// backing slice could break.

// hostAligned reports whether b starts at a host address that is a
// multiple of n.
func hostAligned(b []byte, n uintptr) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%n == 0
}

// atomicLoad32 loads the 4-byte aligned little-endian word at b.
func atomicLoad32(b []byte) uint32 {
	b = b[:4] // bounds check without a memory access (the race detector would see one)
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[0])))
}

// atomicStore32 stores the 4-byte aligned little-endian word at b; on amd64
// this is an XCHG, a full barrier.
func atomicStore32(b []byte, v uint32) {
	b = b[:4] // bounds check without a memory access (the race detector would see one)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[0])), v)
}

// load16 reads the 2-byte aligned little-endian uint16 at b in one move.
func load16(b []byte) uint16 {
	b = b[:2] // bounds check without a memory access
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// store16 writes the 2-byte aligned little-endian uint16 at b in one move.
func store16(b []byte, v uint16) {
	b = b[:2] // bounds check without a memory access
	*(*uint16)(unsafe.Pointer(&b[0])) = v
}

// fenceWord is the target of fence's locked add.
var fenceWord atomic.Uint32

// fence is a full memory barrier for the compiler and the CPU.
func fence() { fenceWord.Add(1) }
