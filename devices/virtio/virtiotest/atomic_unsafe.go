package virtiotest

import (
	"sync/atomic"
	"unsafe"
)

// The ring indexes are shared with the device goroutine; accessing them
// with sync/atomic, as the device does, also tells the race detector how
// the two sides synchronize.

func load32(b []byte) uint32 {
	b = b[:4] // bounds check without a memory access (the race detector would see one)
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[0])))
}

func store32(b []byte, v uint32) {
	b = b[:4] // bounds check without a memory access (the race detector would see one)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[0])), v)
}
