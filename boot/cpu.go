package boot

import (
	"encoding/binary"
	"fmt"

	"github.com/gonest/gonest/guestmem"
)

// Control register and EFER bits the entry states use.
const (
	CR0PE   = 1 << 0  // CR0.PE: protected mode
	CR0ET   = 1 << 4  // CR0.ET: extension type, hardwired to 1 since the 486
	CR0PG   = 1 << 31 // CR0.PG: paging
	CR4PAE  = 1 << 5  // CR4.PAE: physical address extension, required by long mode
	EFERLME = 1 << 8  // EFER.LME: long mode enable
	EFERLMA = 1 << 10 // EFER.LMA: long mode active
	// RFLAGSReserved is RFLAGS bit 1, always 1. IF (bit 9) stays clear:
	// both entry protocols want interrupts off.
	RFLAGSReserved = 1 << 1
)

// Page table entry bits.
const (
	PTEPresent  = 1 << 0 // P: present
	PTEWritable = 1 << 1 // R/W: writable
	PTEPageSize = 1 << 7 // PS: in a page directory entry, maps a 2 MiB page
)

// Segment descriptor types (the 4-bit type field).
const (
	SegTypeDataRWA = 0x3  // data, read/write, accessed
	SegTypeCodeXRA = 0xB  // code, execute/read, accessed
	SegTypeTSSBusy = 0xB  // system: busy 32/64-bit TSS
	SegTypeLDT     = 0x2  // system: LDT
	tssLimit       = 0x67 // a TSS without I/O bitmap: 104 bytes
	flatLimit      = 0xFFFF_FFFF
)

// GDT selectors. The boot protocol asks for __BOOT_CS 0x10 and __BOOT_DS
// 0x18; entry 1 stays null, and the TSS takes two slots (a 64-bit system
// descriptor is 16 bytes).
const (
	SelectorCode = 0x10
	SelectorData = 0x18
	SelectorTSS  = 0x20
	gdtEntries   = 6
)

// Segment is a segment register as KVM's struct kvm_segment holds it: Limit
// is in bytes (0xFFFFFFFF for a flat segment, whatever G says).
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8 // 4-bit type field
	Present  bool  // P
	DPL      uint8 // descriptor privilege level
	DB       bool  // D/B: 32-bit default operand size
	S        bool  // S: code or data (false: system segment)
	L        bool  // L: 64-bit code
	G        bool  // G: limit counts 4 KiB units in the descriptor
	AVL      bool  // available to software
	Unusable bool  // an unusable (null) segment
}

// Descriptor encodes the segment as an 8-byte GDT entry.
func (s Segment) Descriptor() uint64 {
	limit := s.Limit
	if s.G {
		limit >>= 12
	}
	bit := func(b bool, n uint) uint64 {
		if b {
			return 1 << n
		}
		return 0
	}
	d := uint64(limit&0xFFFF) | (s.Base&0xFFFFFF)<<16 | uint64(s.Type&0xF)<<40 |
		bit(s.S, 44) | uint64(s.DPL&3)<<45 | bit(s.Present, 47) |
		uint64(limit>>16&0xF)<<48 | bit(s.AVL, 52) | bit(s.L, 53) | bit(s.DB, 54) | bit(s.G, 55) |
		(s.Base>>24&0xFF)<<56
	return d
}

// DescriptorTable is a GDTR or IDTR value.
type DescriptorTable struct {
	Base  uint64
	Limit uint16
}

// CPUState is the vCPU state a kernel is entered with. The board converts it
// to kvm.Regs and kvm.Sregs; general registers not listed are zero.
type CPUState struct {
	RIP, RSP, RBP, RSI, RBX, RFLAGS uint64
	CR0, CR3, CR4, EFER             uint64
	CS, DS, ES, FS, GS, SS, TR, LDT Segment
	GDT, IDT                        DescriptorTable
}

// Mode64 reports whether the state enters 64-bit long mode.
func (c *CPUState) Mode64() bool { return c.EFER&EFERLMA != 0 }

func flatCode(long bool) Segment {
	return Segment{Limit: flatLimit, Selector: SelectorCode, Type: SegTypeCodeXRA, Present: true,
		S: true, L: long, DB: !long, G: true}
}

