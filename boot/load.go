package boot

import (
	"fmt"
	"io"

	"github.com/gonest/gonest/guestmem"
)

const mib = 1 << 20

// Span is a range of guest physical memory.
type Span struct {
	Addr uint64
	Size uint64
}

// End returns the first address after the span.
func (s Span) End() uint64 { return s.Addr + s.Size }

// Options are the optional inputs of Load.
type Options struct {
	// ACPI is the ACPI table blob built for ACPIAddr (package acpi), RSDP
	// first. Empty means no ACPI: Linux then finds one CPU and no PCI
	// root described by firmware.
	ACPI []byte
}

// Loaded says what Load placed where and how to start the vCPU.
type Loaded struct {
	Format KernelFormat
	// CPU is the boot vCPU's entry state.
	CPU CPUState
	// Kernel is the memory the kernel occupies before it reads its memory
	// map: the loaded image, and for a bzImage its decompression buffer
	// [runtime start, + init_size); for an ELF kernel, its segments.
	Kernel []Span
	// Initrd is where the initrd was loaded (Size 0 without one).
	Initrd Span
	// Cmdline is the command line, NUL included.
	Cmdline Span
	// BootParams is the zero page, or for PVH the hvm_start_info.
	BootParams uint64
	// ACPI is where the ACPI tables were written (Size 0 without them).
	ACPI Span
	// E820 is the memory map given to the kernel.
	E820 []E820Entry
	// Setup is the bzImage's setup header (nil for ELF kernels).
	Setup *SetupHeader
}

// Load parses the kernel, places it, the initrd, the command line, the ACPI
// tables and the boot structures in mem, and returns the entry state.
// initrd may be nil when initrdSize is 0. mem must be laid out as RAMRanges
// gives it (RAM from address 0).
func Load(mem *guestmem.Memory, kernel io.ReaderAt, kernelSize int64, initrd io.ReaderAt, initrdSize int64,
	cmdline string, opts Options) (*Loaded, error) {
	k, err := ParseKernel(kernel, kernelSize)
	if err != nil {
		return nil, err
	}
	if !mem.Contains(0, HighMemStart) {
		return nil, fmt.Errorf("%w: RAM must cover the first MiB for boot structures; use -m 64M or more", ErrMemoryTooSmall)
	}
	lowEnd := min(mem.Regions()[0].End(), LowRAMMax)

	maxCmdline := CmdlineMaxSize - 1
	if k.Setup != nil {
		maxCmdline = min(maxCmdline, int(min(k.Setup.CmdlineSize, CmdlineMaxSize)))
	}
	if err := checkCmdline(cmdline, maxCmdline); err != nil {
		return nil, err
	}
	if len(opts.ACPI) > ACPIMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, room is %d", ErrACPITooLarge, len(opts.ACPI), ACPIMaxSize)
	}
	if initrdSize < 0 {
		return nil, fmt.Errorf("initrd size %d is negative", initrdSize)
	}

	ld := &Loaded{Format: k.Format, Setup: k.Setup}
	if k.Setup != nil {
		err = loadBzImage(mem, k.Setup, kernel, lowEnd, ld)
	} else {
		err = loadELF(mem, k.ELF, kernel, lowEnd, ld)
	}
	if err != nil {
		return nil, err
	}
	if initrdSize > 0 {
		if err := loadInitrd(mem, k, initrd, uint64(initrdSize), lowEnd, ld); err != nil {
			return nil, err
		}
	}

	ld.Cmdline = Span{Addr: CmdlineAddr, Size: uint64(len(cmdline)) + 1}
	if _, err := mem.WriteAt(append([]byte(cmdline), 0), CmdlineAddr); err != nil {
		return nil, fmt.Errorf("write kernel command line: %w", err)
	}
	var rsdp uint64
	if len(opts.ACPI) > 0 {
		if _, err := mem.WriteAt(opts.ACPI, ACPIAddr); err != nil {
			return nil, fmt.Errorf("write ACPI tables: %w", err)
		}
		rsdp = ACPIAddr
		ld.ACPI = Span{Addr: ACPIAddr, Size: uint64(len(opts.ACPI))}
	}
	ld.E820 = E820(ramRanges(mem), rsdp != 0)

	switch k.Format {
	case FormatPVH:
		info, err := BuildPVH(PVHParams{CmdlineAddr: CmdlineAddr, InitrdAddr: ld.Initrd.Addr,
			InitrdSize: ld.Initrd.Size, RSDPAddr: rsdp, E820: ld.E820})
		if err != nil {
			return nil, err
		}
		if _, err := mem.WriteAt(info, PVHStartInfoAddr); err != nil {
			return nil, fmt.Errorf("write PVH start info: %w", err)
		}
		ld.BootParams = PVHStartInfoAddr
		ld.CPU, err = setupPVH(mem, k.ELF.PVHEntry, PVHStartInfoAddr)
		return ld, err
	default:
		zp, err := BuildZeroPage(k.Setup, ZeroPageParams{CmdlineAddr: CmdlineAddr, InitrdAddr: ld.Initrd.Addr,
			InitrdSize: ld.Initrd.Size, RSDPAddr: rsdp, E820: ld.E820})
		if err != nil {
			return nil, err
		}
		if _, err := mem.WriteAt(zp, ZeroPageAddr); err != nil {
			return nil, fmt.Errorf("write zero page: %w", err)
		}
		ld.BootParams = ZeroPageAddr
		entry := k.ELF.entryOrZero()
		if k.Setup != nil {
			entry = ld.Kernel[0].Addr + Entry64Offset
		}
		ld.CPU, err = setupLongMode(mem, entry, ZeroPageAddr)
		return ld, err
	}
}

