package acpi

import (
	"fmt"

	"github.com/gonest/gonest/boot"
)

// MaxCPUs is the most CPUs the MADT describes with xAPIC entries: APIC IDs
// 0 to 254 (255 is the broadcast ID).
const MaxCPUs = 255

// Config describes the machine the tables tell the guest about.
type Config struct {
	// Base is the guest physical address the blob is written at; the RSDP
	// comes first, so Base is the RSDP address.
	Base uint64
	// CPUs is the number of vCPUs: APIC IDs and ACPI processor UIDs 0..CPUs-1.
	CPUs int
	// LAPICAddr is the local APIC register window.
	LAPICAddr uint32
	// IOAPIC is the one I/O APIC.
	IOAPIC IOAPIC
	// Overrides are MADT interrupt source overrides (none by default).
	Overrides []InterruptOverride
	// SleepControlPort, SleepStatusPort and ResetPort are the byte-wide
	// hardware-reduced ACPI registers; ResetValue is what resets.
	SleepControlPort uint16
	SleepStatusPort  uint16
	ResetPort        uint16
	ResetValue       uint8
	// S5SleepType is SLP_TYP for S5 (soft off) in \_S5.
	S5SleepType uint8
	// RTCCentury is the CMOS index of the century byte (FADT CENTURY), 0
	// when the RTC has none.
	RTCCentury uint8
	// ISA lists the legacy devices described in the DSDT, so that Linux,
	// which has no legacy PIC to fall back on in hardware-reduced mode,
	// learns their ports and IRQs.
	ISA []ISADevice
	// PCI is the PCI host bridge; nil leaves PCI out of the DSDT.
	PCI *PCIHost
}

// IOAPIC is one I/O APIC in the MADT.
type IOAPIC struct {
	ID      uint8
	Addr    uint32
	GSIBase uint32
}

// InterruptOverride is a MADT interrupt source override for ISA IRQ Source.
type InterruptOverride struct {
	Source uint8
	GSI    uint32
	Flags  uint16 // MPS INTI flags: polarity bits 1:0, trigger mode bits 3:2
}

// PortRange is a block of I/O ports.
type PortRange struct {
	Base uint16
	Size uint8
}

// ISADevice is a legacy device in the DSDT: \_SB.<Name> with _HID, _UID and
// a _CRS of its ports and ISA IRQ.
type ISADevice struct {
	Name  string // 1 to 4 characters, e.g. "COM1"
	HID   string // PNP ID, e.g. "PNP0501", encoded as EisaId
	UID   uint32
	Ports []PortRange
	IRQ   int // ISA IRQ 0-15, or -1 for none
}

// PCIHost is the PCI host bridge \_SB.PCI0 (PNP0A03).
type PCIHost struct {
	Segment        uint16
	Bus            uint8
	ConfigPort     uint16 // configuration mechanism #1 ports, consumed by the bridge
	ConfigPortSize uint8
	IO             Window // I/O window for I/O BARs
	MMIO32         Window // MMIO window below 4 GiB
	MMIO64         Window // MMIO window above 4 GiB; Size 0 for none
	// Routes are the _PRT entries for INTx; none leaves _PRT out.
	Routes []PCIRoute
}

// Window is a range of addresses forwarded by the bridge.
type Window struct {
	Base uint64
	Size uint64
}

// PCIRoute sends INTx pin Pin (0 = INTA .. 3 = INTD) of device Slot to GSI.
type PCIRoute struct {
	Slot uint8
	Pin  uint8
	GSI  uint32
}

// SwizzledRoutes routes every slot's INTA-INTD over gsis, rotating by slot
// as a PCI-to-PCI bridge would: slot s pin p goes to gsis[(s+p) % len(gsis)].
func SwizzledRoutes(gsis ...uint32) []PCIRoute {
	if len(gsis) == 0 {
		return nil
	}
	var rs []PCIRoute
	for s := range 32 {
		for p := range 4 {
			rs = append(rs, PCIRoute{Slot: uint8(s), Pin: uint8(p), GSI: gsis[(s+p)%len(gsis)]})
		}
	}
	return rs
}

