package boot

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/gonest/gonest/guestmem"
)

// E820 memory types (struct boot_e820_entry.type, also PVH's memmap types).
const (
	E820RAM      = 1 // E820_TYPE_RAM: usable RAM
	E820Reserved = 2 // E820_TYPE_RESERVED: not to be used
	E820ACPI     = 3 // E820_TYPE_ACPI: ACPI tables, reclaimable after parsing
	E820NVS      = 4 // E820_TYPE_NVS: ACPI non-volatile storage
	E820Unusable = 5 // E820_TYPE_UNUSABLE: bad memory
)

// MaxE820Entries is the size of boot_params.e820_table (E820_MAX_ENTRIES_ZEROPAGE).
const MaxE820Entries = 128

// e820EntrySize is sizeof(struct boot_e820_entry): addr, size, type, packed.
const e820EntrySize = 20

// E820Entry is one entry of the memory map given to the kernel.
type E820Entry struct {
	Addr uint64
	Size uint64
	Type uint32
}

// End returns the first address after the entry.
func (e E820Entry) End() uint64 { return e.Addr + e.Size }

// E820 builds the memory map for guest RAM laid out as ram, the way a PC
// BIOS reports it and as QEMU and Firecracker do:
//   - RAM below the EBDA, [0, 0x9FC00), and from 1 MiB on;
//   - the EBDA [0x9FC00, 0xA0000) reserved;
//   - the VGA and option ROM hole [0xA0000, 0xE0000) absent;
//   - [0xE0000, 1 MiB) as ACPI when acpiTables, else reserved;
//   - the MMIO hole absent, except KVM's identity map and TSS pages, reserved.
func E820(ram []guestmem.Range, acpiTables bool) []E820Entry {
	biosType := uint32(E820Reserved)
	if acpiTables {
		biosType = E820ACPI
	}
	carve := []E820Entry{
		{Addr: EBDAAddr, Size: LegacyHoleStart - EBDAAddr, Type: E820Reserved},
		{Addr: LegacyHoleStart, Size: ACPIAddr - LegacyHoleStart}, // Type 0: dropped
		{Addr: ACPIAddr, Size: ACPIMaxSize, Type: biosType},
	}
	var out []E820Entry
	for _, r := range ram {
		if r.Size == 0 {
			continue
		}
		pieces := []E820Entry{{Addr: r.GPA, Size: r.Size, Type: E820RAM}}
		for _, c := range carve {
			var next []E820Entry
			for _, p := range pieces {
				lo, hi := max(p.Addr, c.Addr), min(p.End(), c.End())
				if lo >= hi {
					next = append(next, p)
					continue
				}
				if p.Addr < lo {
					next = append(next, E820Entry{Addr: p.Addr, Size: lo - p.Addr, Type: E820RAM})
				}
				if c.Type != 0 {
					out = append(out, E820Entry{Addr: lo, Size: hi - lo, Type: c.Type})
				}
				if hi < p.End() {
					next = append(next, E820Entry{Addr: hi, Size: p.End() - hi, Type: E820RAM})
				}
			}
			pieces = next
		}
		out = append(out, pieces...)
	}
	out = append(out, E820Entry{Addr: KVMIdentityMapAddr, Size: KVMTSSAddr + KVMTSSSize - KVMIdentityMapAddr, Type: E820Reserved})
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// ramRanges returns the regions of mem as ranges.
func ramRanges(mem *guestmem.Memory) []guestmem.Range {
	var rs []guestmem.Range
	for _, r := range mem.Regions() {
		rs = append(rs, guestmem.Range{GPA: r.GPA, Size: uint64(len(r.Data))})
	}
	return rs
}

// encodeE820 writes entries in struct boot_e820_entry layout, entrySize
// bytes apart (20 in boot_params, 24 in PVH's hvm_memmap_table_entry).
func encodeE820(b []byte, entries []E820Entry, entrySize int) error {
	if len(entries) > MaxE820Entries || len(entries)*entrySize > len(b) {
		return fmt.Errorf("memory map has %d entries, more than %d", len(entries), min(MaxE820Entries, len(b)/entrySize))
	}
	le := binary.LittleEndian
	for i, e := range entries {
		o := b[i*entrySize:]
		le.PutUint64(o[0:], e.Addr)
		le.PutUint64(o[8:], e.Size)
		le.PutUint32(o[16:], e.Type)
	}
	return nil
}
