package vcpu

import (
	"encoding/binary"

	"github.com/gonest/gonest/kvm"
)

// CR0 bits.
const (
	CR0PE = 1 << 0  // protection enable
	CR0MP = 1 << 1  // monitor coprocessor
	CR0EM = 1 << 2  // x87 emulation
	CR0TS = 1 << 3  // task switched
	CR0ET = 1 << 4  // extension type (always 1)
	CR0NE = 1 << 5  // native x87 error reporting
	CR0WP = 1 << 16 // supervisor write protect
	CR0AM = 1 << 18 // alignment mask
	CR0NW = 1 << 29 // not write-through
	CR0CD = 1 << 30 // cache disable
	CR0PG = 1 << 31 // paging
)

// CR4 bits.
const (
	CR4PSE        = 1 << 4  // 4 MiB pages in 32-bit paging
	CR4PAE        = 1 << 5  // physical address extension (required for long mode)
	CR4PGE        = 1 << 7  // global pages
	CR4OSFXSR     = 1 << 9  // FXSAVE/FXRSTOR and SSE enabled
	CR4OSXMMEXCPT = 1 << 10 // unmasked SSE exceptions
)

// EFER (MSR 0xc0000080) bits.
const (
	EFERSCE  = 1 << 0  // SYSCALL/SYSRET enable
	EFERLME  = 1 << 8  // long mode enable
	EFERLMA  = 1 << 10 // long mode active
	EFERNXE  = 1 << 11 // no-execute enable
	EFERSVME = 1 << 12 // SVM enable (AMD)
)

// RFLAGS bits.
const (
	RFLAGSCF        = 1 << 0  // carry
	RFLAGSFixed     = 1 << 1  // reserved, always 1
	RFLAGSPF        = 1 << 2  // parity
	RFLAGSAF        = 1 << 4  // adjust
	RFLAGSZF        = 1 << 6  // zero
	RFLAGSSF        = 1 << 7  // sign
	RFLAGSTF        = 1 << 8  // trap (single step)
	RFLAGSIF        = 1 << 9  // interrupt enable
	RFLAGSDF        = 1 << 10 // direction
	RFLAGSOF        = 1 << 11 // overflow
	RFLAGSIOPLShift = 12      // I/O privilege level, bits 12-13
	RFLAGSIOPLMask  = 3 << RFLAGSIOPLShift
	RFLAGSVM        = 1 << 17 // virtual-8086 mode
)

// Segment descriptor type field values for code and data segments (S=1).
const (
	SegTypeDataRW     = 0x3 // data, read/write, accessed
	SegTypeCodeExecRd = 0xb // code, execute/read, accessed
)

// realModeSegLimit is the 64 KiB limit of every real-mode segment.
const realModeSegLimit = 0xffff

// Selectors of the GDT built by FlatGDT. User selectors carry RPL 3.
const (
	SelectorNull     = 0x00
	SelectorCode64   = 0x08 // 64-bit kernel code
	SelectorData     = 0x10 // kernel data (flat, 4 GiB)
	SelectorCode32   = 0x18 // 32-bit kernel code (flat, 4 GiB)
	SelectorUserData = 0x20 | 3
	SelectorUserCode = 0x28 | 3 // 64-bit user code
	FlatGDTLimit     = 6*8 - 1  // GDTR limit for FlatGDT
)

// Descriptor bits (in the 64-bit descriptor value).
const (
	descAccessed = 1 << 40          // A
	descRW       = 1 << 41          // readable code / writable data
	descCode     = 1 << 43          // executable
	descS        = 1 << 44          // code/data (not system)
	descDPL3     = 3 << 45          // descriptor privilege level 3
	descPresent  = 1 << 47          // P
	descL        = 1 << 53          // 64-bit code
	descDB       = 1 << 54          // 32-bit default size
	descG        = 1 << 55          // limit in 4 KiB units
	descFlatLim  = 0xffff | 0xf<<48 // limit 0xfffff (with G: 4 GiB)
)

// FlatGDT returns the 8-byte descriptors of a small flat GDT, in selector
// order: null, 64-bit code, data, 32-bit code, user data, user 64-bit code.
// Write it to guest memory with EncodeGDT and point sregs at it with the
// mode helpers.
func FlatGDT() []uint64 {
	code := uint64(descPresent | descS | descCode | descRW | descAccessed | descFlatLim | descG)
	data := uint64(descPresent | descS | descRW | descAccessed | descFlatLim | descG | descDB)
	return []uint64{
		0,                       // SelectorNull
		code | descL,            // SelectorCode64
		data,                    // SelectorData
		code | descDB,           // SelectorCode32
		data | descDPL3,         // SelectorUserData
		code | descL | descDPL3, // SelectorUserCode
	}
}