func flatData() Segment {
	return Segment{Limit: flatLimit, Selector: SelectorData, Type: SegTypeDataRWA, Present: true,
		S: true, DB: true, G: true}
}

func bootTSS() Segment {
	return Segment{Limit: tssLimit, Selector: SelectorTSS, Type: SegTypeTSSBusy, Present: true}
}

// entryState returns the segment and control state for a 64-bit (long) or
// 32-bit flat protected mode (PVH) entry, without RIP and the argument
// register.
func entryState(long bool) CPUState {
	data := flatData()
	c := CPUState{
		RFLAGS: RFLAGSReserved,
		CS:     flatCode(long),
		DS:     data, ES: data, FS: data, GS: data, SS: data,
		TR:  bootTSS(),
		LDT: Segment{Type: SegTypeLDT, Unusable: true},
		GDT: DescriptorTable{Base: GDTAddr, Limit: gdtEntries*8 - 1},
		IDT: DescriptorTable{Base: IDTAddr, Limit: 0},
		CR0: CR0PE | CR0ET,
	}
	if long {
		c.CR0 |= CR0PG
		c.CR3 = PML4Addr
		c.CR4 = CR4PAE
		c.EFER = EFERLME | EFERLMA
		c.RSP, c.RBP = BootStackTop, BootStackTop
	}
	return c
}

// GDT returns the boot GDT's bytes for a state: null, null, CS, DS, TSS
// (16 bytes). The descriptors are encoded from the state's own segments, so
// what KVM is told and what the GDT says cannot disagree.
func GDT(c *CPUState) []byte {
	b := make([]byte, gdtEntries*8)
	le := binary.LittleEndian
	le.PutUint64(b[SelectorCode:], c.CS.Descriptor())
	le.PutUint64(b[SelectorData:], c.DS.Descriptor())
	le.PutUint64(b[SelectorTSS:], c.TR.Descriptor()) // upper half (base 63:32) stays 0
	return b
}

// writeGDT writes the GDT and the empty IDT.
func writeGDT(mem *guestmem.Memory, c *CPUState) error {
	if _, err := mem.WriteAt(GDT(c), GDTAddr); err != nil {
		return fmt.Errorf("write boot GDT: %w", err)
	}
	if _, err := mem.WriteAt(make([]byte, 8), IDTAddr); err != nil {
		return fmt.Errorf("write boot IDT: %w", err)
	}
	return nil
}

// PageTables returns the boot page tables, laid out from PML4Addr to
// PageTablesEnd: one PML4 entry, four PDPT entries and 4 x 512 2 MiB pages
// identity-mapping [0, 4 GiB), writable.
func PageTables() []byte {
	b := make([]byte, PageTablesEnd-PML4Addr)
	le := binary.LittleEndian
	le.PutUint64(b[0:], PDPTAddr|PTEPresent|PTEWritable)
	pdpt := b[PDPTAddr-PML4Addr:]
	for i := range BootPDCount {
		pd := uint64(PDAddr + i*PageSize)
		le.PutUint64(pdpt[i*8:], pd|PTEPresent|PTEWritable)
		for j := range 512 {
			page := uint64(i*512+j) << 21
			le.PutUint64(b[pd-PML4Addr+uint64(j*8):], page|PTEPresent|PTEWritable|PTEPageSize)
		}
	}
	return b
}

// setupLongMode writes the GDT, IDT and page tables and returns the 64-bit
// entry state at rip with RSI = zeroPage.
func setupLongMode(mem *guestmem.Memory, rip, zeroPage uint64) (CPUState, error) {
	c := entryState(true)
	c.RIP, c.RSI = rip, zeroPage
	if err := writeGDT(mem, &c); err != nil {
		return CPUState{}, err
	}
	if _, err := mem.WriteAt(PageTables(), PML4Addr); err != nil {
		return CPUState{}, fmt.Errorf("write boot page tables: %w", err)
	}
	return c, nil
}

// setupPVH writes the GDT and IDT and returns the PVH entry state: 32-bit
// flat protected mode, paging off, EBX = startInfo.
func setupPVH(mem *guestmem.Memory, rip, startInfo uint64) (CPUState, error) {
	c := entryState(false)
	c.RIP, c.RBX = rip, startInfo
	if err := writeGDT(mem, &c); err != nil {
		return CPUState{}, err
	}
	return c, nil
}
