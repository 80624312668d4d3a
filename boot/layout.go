package boot

import (
	"fmt"

	"github.com/gonest/gonest/guestmem"
)

// This file is the one list of guest addresses, I/O ports and interrupt pins
// in a gonest machine. Every other package (the board, devices, acpi) takes
// them from here; each constant says why it has its value.

// Guest RAM.
const (
	// LowRAMMax is the most RAM placed below 4 GiB (3 GiB). RAM starts at 0
	// and runs up to min(memory size, LowRAMMax); the rest goes above 4 GiB,
	// so the top gigabyte below 4 GiB is free for MMIO, as on a PC.
	LowRAMMax = 0xC000_0000
	// HighRAMStart is where RAM beyond LowRAMMax continues: 4 GiB, just past
	// the 32-bit MMIO hole.
	HighRAMStart = 0x1_0000_0000
	// PageSize is the x86 base page size. Memory sizes, the initrd address
	// and KVM memory slots are multiples of it.
	PageSize = 0x1000
	// MaxMemSize is the most guest RAM gonest maps (1 TiB); guestmem.Map
	// refuses larger regions anyway.
	MaxMemSize = 1 << 40
)

// The 32-bit MMIO hole, [MMIOHoleStart, 4 GiB). It holds no RAM.
const (
	// MMIOHoleStart is the start of the hole, equal to LowRAMMax.
	MMIOHoleStart = LowRAMMax
	// PCIMMIO32Start is the PCI MMIO window: BARs, 64-bit BARs included,
	// are assigned in [PCIMMIO32Start, PCIMMIO32Start+PCIMMIO32Size). It
	// covers the hole up to 0xFBFF_FFFF and stops below the 0xFC00_0000..
	// area where PCs keep the IOAPIC, the LAPIC and KVM's private pages.
	PCIMMIO32Start = 0xC000_0000
	// PCIMMIO32Size is the size of the PCI MMIO window (960 MiB).
	PCIMMIO32Size = 0x3C00_0000
	// IOAPICAddr is the IOAPIC's register window, the PC's fixed address
	// that every OS probes first; the MADT repeats it.
	IOAPICAddr = 0xFEC0_0000
	// IOAPICSize is the size of the IOAPIC register window.
	IOAPICSize = 0x1000
	// LAPICAddr is the local APIC's register window (architectural default
	// of IA32_APIC_BASE).
	LAPICAddr = 0xFEE0_0000
	// LAPICSize is the size of the local APIC register window.
	LAPICSize = 0x1000
	// KVMIdentityMapAddr is the page KVM_SET_IDENTITY_MAP_ADDR is given.
	// On Intel without unrestricted guest KVM needs one page of identity page
	// table there; 0xFFFB_C000 is KVM's own default and Firecracker's
	// choice, sits in the hole outside the PCI window and below the 256 KiB
	// where a PC maps its firmware ROM, and is reserved in e820.
	KVMIdentityMapAddr = 0xFFFB_C000
	// KVMTSSAddr is the three pages KVM_SET_TSS_ADDR is given (Intel real
	// mode emulation). It follows the identity map page, as in KVM's and
	// Firecracker's layout, and is reserved in e820.
	KVMTSSAddr = 0xFFFB_D000
	// KVMTSSSize is the size KVM uses at KVMTSSAddr: three pages.
	KVMTSSSize = 3 * PageSize
)

