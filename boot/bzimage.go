package boot

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Offsets of setup header fields in a bzImage file, which are also their
// offsets in struct boot_params (Documentation/arch/x86/boot.rst).
const (
	offSetupSects      = 0x1F1 // setup_sects: 512-byte sectors of real-mode setup code
	offSysSize         = 0x1F4 // syssize: protected-mode code size in 16-byte paragraphs
	offVidMode         = 0x1FA // vid_mode: video mode control
	offBootFlag        = 0x1FE // boot_flag: 0xAA55
	offJump            = 0x200 // jump: short jump whose offset byte (0x201) ends the header
	offHeaderMagic     = 0x202 // header: "HdrS"
	offVersion         = 0x206 // version: boot protocol version
	offTypeOfLoader    = 0x210 // type_of_loader
	offLoadFlags       = 0x211 // loadflags
	offCode32Start     = 0x214 // code32_start
	offRamdiskImage    = 0x218 // ramdisk_image
	offRamdiskSize     = 0x21C // ramdisk_size
	offHeapEndPtr      = 0x224 // heap_end_ptr
	offCmdLinePtr      = 0x228 // cmd_line_ptr
	offInitrdAddrMax   = 0x22C // initrd_addr_max
	offKernelAlignment = 0x230 // kernel_alignment
	offRelocatable     = 0x234 // relocatable_kernel
	offXLoadFlags      = 0x236 // xloadflags
	offCmdlineSize     = 0x238 // cmdline_size
	offPrefAddress     = 0x258 // pref_address
	offInitSize        = 0x260 // init_size
	setupHeaderEnd     = 0x26C // end of the header as of protocol 2.15
)

// Values in the setup header.
const (
	bootFlagMagic    = 0xAA55     // boot_flag
	headerMagic      = 0x53726448 // "HdrS" read little-endian
	minProtocol      = 0x0206     // oldest protocol gonest loads (cmdline_size, relocatable)
	xloadProtocol    = 0x020C     // protocol that added xloadflags
	initSizeProtocol = 0x020A     // protocol that added pref_address and init_size
	sectorSize       = 512
	defaultSetupSect = 4 // setup_sects == 0 means 4
)

// loadflags bits.
const (
	LoadedHigh   = 1 << 0 // LOADED_HIGH: protected-mode code loads at 0x100000
	KASLRFlag    = 1 << 1 // KASLR_FLAG: set by the kernel when KASLR is on
	QuietFlag    = 1 << 5 // QUIET_FLAG: suppress early messages
	KeepSegments = 1 << 6 // KEEP_SEGMENTS: obsolete
	CanUseHeap   = 1 << 7 // CAN_USE_HEAP: heap_end_ptr is valid
)

// xloadflags bits.
const (
	XLFKernel64           = 1 << 0 // XLF_KERNEL_64: 64-bit entry at load address + 0x200
	XLFCanBeLoadedAbove4G = 1 << 1 // XLF_CAN_BE_LOADED_ABOVE_4G: kernel, boot_params, cmdline, initrd may be above 4 GiB
	XLFEFIHandover32      = 1 << 2 // XLF_EFI_HANDOVER_32
	XLFEFIHandover64      = 1 << 3 // XLF_EFI_HANDOVER_64
	XLFEFIKexec           = 1 << 4 // XLF_EFI_KEXEC
)

// Entry64Offset is the 64-bit entry point's offset from the protected-mode
// load address (startup_64).
const Entry64Offset = 0x200

