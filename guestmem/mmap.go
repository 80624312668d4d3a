package guestmem

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Range places size bytes of RAM at guest physical address GPA.
type Range struct {
	GPA  uint64
	Size uint64
}

// HugePageSize is the 2 MiB page x86 KVM can map guest RAM with.
const HugePageSize = 2 << 20

// Map allocates anonymous, private, lazily populated host memory for each
// range and returns it as Memory. Close releases it.
//
// A range of 2 MiB or more is placed so that its host address and its
// guest address agree modulo HugePageSize, and advised MADV_HUGEPAGE (as
// QEMU does): KVM maps a memory slot with 2 MiB pages only when they agree,
// and transparent huge pages back only aligned 2 MiB host ranges. Without
// it every 4 KiB page of the guest is a separate fault and mapping, which a
// nested guest pays for with a world switch through each level.
func Map(ranges ...Range) (*Memory, error) {
	var regions []Region
	var mappings [][]byte // what Mmap returned: each region lies inside one
	unmapAll := func() error {
		var first error
		for i, b := range mappings {
			if err := unix.Munmap(b); err != nil && first == nil {
				first = fmt.Errorf("munmap guest memory at %#x: %w", regions[i].GPA, err)
			}
		}
		return first
	}
	for _, rg := range ranges {
		if rg.Size == 0 || rg.Size > 1<<46 {
			_ = unmapAll()
			return nil, fmt.Errorf("guest memory range at %#x: size %#x out of bounds", rg.GPA, rg.Size)
		}
		huge := rg.Size >= HugePageSize
		length := rg.Size
		if huge {
			length += HugePageSize // room to slide the region to the right offset
		}
		b, err := unix.Mmap(-1, 0, int(length), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			_ = unmapAll()
			return nil, fmt.Errorf("mmap %d MiB of guest memory: %w", rg.Size>>20, err)
		}
		off := uint64(0)
		if huge {
			off = hugeOffset(Region{Data: b}.HostAddr(), rg.GPA)
		}
		data := b[off : off+rg.Size : off+rg.Size]
		mappings = append(mappings, b)
		regions = append(regions, Region{GPA: rg.GPA, Data: data})
		if !huge {
			continue
		}
		// Only advice: a kernel without THP answers EINVAL and still works.
		if err := unix.Madvise(data, unix.MADV_HUGEPAGE); err != nil && !errors.Is(err, unix.EINVAL) {
			_ = unmapAll()
			return nil, fmt.Errorf("madvise MADV_HUGEPAGE on guest memory at %#x: %w", rg.GPA, err)
		}
	}
	m, err := New(regions...)
	if err != nil {
		_ = unmapAll()
		return nil, err
	}
	m.unmap = unmapAll
	return m, nil
}

// Resident returns how many bytes of guest RAM are resident in host memory
// (mincore(2) on every region): the part of the process's RSS that is the
// guest's rather than the VMM's.
func (m *Memory) Resident() (uint64, error) {
	page := uint64(unix.Getpagesize())
	var total uint64
	for _, r := range m.regions {
		vec := make([]byte, (uint64(len(r.Data))+page-1)/page)
		if err := mincore(r.Data, vec); err != nil {
			return 0, fmt.Errorf("mincore guest memory at %#x: %w", r.GPA, err)
		}
		for _, v := range vec {
			if v&1 != 0 {
				total += page
			}
		}
	}
	return total, nil
}

// hugeOffset is how far past host address addr a region for guest address
// gpa must start so that both agree modulo HugePageSize.
func hugeOffset(addr uintptr, gpa uint64) uint64 {
	return (gpa%HugePageSize - uint64(addr)%HugePageSize + HugePageSize) % HugePageSize
}
