// Package guestmem is the one way gonest touches guest RAM.
//
// Guest memory is a set of non-overlapping regions, each a host byte slice
// (an anonymous mmap in a real VM, a plain []byte in tests) placed at a guest
// physical address. Every access goes through Memory, which checks the whole
// range [addr, addr+n) against a single region before it hands out bytes, so
// a number the guest controls (a descriptor address, a length) can never make
// the VMM read or write outside guest RAM. A range that crosses a region's end,
// falls in a hole (the PCI hole below 4 GiB, say) or overflows uint64 is an
// error, never a panic.
//
// ReadAt and WriteAt follow the io.ReaderAt and io.WriterAt rules: a short
// transfer is always accompanied by an error.
package guestmem