// SetupHeader is the part of a bzImage's setup header gonest uses.
type SetupHeader struct {
	SetupSects      int    // setup_sects, 0 already replaced by 4
	SysSize         uint32 // syssize, 16-byte paragraphs
	Version         uint16 // version, e.g. 0x020F for 2.15
	LoadFlags       uint8  // loadflags
	Code32Start     uint32 // code32_start
	InitrdAddrMax   uint32 // initrd_addr_max, defaulted for old kernels
	KernelAlignment uint32 // kernel_alignment
	Relocatable     bool   // relocatable_kernel
	XLoadFlags      uint16 // xloadflags
	CmdlineSize     uint32 // cmdline_size: longest command line, NUL excluded
	PrefAddress     uint64 // pref_address
	InitSize        uint32 // init_size: bytes needed from the runtime start

	// Raw holds file bytes [0x1F1, 0x202+jump offset): the setup header as
	// it is copied into boot_params.
	Raw []byte
	// KernelOffset is where the protected-mode code starts in the file:
	// (setup_sects + 1) * 512.
	KernelOffset int64
	// KernelSize is the protected-mode code's length: the rest of the file.
	KernelSize int64
}

// ProtocolString formats the protocol version as "2.15".
func (h *SetupHeader) ProtocolString() string {
	return fmt.Sprintf("%d.%02d", h.Version>>8, h.Version&0xFF)
}