// EncodeGDT lays descriptors out as they sit in memory.
func EncodeGDT(descs []uint64) []byte {
	b := make([]byte, 8*len(descs))
	for i, d := range descs {
		binary.LittleEndian.PutUint64(b[8*i:], d)
	}
	return b
}

// SegmentFromDescriptor builds the hidden part of a segment register (what
// the CPU caches when it loads selector) from an 8-byte code/data
// descriptor, so sregs match the GDT in memory.
func SegmentFromDescriptor(selector uint16, d uint64) kvm.Segment {
	limit := uint32(d&0xffff | (d>>48&0xf)<<16)
	g := uint8(d >> 55 & 1)
	if g == 1 {
		limit = limit<<12 | 0xfff
	}
	return kvm.Segment{
		Base:     d>>16&0xffffff | (d>>56&0xff)<<24,
		Limit:    limit,
		Selector: selector,
		Type:     uint8(d >> 40 & 0xf),
		S:        uint8(d >> 44 & 1),
		DPL:      uint8(d >> 45 & 3),
		Present:  uint8(d >> 47 & 1),
		AVL:      uint8(d >> 52 & 1),
		L:        uint8(d >> 53 & 1),
		DB:       uint8(d >> 54 & 1),
		G:        g,
	}
}

func flatSegment(selector uint16) kvm.Segment {
	return SegmentFromDescriptor(selector, FlatGDT()[selector>>3])
}

// SetRealMode puts sregs in 16-bit real mode with every segment at base 0
// (CS:IP = 0:RIP), paging and protection off. TR and LDT keep their reset
// values, which VMX and SVM accept.
func SetRealMode(s *kvm.Sregs) {
	seg := kvm.Segment{Limit: realModeSegLimit, Type: SegTypeDataRW, S: 1, Present: 1}
	s.DS, s.ES, s.FS, s.GS, s.SS = seg, seg, seg, seg, seg
	seg.Type = SegTypeCodeExecRd
	s.CS = seg
	s.CR0 &^= CR0PE | CR0PG
	s.CR4 &^= CR4PAE
	s.EFER &^= EFERLME | EFERLMA
}

// SetProtectedMode32 puts sregs in flat 32-bit protected mode, paging off,
// with CS=SelectorCode32 and the data segments at SelectorData of a FlatGDT
// at guest physical address gdt.
func SetProtectedMode32(s *kvm.Sregs, gdt uint64) {
	s.GDT = kvm.DTable{Base: gdt, Limit: FlatGDTLimit}
	s.CS = flatSegment(SelectorCode32)
	data := flatSegment(SelectorData)
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.CR0 = s.CR0&^CR0PG | CR0PE | CR0ET
	s.CR4 &^= CR4PAE
	s.EFER &^= EFERLME | EFERLMA
}

// SetLongMode puts sregs in 64-bit long mode at CPL 0 with paging rooted at
// cr3 (a PML4 the caller built, identity-mapping at least the code) and a
// FlatGDT at guest physical address gdt.
func SetLongMode(s *kvm.Sregs, gdt, cr3 uint64) {
	s.GDT = kvm.DTable{Base: gdt, Limit: FlatGDTLimit}
	s.CS = flatSegment(SelectorCode64)
	data := flatSegment(SelectorData)
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.CR3 = cr3
	s.CR0 |= CR0PE | CR0PG | CR0ET | CR0NE | CR0WP
	s.CR4 |= CR4PAE | CR4OSFXSR | CR4OSXMMEXCPT
	s.EFER |= EFERLME | EFERLMA | EFERSCE
}

// SetUserMode switches a long-mode sregs to CPL 3: CS=SelectorUserCode and
// SS/DS/ES=SelectorUserData. Pages the guest touches must be user pages.
// Combine with RFLAGS IOPL=3 to let CPL 3 code use IN/OUT.
func SetUserMode(s *kvm.Sregs) {
	s.CS = flatSegment(SelectorUserCode)
	data := flatSegment(SelectorUserData)
	s.DS, s.ES, s.SS = data, data, data
}

// Mode is a coarse processor mode, for dumps.
type Mode string

// Processor modes.
const (
	ModeReal      Mode = "real"
	ModeProtected Mode = "protected"
	ModeLong      Mode = "long"
)

// ModeOf reports the processor mode sregs describe.
func ModeOf(s *kvm.Sregs) Mode {
	switch {
	case s.CR0&CR0PE == 0:
		return ModeReal
	case s.EFER&EFERLMA != 0:
		return ModeLong
	}
	return ModeProtected
}