// Low memory: what gonest writes below 1 MiB before the first instruction.
const (
	// RealModeIVTEnd bounds the real-mode interrupt vector table and BIOS
	// data area [0, 0x500). gonest leaves them zero: a 64-bit or PVH entry
	// never runs BIOS code, and Linux reads a zero EBDA pointer (0x40E) and
	// base memory size (0x413) as "none".
	RealModeIVTEnd = 0x500
	// GDTAddr is the boot GDT (flat code and data, a TSS descriptor),
	// placed at the first free byte after the BIOS data area, like
	// Firecracker's.
	GDTAddr = 0x500
	// GDTMaxSize is room for 16 descriptors.
	GDTMaxSize = 0x80
	// IDTAddr is the boot IDT. It is empty (limit 0): the kernel enters with
	// interrupts off and loads its own IDT before it enables them; a fault
	// before that is a triple fault, which KVM reports as a shutdown.
	IDTAddr = GDTAddr + GDTMaxSize
	// PVHStartInfoAddr is struct hvm_start_info for the PVH entry (56 bytes),
	// followed by one hvm_modlist_entry (the initrd) at PVHModlistAddr.
	PVHStartInfoAddr = 0x6000
	// PVHModlistAddr is the PVH module list: one entry, the initrd.
	PVHModlistAddr = 0x6040
	// PVHMemmapAddr is the PVH memory map: up to MaxE820Entries entries of
	// 24 bytes, ending before ZeroPageAddr.
	PVHMemmapAddr = 0x6100
	// ZeroPageAddr is struct boot_params (the "zero page", 4 KiB) for the
	// 64-bit Linux entry; RSI points here. 0x7000 is Firecracker's choice
	// and leaves the page below free for PVH.
	ZeroPageAddr = 0x7000
	// BootStackTop is the initial RSP: the top of the page above the zero
	// page, 16-byte aligned. Linux switches to its own stack at once.
	BootStackTop = 0x8FF0
	// PML4Addr is the boot page map level 4; PDPTAddr and the four page
	// directories at PDAddr follow. Together they identity-map the first
	// 4 GiB with 2 MiB pages, as the 64-bit boot protocol requires.
	PML4Addr = 0x9000
	// PDPTAddr is the page directory pointer table.
	PDPTAddr = 0xA000
	// PDAddr is the first of BootPDCount page directories, one per GiB.
	PDAddr = 0xB000
	// BootPDCount is the number of page directories: 4 GiB / 1 GiB.
	BootPDCount = 4
	// PageTablesEnd is the first byte after the boot page tables.
	PageTablesEnd = PDAddr + BootPDCount*PageSize
	// CmdlineAddr is the kernel command line (Firecracker's and QEMU's
	// choice): above the boot structures, far below the EBDA.
	CmdlineAddr = 0x20000
	// CmdlineMaxSize is the room reserved for the command line, NUL
	// included. x86 Linux's COMMAND_LINE_SIZE is 2048; a bzImage states its
	// own limit in cmdline_size and gonest honours the smaller of the two.
	CmdlineMaxSize = 0x1000
	// EBDAAddr is the extended BIOS data area [EBDAAddr, 0xA0000), reserved
	// in e820 as on a PC. gonest writes no MP table there: ACPI's MADT
	// describes the CPUs.
	EBDAAddr = 0x9FC00
	// LegacyHoleStart is the VGA and option-ROM hole [0xA0000, ACPIAddr):
	// absent from e820.
	LegacyHoleStart = 0xA0000
	// ACPIAddr is the ACPI tables area [ACPIAddr, HighMemStart), RSDP first.
	// 0xE0000 is inside the BIOS area that Linux scans for "RSD PTR " when
	// boot_params.acpi_rsdp_addr is not set, so both paths find it.
	ACPIAddr = 0xE0000
	// ACPIMaxSize is the room for the ACPI tables (128 KiB).
	ACPIMaxSize = HighMemStart - ACPIAddr
	// HighMemStart (1 MiB) is where the kernel area begins.
	HighMemStart = 0x10_0000
)

// Kernel and initrd placement.
const (
	// KernelLoadAddr is where a bzImage's protected-mode code is loaded
	// when it cannot go to its pref_address: the protocol's fixed 1 MiB.
	KernelLoadAddr = HighMemStart
	// DefaultInitrdAddrMax is initrd_addr_max for kernels whose header has
	// none (the protocol's default, 0x37FFFFFF).
	DefaultInitrdAddrMax = 0x37FF_FFFF
	// InitrdAlign is the initrd's alignment: a page, as the protocol asks.
	InitrdAlign = PageSize
)