func bzErr(sentinel error, format string, args ...any) error {
	return &FormatError{Format: "bzImage", Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// ParseBzImage reads and checks a bzImage's setup header. size is the file
// size. Every check that fails returns a *FormatError wrapping its own
// sentinel; a read error is returned wrapped, cause kept.
func ParseBzImage(r io.ReaderAt, size int64) (*SetupHeader, error) {
	if size <= 0 {
		return nil, &FormatError{Err: ErrEmpty, Detail: "file is empty; give a bzImage or an uncompressed vmlinux"}
	}
	if size < offBootFlag+2 {
		return nil, bzErr(ErrTruncated, "file is %d bytes, too short for a boot sector", size)
	}
	n := min(size, setupHeaderEnd)
	b := make([]byte, setupHeaderEnd) // zero beyond n: fields past the header read as 0
	if _, err := r.ReadAt(b[:n], 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read kernel setup header: %w", err)
	}
	le := binary.LittleEndian
	if f := le.Uint16(b[offBootFlag:]); f != bootFlagMagic {
		return nil, bzErr(ErrBootFlag, "boot_flag is %#04x, not 0xaa55: not a Linux boot image", f)
	}
	if size < offHeaderMagic+4 || le.Uint32(b[offHeaderMagic:]) != headerMagic {
		return nil, bzErr(ErrNoHeader, "no \"HdrS\" header at 0x202: a boot protocol before 2.00; use a kernel from this century")
	}
	h := &SetupHeader{Version: le.Uint16(b[offVersion:])}
	if h.Version < minProtocol {
		return nil, bzErr(ErrProtocolTooOld, "protocol %s is too old (need 2.06 or later)", h.ProtocolString())
	}
	end := int64(offJump+2) + int64(b[offJump+1])
	if end < offCmdlineSize+4 {
		return nil, bzErr(ErrBadHeader, "setup header ends at %#x, before cmdline_size, although protocol %s has it", end, h.ProtocolString())
	}
	if end > size {
		return nil, bzErr(ErrTruncated, "file is %d bytes but its setup header ends at %#x", size, end)
	}
	// Fields beyond the header's own end are absent: clear them.
	clear(b[min(end, setupHeaderEnd):])
	h.Raw = make([]byte, end-offSetupSects)
	if _, err := r.ReadAt(h.Raw, offSetupSects); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read kernel setup header: %w", err)
	}

	h.SetupSects = int(b[offSetupSects])
	if h.SetupSects == 0 {
		h.SetupSects = defaultSetupSect
	}
	h.SysSize = le.Uint32(b[offSysSize:])
	h.LoadFlags = b[offLoadFlags]
	h.Code32Start = le.Uint32(b[offCode32Start:])
	h.InitrdAddrMax = le.Uint32(b[offInitrdAddrMax:])
	if h.InitrdAddrMax == 0 {
		h.InitrdAddrMax = DefaultInitrdAddrMax
	}
	h.KernelAlignment = le.Uint32(b[offKernelAlignment:])
	h.Relocatable = b[offRelocatable] != 0
	h.CmdlineSize = le.Uint32(b[offCmdlineSize:])
	if h.Version >= xloadProtocol {
		h.XLoadFlags = le.Uint16(b[offXLoadFlags:])
	}
	if h.Version >= initSizeProtocol {
		h.PrefAddress = le.Uint64(b[offPrefAddress:])
		h.InitSize = le.Uint32(b[offInitSize:])
	}

	h.KernelOffset = int64(h.SetupSects+1) * sectorSize
	if h.KernelOffset >= size {
		return nil, bzErr(ErrTruncated, "file is %d bytes but its %d setup sectors end at %d", size, h.SetupSects, h.KernelOffset)
	}
	h.KernelSize = size - h.KernelOffset
	if h.LoadFlags&LoadedHigh == 0 {
		return nil, bzErr(ErrNotLoadedHigh, "loadflags lack LOADED_HIGH: a zImage for 0x10000; build a bzImage")
	}
	if h.XLoadFlags&XLFKernel64 == 0 {
		return nil, bzErr(ErrNot64Bit, "no 64-bit entry point (xloadflags lacks XLF_KERNEL_64, protocol %s); build an x86-64 kernel (CONFIG_X86_64)", h.ProtocolString())
	}
	if h.SysSize == 0 {
		return nil, bzErr(ErrBadHeader, "syssize is 0: no protected-mode code")
	}
	// syssize counts 16-byte paragraphs and is rounded up.
	if want := int64(h.SysSize) * 16; want > h.KernelSize+15 {
		return nil, bzErr(ErrTruncated, "file is %d bytes but setup (%d) plus syssize (%d) need %d; copy the file again",
			size, h.KernelOffset, want, h.KernelOffset+want)
	}
	if h.Relocatable && (h.KernelAlignment == 0 || h.KernelAlignment&(h.KernelAlignment-1) != 0) {
		return nil, bzErr(ErrBadHeader, "kernel_alignment %#x is not a power of two", h.KernelAlignment)
	}
	if h.InitSize == 0 {
		return nil, bzErr(ErrBadHeader, "init_size is 0")
	}
	if h.CmdlineSize == 0 {
		return nil, bzErr(ErrBadHeader, "cmdline_size is 0")
	}
	return h, nil
}

// loadAddr returns where the protected-mode code goes and the range the
// kernel uses from there on: [runtime start, runtime start + init_size),
// plus the loaded image itself. A relocatable kernel is loaded at its
// pref_address when that is aligned and the kernel fits below lowEnd, so the
// image sits inside its own decompression buffer; otherwise it goes to 1 MiB
// and decompresses to its runtime start, computed as the boot protocol
// describes for init_size.
func (h *SetupHeader) loadAddr(lowEnd uint64) (load uint64, footprint []Span) {
	use := max(uint64(h.InitSize), uint64(h.KernelSize))
	if h.Relocatable && h.PrefAddress >= HighMemStart && h.PrefAddress%uint64(h.KernelAlignment) == 0 &&
		h.PrefAddress+use <= lowEnd && h.PrefAddress+use > h.PrefAddress {
		return h.PrefAddress, []Span{{Addr: h.PrefAddress, Size: use}}
	}
	load = KernelLoadAddr
	runtime := h.PrefAddress
	if h.Relocatable {
		a := uint64(h.KernelAlignment)
		runtime = max(h.PrefAddress, (load+a-1)&^(a-1))
	}
	if runtime == 0 {
		runtime = load
	}
	spans := []Span{{Addr: load, Size: uint64(h.KernelSize)}}
	if runtime != load || uint64(h.InitSize) > uint64(h.KernelSize) {
		spans = append(spans, Span{Addr: runtime, Size: uint64(h.InitSize)})
	}
	return load, spans
}
