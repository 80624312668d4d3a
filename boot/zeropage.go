package boot

import (
	"encoding/binary"
	"fmt"
)

// Offsets in struct boot_params (Documentation/arch/x86/zero-page.rst) that
// are not setup header fields.
const (
	ZeroPageSize       = 0x1000
	offACPIRSDPAddr    = 0x070 // acpi_rsdp_addr
	offExtRamdiskImage = 0x0C0 // ext_ramdisk_image: bits 63:32 of ramdisk_image
	offExtRamdiskSize  = 0x0C4 // ext_ramdisk_size
	offExtCmdLinePtr   = 0x0C8 // ext_cmd_line_ptr
	offE820Entries     = 0x1E8 // e820_entries
	offE820Table       = 0x2D0 // e820_table[E820_MAX_ENTRIES_ZEROPAGE]
	offSetupHeader     = offSetupSects
	offEDDMBRSigBuffer = 0x290 // edd_mbr_sig_buffer: the setup header must end before it
)

// Values gonest writes into the setup header.
const (
	// TypeOfLoader is 0xFF: a boot loader without an assigned ID.
	TypeOfLoader = 0xFF
	// HeapEndPtr is heap_end_ptr: the real-mode heap ends at 0xFE00 past the
	// setup code, as QEMU sets it. gonest skips real-mode setup, but
	// CAN_USE_HEAP promises a valid value.
	HeapEndPtr = 0xFE00
	// VidModeNormal is vid_mode 0xFFFF, "normal": no mode switch.
	VidModeNormal = 0xFFFF
	// elfKernelAlignment is kernel_alignment in the header synthesised for an
	// ELF kernel, Linux's CONFIG_PHYSICAL_ALIGN default (16 MiB).
	elfKernelAlignment = 0x100_0000
	// elfProtocol is the protocol version claimed for an ELF kernel's
	// synthesised header: 2.15, whose fields gonest fills.
	elfProtocol = 0x020F
	// rsdpProtocol is the protocol from which kernels read acpi_rsdp_addr.
	rsdpProtocol = 0x020E
)

// ZeroPageParams are what a loader tells the kernel through boot_params.
type ZeroPageParams struct {
	CmdlineAddr uint64
	InitrdAddr  uint64 // 0 with no initrd
	InitrdSize  uint64
	RSDPAddr    uint64 // 0 with no ACPI tables
	E820        []E820Entry
}

// BuildZeroPage returns struct boot_params for the 64-bit entry. hdr is the
// bzImage's setup header, copied in as the protocol asks; nil (an ELF
// kernel) synthesises a minimal one: boot_flag, "HdrS", version,
// LOADED_HIGH, kernel_alignment, cmdline_size.
func BuildZeroPage(hdr *SetupHeader, p ZeroPageParams) ([]byte, error) {
	b := make([]byte, ZeroPageSize)
	le := binary.LittleEndian
	if hdr != nil {
		copy(b[offSetupHeader:offEDDMBRSigBuffer], hdr.Raw)
	} else {
		le.PutUint16(b[offBootFlag:], bootFlagMagic)
		le.PutUint32(b[offHeaderMagic:], headerMagic)
		le.PutUint16(b[offVersion:], elfProtocol)
		b[offLoadFlags] = LoadedHigh
		le.PutUint32(b[offKernelAlignment:], elfKernelAlignment)
		le.PutUint32(b[offCmdlineSize:], CmdlineMaxSize-1)
	}
	le.PutUint16(b[offVidMode:], VidModeNormal)
	b[offTypeOfLoader] = TypeOfLoader
	b[offLoadFlags] |= CanUseHeap
	le.PutUint16(b[offHeapEndPtr:], HeapEndPtr)

	le.PutUint32(b[offCmdLinePtr:], uint32(p.CmdlineAddr))
	le.PutUint32(b[offExtCmdLinePtr:], uint32(p.CmdlineAddr>>32))
	le.PutUint32(b[offRamdiskImage:], uint32(p.InitrdAddr))
	le.PutUint32(b[offExtRamdiskImage:], uint32(p.InitrdAddr>>32))
	le.PutUint32(b[offRamdiskSize:], uint32(p.InitrdSize))
	le.PutUint32(b[offExtRamdiskSize:], uint32(p.InitrdSize>>32))
	// acpi_rsdp_addr is read by kernels of protocol 2.14 and later; for
	// older ones the field is padding, so leave it zero.
	if hdr == nil || hdr.Version >= rsdpProtocol {
		le.PutUint64(b[offACPIRSDPAddr:], p.RSDPAddr)
	}

	if err := encodeE820(b[offE820Table:offE820Table+MaxE820Entries*e820EntrySize], p.E820, e820EntrySize); err != nil {
		return nil, fmt.Errorf("zero page: %w", err)
	}
	b[offE820Entries] = uint8(len(p.E820))
	return b, nil
}
