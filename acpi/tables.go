package acpi

import "encoding/binary"

// Identity written into every table header.
const (
	OEMID           = "GONEST"   // OEM ID, 6 bytes
	oemTablePrefix  = "GNST"     // OEM table ID: prefix + table signature
	oemRevision     = 1          // OEM revision
	creatorID       = "GNST"     // creator ID, 4 bytes
	creatorRevision = 1          // creator revision
	HypervisorID    = "GONESTVM" // FADT hypervisor vendor identity, 8 bytes
)

// Table sizes and revisions.
const (
	headerSize   = 36  // struct acpi_table_header
	rsdpSize     = 36  // ACPI 2.0+ RSDP
	rsdpV1Size   = 20  // the part covered by the first checksum
	rsdpRevision = 2   // ACPI 2.0+: has the XSDT address
	xsdtRevision = 1   // XSDT revision
	fadtSize     = 276 // ACPI 6.x FADT, through the hypervisor vendor identity
	fadtRevision = 6   // FADT major version (ACPI 6.x)
	fadtMinor    = 5   // FADT minor version (ACPI 6.5)
	madtRevision = 5   // MADT revision (ACPI 6.2 and later)
	dsdtRevision = 2   // DSDT revision 2: 64-bit AML integers
)

// checksum returns the byte that makes the sum of b and it zero.
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// sdt returns a System Description Table: the 36-byte header (signature,
// length, revision, checksum, OEM ID, OEM table ID, OEM revision, creator ID
// and revision) followed by body, with its checksum set.
func sdt(signature string, revision byte, body []byte) []byte {
	b := make([]byte, headerSize, headerSize+len(body))
	copy(b[0:4], signature)
	binary.LittleEndian.PutUint32(b[4:], uint32(headerSize+len(body)))
	b[8] = revision
	copy(b[10:16], OEMID)
	copy(b[16:24], oemTablePrefix+signature)
	binary.LittleEndian.PutUint32(b[24:], oemRevision)
	copy(b[28:32], creatorID)
	binary.LittleEndian.PutUint32(b[32:], creatorRevision)
	b = append(b, body...)
	b[9] = checksum(b)
	return b
}

// rsdp returns the Root System Description Pointer for an XSDT at xsdt:
// "RSD PTR ", a checksum over the first 20 bytes, OEM ID, revision 2, no
// RSDT, length 36, the XSDT address and an extended checksum over all 36.
func rsdp(xsdt uint64) []byte {
	b := make([]byte, rsdpSize)
	copy(b[0:8], "RSD PTR ")
	copy(b[9:15], OEMID)
	b[15] = rsdpRevision
	binary.LittleEndian.PutUint32(b[20:], rsdpSize)
	binary.LittleEndian.PutUint64(b[24:], xsdt)
	b[8] = checksum(b[:rsdpV1Size])
	b[32] = checksum(b)
	return b
}

// xsdt returns the XSDT listing the tables at addrs.
func xsdt(addrs ...uint64) []byte {
	var body []byte
	for _, a := range addrs {
		body = binary.LittleEndian.AppendUint64(body, a)
	}
	return sdt("XSDT", xsdtRevision, body)
}

// Generic Address Structure address space IDs and access sizes.
const (
	gasSystemIO   = 1 // address space: system I/O ports
	gasAccessByte = 1 // access size: byte
)

// gas encodes a Generic Address Structure for a byte-wide I/O port.
func gas(b []byte, port uint16) {
	b[0] = gasSystemIO
	b[1] = 8 // register bit width
	b[2] = 0 // bit offset
	b[3] = gasAccessByte
	binary.LittleEndian.PutUint64(b[4:], uint64(port))
}

// FADT fixed feature flags (ACPI 6.5, table 5.10).
const (
	FADTPowerButton   = 1 << 4  // PWR_BUTTON: no fixed-feature power button
	FADTSleepButton   = 1 << 5  // SLP_BUTTON: no fixed-feature sleep button
	FADTResetRegSup   = 1 << 10 // RESET_REG_SUP: RESET_REG is valid
	FADTHWReducedACPI = 1 << 20 // HW_REDUCED_ACPI: no fixed hardware, no SCI
)

// IA-PC boot architecture flags (FADT IAPC_BOOT_ARCH, ACPI 6.5 table 5.11).
const (
	BootArchLegacyDevices = 1 << 0 // LEGACY_DEVICES: undetectable ISA devices
	BootArch8042          = 1 << 1 // 8042: a keyboard controller at 0x60/0x64
	BootArchNoVGA         = 1 << 2 // VGA Not Present: do not probe VGA
	BootArchNoMSI         = 1 << 3 // MSI Not Supported: OSPM must not enable MSI
	BootArchNoASPM        = 1 << 4 // PCIe ASPM Controls: OSPM must not touch ASPM
	BootArchNoCMOSRTC     = 1 << 5 // CMOS RTC Not Present
)