// DefaultConfig describes gonest's board (addresses from package boot's
// layout) with cpus vCPUs: COM1, the RTC and the i8042 as ISA devices, the
// PCI host bridge with INTx swizzled over two pins.
func DefaultConfig(cpus int) Config {
	return Config{
		Base:             boot.ACPIAddr,
		CPUs:             cpus,
		LAPICAddr:        boot.LAPICAddr,
		IOAPIC:           IOAPIC{ID: 0, Addr: boot.IOAPICAddr, GSIBase: 0},
		SleepControlPort: boot.ACPISleepControlPort,
		SleepStatusPort:  boot.ACPISleepStatusPort,
		ResetPort:        boot.ACPIResetPort,
		ResetValue:       boot.ACPIResetValue,
		S5SleepType:      boot.ACPISleepTypeS5,
		ISA: []ISADevice{
			{Name: "COM1", HID: "PNP0501", UID: 1, Ports: []PortRange{{boot.COM1Port, boot.COM1PortSize}}, IRQ: boot.COM1IRQ},
			{Name: "RTC", HID: "PNP0B00", UID: 0, Ports: []PortRange{{boot.CMOSPort, boot.CMOSPortSize}}, IRQ: boot.CMOSIRQ},
			{Name: "PS2K", HID: "PNP0303", UID: 0, Ports: []PortRange{{boot.I8042DataPort, 1}, {boot.I8042CommandPort, 1}}, IRQ: boot.I8042IRQ},
		},
		PCI: &PCIHost{
			ConfigPort:     boot.PCIConfigPort,
			ConfigPortSize: boot.PCIConfigPortSize,
			IO:             Window{Base: boot.PCIIOStart, Size: boot.PCIIOSize},
			MMIO32:         Window{Base: boot.PCIMMIO32Start, Size: boot.PCIMMIO32Size},
			Routes:         SwizzledRoutes(boot.PCIIntxGSIA, boot.PCIIntxGSIB),
		},
	}
}

// bootArch returns the FADT IAPC_BOOT_ARCH flags: no VGA; an 8042 when the
// DSDT has a PNP0303 keyboard; MSI and the CMOS RTC left enabled.
func (c *Config) bootArch() uint16 {
	flags := uint16(BootArchNoVGA)
	for _, d := range c.ISA {
		if d.HID == "PNP0303" {
			flags |= BootArch8042
		}
	}
	return flags
}

// validate checks the numbers the tables cannot encode.
func (c *Config) validate() error {
	if c.CPUs < 1 || c.CPUs > MaxCPUs {
		return fmt.Errorf("ACPI: %d CPUs; the MADT describes 1 to %d", c.CPUs, MaxCPUs)
	}
	for _, d := range c.ISA {
		if d.IRQ > 15 {
			return fmt.Errorf("ACPI: ISA device %s: IRQ %d is not an ISA IRQ (0-15)", d.Name, d.IRQ)
		}
		for _, p := range d.Ports {
			if p.Size == 0 || uint32(p.Base)+uint32(p.Size) > 0x1_0000 {
				return fmt.Errorf("ACPI: ISA device %s: ports %#x+%d out of range", d.Name, p.Base, p.Size)
			}
		}
	}
	if p := c.PCI; p != nil {
		if p.IO.Size == 0 || p.IO.Size > 0xFFFF || p.IO.Base+p.IO.Size > 0x1_0000 {
			return fmt.Errorf("ACPI: PCI I/O window %#x+%#x must lie in the 64 KiB port space", p.IO.Base, p.IO.Size)
		}
		if p.MMIO32.Size == 0 || p.MMIO32.Base+p.MMIO32.Size > 1<<32 {
			return fmt.Errorf("ACPI: PCI MMIO32 window %#x+%#x must lie below 4 GiB", p.MMIO32.Base, p.MMIO32.Size)
		}
		if p.MMIO64.Size != 0 && p.MMIO64.Base+p.MMIO64.Size < p.MMIO64.Base {
			return fmt.Errorf("ACPI: PCI MMIO64 window %#x+%#x overflows", p.MMIO64.Base, p.MMIO64.Size)
		}
		for _, r := range p.Routes {
			if r.Slot > 31 || r.Pin > 3 {
				return fmt.Errorf("ACPI: PCI route slot %d pin %d: slot must be 0-31, pin 0-3", r.Slot, r.Pin)
			}
		}
	}
	return nil
}
