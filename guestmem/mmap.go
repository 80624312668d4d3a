package guestmem

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Range places size bytes of RAM at guest physical address GPA.
type Range struct {
	GPA  uint64
	Size uint64
}

// Map allocates anonymous, private, lazily populated host memory for each
// range and returns it as Memory. Close releases it.
func Map(ranges ...Range) (*Memory, error) {
	var regions []Region
	unmapAll := func() error {
		var first error
		for _, r := range regions {
			if err := unix.Munmap(r.Data); err != nil && first == nil {
				first = fmt.Errorf("munmap guest memory at %#x: %w", r.GPA, err)
			}
		}
		return first
	}
	for _, rg := range ranges {
		if rg.Size == 0 || rg.Size > 1<<46 {
			_ = unmapAll()
			return nil, fmt.Errorf("guest memory range at %#x: size %#x out of bounds", rg.GPA, rg.Size)
		}
		b, err := unix.Mmap(-1, 0, int(rg.Size), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			_ = unmapAll()
			return nil, fmt.Errorf("mmap %d MiB of guest memory: %w", rg.Size>>20, err)
		}
		regions = append(regions, Region{GPA: rg.GPA, Data: b})
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