// I/O ports and the interrupt pins of the devices behind them.
const (
	// COM1Port is the first 16550 UART, the guest console (console=ttyS0).
	COM1Port = 0x3F8
	// COM1PortSize is its 8 registers.
	COM1PortSize = 8
	// COM1IRQ is its ISA IRQ and IOAPIC pin.
	COM1IRQ = 4
	// CMOSPort is the MC146818 RTC/CMOS index (0x70) and data (0x71) ports.
	CMOSPort = 0x70
	// CMOSPortSize is the two ports.
	CMOSPortSize = 2
	// CMOSIRQ is the RTC's ISA IRQ and IOAPIC pin.
	CMOSIRQ = 8
	// I8042DataPort is the keyboard controller's data port.
	I8042DataPort = 0x60
	// I8042CommandPort is the keyboard controller's status/command port. A
	// write of 0xFE pulses the CPU reset line: Linux's reboot=k.
	I8042CommandPort = 0x64
	// I8042IRQ is the keyboard's ISA IRQ and IOAPIC pin.
	I8042IRQ = 1
	// POSTPort is the POST diagnostic port. Linux writes it as an I/O delay
	// unless KVM's CPUID advertises KVM_FEATURE_NOP_IO_DELAY.
	POSTPort = 0x80
	// ExitPort is the exit device (4 ports), where QEMU's isa-debug-exit
	// lives, so guest test programs work under both: a write of v ends a
	// gonest run with exit status v (QEMU's device exits with (v << 1) | 1).
	ExitPort = 0xF4
	// ExitPortSize is the exit device's four ports.
	ExitPortSize = 4
	// MarkerPort is the timing-marker port: a 32-bit write records a
	// timestamped marker. 0xF8 is next to the exit device in the 0xF0-0xFF
	// block of the PC's x87 coprocessor, which no 64-bit kernel or driver
	// touches, and which QEMU leaves empty, so markers never collide with a
	// real device.
	MarkerPort = 0xF8
	// MarkerPortSize is one 32-bit register.
	MarkerPortSize = 4
	// MessagePort is the message port (guestabi.MessagePort): the PC's
	// debug-console port, where QEMU's isa-debugcon and Bochs's
	// port_e9_hack also sit, so a guest's message lines reach every VMM
	// the same way. Nothing else on a PC decodes it.
	MessagePort = 0xE9
	// MessagePortSize is the one port.
	MessagePortSize = 1
	// PCIConfigPort is PCI configuration mechanism #1: CONFIG_ADDRESS at
	// 0xCF8 and CONFIG_DATA at 0xCFC.
	PCIConfigPort = 0xCF8
	// PCIConfigPortSize is the two 32-bit registers.
	PCIConfigPortSize = 8
	// PCIIOStart is the PCI I/O window for I/O BARs, [PCIIOStart, 64 KiB).
	// Linux never assigns PCI I/O below 0x1000, and every legacy port above
	// lies below it.
	PCIIOStart = 0x1000
	// PCIIOSize is the size of the PCI I/O window.
	PCIIOSize = 0x1_0000 - PCIIOStart
	// ACPIPMPort is the block of hardware-reduced ACPI registers (see
	// package acpi): sleep control, sleep status and reset. 0x600 is the
	// port cloud-hypervisor uses for the same purpose; it is below the PCI
	// I/O window and clear of every ISA device.
	ACPIPMPort = 0x600
	// ACPIPMPortSize is the block's four byte-wide ports.
	ACPIPMPortSize = 4
	// ACPISleepControlPort is the FADT SLEEP_CONTROL_REG: writing
	// (SLP_TYP << 2) | SLP_EN (0x20) enters sleep state SLP_TYP.
	ACPISleepControlPort = ACPIPMPort
	// ACPISleepStatusPort is the FADT SLEEP_STATUS_REG: WAK_STS is bit 7,
	// written 1 to clear.
	ACPISleepStatusPort = ACPIPMPort + 1
	// ACPIResetPort is the FADT RESET_REG: writing ACPIResetValue resets the
	// machine.
	ACPIResetPort = ACPIPMPort + 2
	// ACPIResetValue is the FADT RESET_VALUE.
	ACPIResetValue = 0x01
	// ACPISleepTypeS5 is the SLP_TYP of S5 (soft off) in the DSDT's \_S5:
	// poweroff writes (5 << 2) | 0x20 = 0x34 to ACPISleepControlPort.
	ACPISleepTypeS5 = 5
)

// IOAPIC pins (GSIs) not listed with their device above.
const (
	// IOAPICPins is the number of pins of KVM's in-kernel IOAPIC.
	IOAPICPins = 24
	// SCIIRQ is kept free for an ACPI SCI. Hardware-reduced ACPI has none,
	// so nothing uses it today.
	SCIIRQ = 9
	// PCIIntxGSIA and PCIIntxGSIB are the two pins PCI INTx lines are
	// swizzled onto (level triggered, shared), described by the DSDT's _PRT.
	PCIIntxGSIA = 10
	// PCIIntxGSIB is the second PCI INTx pin.
	PCIIntxGSIB = 11
)

// RAMRanges returns where the guest's RAM of size bytes lies: [0, min(size,
// 3 GiB)) and, for more than 3 GiB, [4 GiB, 4 GiB + rest). size must be a
// non-zero multiple of PageSize, at most MaxMemSize.
func RAMRanges(size uint64) ([]guestmem.Range, error) {
	if size == 0 || size%PageSize != 0 || size > MaxMemSize {
		return nil, fmt.Errorf("memory size %#x: must be a non-zero multiple of 4 KiB up to 1 TiB", size)
	}
	low := min(size, LowRAMMax)
	ranges := []guestmem.Range{{GPA: 0, Size: low}}
	if size > low {
		ranges = append(ranges, guestmem.Range{GPA: HighRAMStart, Size: size - low})
	}
	return ranges, nil
}