func (img *ELFImage) entryOrZero() uint64 {
	if img == nil {
		return 0
	}
	return img.Entry
}

func tooSmall(need uint64, what string) error {
	mb := (need + mib - 1) / mib
	return fmt.Errorf("%w: %s needs RAM up to %#x; use -m %dM or more", ErrMemoryTooSmall, what, need, mb)
}

func loadBzImage(mem *guestmem.Memory, h *SetupHeader, r io.ReaderAt, lowEnd uint64, ld *Loaded) error {
	load, spans := h.loadAddr(lowEnd)
	for _, s := range spans {
		if s.End() < s.Addr {
			return fmt.Errorf("%w: kernel at %#x+%#x overflows the address space", ErrKernelOverlap, s.Addr, s.Size)
		}
		if s.End() > lowEnd {
			return tooSmall(s.End(), fmt.Sprintf("the kernel (loaded at %#x, init_size %d MiB)", load, h.InitSize/mib))
		}
	}
	ld.Kernel = spans
	if err := mem.Fill(io.NewSectionReader(r, h.KernelOffset, h.KernelSize), load, uint64(h.KernelSize)); err != nil {
		return fmt.Errorf("load kernel at %#x: %w", load, err)
	}
	return nil
}

func loadELF(mem *guestmem.Memory, img *ELFImage, r io.ReaderAt, lowEnd uint64, ld *Loaded) error {
	for i, s := range img.Segments {
		span := Span{Addr: s.Paddr, Size: s.MemSize}
		if span.Addr < HighMemStart {
			return fmt.Errorf("%w: kernel segment %d at %#x overlaps gonest's boot structures below 1 MiB", ErrKernelOverlap, i, s.Paddr)
		}
		if !mem.Contains(span.Addr, span.Size) {
			if span.Addr < LowRAMMax && span.End() <= LowRAMMax {
				return tooSmall(span.End(), fmt.Sprintf("kernel segment %d", i))
			}
			return fmt.Errorf("%w: kernel segment %d at %#x+%#x is not in guest RAM", ErrKernelOverlap, i, s.Paddr, s.MemSize)
		}
		for _, prev := range ld.Kernel {
			if span.Addr < prev.End() && prev.Addr < span.End() {
				return fmt.Errorf("%w: kernel segment %d at %#x+%#x overlaps another", ErrKernelOverlap, i, s.Paddr, s.MemSize)
			}
		}
		ld.Kernel = append(ld.Kernel, span)
		if err := mem.Fill(io.NewSectionReader(r, s.Offset, int64(s.FileSize)), s.Paddr, s.FileSize); err != nil {
			return fmt.Errorf("load kernel segment %d at %#x: %w", i, s.Paddr, err)
		}
		bss, err := mem.Slice(s.Paddr+s.FileSize, s.MemSize-s.FileSize)
		if err != nil {
			return fmt.Errorf("clear kernel segment %d: %w", i, err)
		}
		clear(bss)
	}
	return nil
}

// loadInitrd places the initrd at the top of low RAM, below the kernel's
// initrd_addr_max, page aligned, above everything the kernel occupies.
func loadInitrd(mem *guestmem.Memory, k *Kernel, r io.ReaderAt, size, lowEnd uint64, ld *Loaded) error {
	hard := uint64(LowRAMMax)
	if k.Setup != nil {
		hard = min(hard, uint64(k.Setup.InitrdAddrMax)+1)
	}
	limit := min(hard, lowEnd)
	var kernelEnd uint64
	for _, s := range ld.Kernel {
		if s.Addr < hard {
			kernelEnd = max(kernelEnd, s.End())
		}
	}
	if kernelEnd > hard || size > hard-kernelEnd {
		return fmt.Errorf("%w: %d MiB, but at most %d MiB fit between the kernel (ending at %#x) and the initrd limit %#x; use a smaller initrd",
			ErrInitrdTooLarge, size/mib, (hard-min(kernelEnd, hard))/mib, kernelEnd, hard)
	}
	if size > limit || (limit-size)&^(InitrdAlign-1) < kernelEnd {
		need := (kernelEnd+InitrdAlign-1)&^(InitrdAlign-1) + size
		return fmt.Errorf("%w: the %d MiB initrd does not fit above the kernel, which ends at %#x; use -m %dM or more",
			ErrInitrdOverlap, (size+mib-1)/mib, kernelEnd, (need+mib-1)/mib)
	}
	addr := (limit - size) &^ (InitrdAlign - 1)
	if r == nil {
		return fmt.Errorf("initrd of %d bytes has no reader", size)
	}
	if err := mem.Fill(io.NewSectionReader(r, 0, int64(size)), addr, size); err != nil {
		return fmt.Errorf("load initrd at %#x: %w", addr, err)
	}
	ld.Initrd = Span{Addr: addr, Size: size}
	return nil
}