// Sleep control and status register bits (ACPI 6.5, 4.8.3.7 and 4.8.3.8),
// for the devices engineer and for tests.
const (
	SleepTypeShift = 2      // SLP_TYPx: bits 4:2 of the sleep control register
	SleepTypeMask  = 7 << 2 // SLP_TYPx field
	SleepEnable    = 1 << 5 // SLP_EN: enter the sleep state in SLP_TYPx
	WakeStatus     = 1 << 7 // WAK_STS in the sleep status register, write 1 to clear
)

// FADT field offsets.
const (
	fadtDSDT         = 40  // DSDT, 32-bit
	fadtBootArch     = 109 // IAPC_BOOT_ARCH
	fadtFlags        = 112 // Flags
	fadtResetReg     = 116 // RESET_REG
	fadtResetValue   = 128 // RESET_VALUE
	fadtMinorVersion = 131 // FADT Minor Version
	fadtXDSDT        = 140 // X_DSDT
	fadtCentury      = 108 // CENTURY: CMOS index of the century byte
	fadtSleepControl = 244 // SLEEP_CONTROL_REG
	fadtSleepStatus  = 256 // SLEEP_STATUS_REG
	fadtHypervisorID = 268 // Hypervisor Vendor Identity
)

// fadt returns a hardware-reduced FADT pointing at the DSDT at dsdtAddr.
func fadt(c *Config, dsdtAddr uint64) []byte {
	b := make([]byte, fadtSize)
	le := binary.LittleEndian
	if dsdtAddr < 1<<32 {
		le.PutUint32(b[fadtDSDT:], uint32(dsdtAddr))
	}
	le.PutUint64(b[fadtXDSDT:], dsdtAddr)
	le.PutUint16(b[fadtBootArch:], c.bootArch())
	b[fadtCentury] = c.RTCCentury
	le.PutUint32(b[fadtFlags:], FADTHWReducedACPI|FADTResetRegSup|FADTPowerButton|FADTSleepButton)
	gas(b[fadtResetReg:], c.ResetPort)
	b[fadtResetValue] = c.ResetValue
	b[fadtMinorVersion] = fadtMinor
	gas(b[fadtSleepControl:], c.SleepControlPort)
	gas(b[fadtSleepStatus:], c.SleepStatusPort)
	copy(b[fadtHypervisorID:], HypervisorID)
	return sdt("FACP", fadtRevision, b[headerSize:])
}

// MADT interrupt controller structure types and flags.
const (
	madtLocalAPIC     = 0 // Processor Local APIC
	madtIOAPIC        = 1 // I/O APIC
	madtISO           = 2 // Interrupt Source Override
	madtLocalAPICNMI  = 4 // Local APIC NMI
	madtLAPICEnabled  = 1 // Local APIC flags: Enabled
	madtAllProcessors = 0xFF
	madtLINT1         = 1 // the LINT pin wired to NMI on a PC
	madtLocalAPICSize = 8
	madtIOAPICSize    = 12
	madtISOSize       = 10
	madtLocalNMISize  = 6
)

// madt returns the MADT: the LAPIC address, no PC/AT 8259s (flags 0: the
// hardware-reduced machine has no legacy PIC), one enabled Local APIC per
// CPU (ACPI processor UID = APIC ID = index), the IOAPIC, the interrupt
// source overrides, and LINT1 as NMI on every CPU.
func madt(c *Config) []byte {
	le := binary.LittleEndian
	body := le.AppendUint32(nil, c.LAPICAddr)
	body = le.AppendUint32(body, 0) // flags: no PCAT_COMPAT
	for i := range c.CPUs {
		body = append(body, madtLocalAPIC, madtLocalAPICSize, byte(i), byte(i))
		body = le.AppendUint32(body, madtLAPICEnabled)
	}
	body = append(body, madtIOAPIC, madtIOAPICSize, c.IOAPIC.ID, 0)
	body = le.AppendUint32(body, c.IOAPIC.Addr)
	body = le.AppendUint32(body, c.IOAPIC.GSIBase)
	for _, o := range c.Overrides {
		body = append(body, madtISO, madtISOSize, 0, o.Source) // bus 0: ISA
		body = le.AppendUint32(body, o.GSI)
		body = le.AppendUint16(body, o.Flags)
	}
	body = append(body, madtLocalAPICNMI, madtLocalNMISize, madtAllProcessors)
	body = le.AppendUint16(body, 0) // flags: conforms to the bus
	body = append(body, madtLINT1)
	return sdt("APIC", madtRevision, body)
}
