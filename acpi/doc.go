// Package acpi builds the ACPI tables that tell a guest OS what gonest's
// board has: how many CPUs, where the interrupt controllers are, which
// legacy devices sit at which ports and IRQs, where the PCI host bridge and
// its windows are, and how to power off and reset.
//
// Build returns one byte blob, laid out for a given guest address (package
// boot's ACPIAddr, 0xE0000): RSDP, XSDT, FADT, MADT and DSDT, each 16-byte
// aligned, every checksum right. The board writes it there and passes the
// RSDP address in boot_params.acpi_rsdp_addr (or hvm_start_info.rsdp_paddr);
// 0xE0000 also satisfies Linux's legacy scan of the BIOS area.
//
// The DSDT's AML is hand-encoded by a small encoder (aml.go, resource.go):
// PkgLength, names, integers, Name, Package, Buffer, Device, Scope, EisaId
// and the resource descriptors a _CRS needs. Its output matches iasl's byte
// for byte (TestDSDTMatchesIASL), except that gonest fills in the resource
// template checksum that iasl leaves 0 ("no checksum"; both are valid).
//
// # Hardware-reduced ACPI
//
// The FADT sets HW_REDUCED_ACPI, as Firecracker and cloud-hypervisor do,
// instead of describing the PC's fixed hardware (PM1a event and control
// blocks, the PM timer, GPE blocks, an SCI). What that gives:
//
//   - Less to emulate. There is no PM timer to keep at 3.579545 MHz, no PM1
//     status/enable registers, no GPEs and no SCI. Poweroff is one write of
//     (SLP_TYP << 2) | SLP_EN = (5 << 2) | 0x20 = 0x34 to the sleep control
//     register (FADT SLEEP_CONTROL_REG, port 0x600); Linux clears WAK_STS in
//     the sleep status register (0x601) first. Reboot is a write of
//     RESET_VALUE 1 to RESET_REG (0x602), or with reboot=k, 0xFE to the
//     i8042 at 0x64.
//   - No legacy PIC and no PIT. On x86, Linux's acpi_reduced_hw_init()
//     replaces the legacy PIC with a null one and skips the PIT setup
//     (timer_init becomes a no-op). Timekeeping then rests on the TSC and
//     kvm-clock, and the per-CPU LAPIC timer, calibrated against the TSC or
//     used in TSC-deadline mode. The vCPU CPUID must therefore offer the KVM
//     paravirtual leaves (kvm-clock, KVM_FEATURE_CLOCKSOURCE2) and, where
//     KVM_CAP_TSC_DEADLINE_TIMER says so, TSC-deadline; neither the IOAPIC
//     timer check (check_timer) nor PIT calibration ever runs, which also
//     spares the slow nested lab their exits.
//   - Legacy IRQs come from the DSDT. With no legacy PIC, Linux has no
//     built-in "ISA IRQ n is IOAPIC pin n" table (nr_legacy_irqs() is 0),
//     so every ISA device with an interrupt must be described: COM1
//     (PNP0501, 0x3F8, IRQ 4), the RTC (PNP0B00, 0x70, IRQ 8) and the i8042
//     keyboard (PNP0303, 0x60/0x64, IRQ 1). PNP-ACPI maps their IRQs to IOAPIC
//     pins 4, 8 and 1, edge triggered, active high; 8250_pnp and rtc_cmos
//     bind to them.
//   - The PCI root is found through the DSDT: Device PCI0, PNP0A03, _SEG 0,
//     _BBN 0, with a _CRS of bus 0-0, the consumed 0xCF8-0xCFF configuration
//     ports, the I/O window 0x1000-0xFFFF and the MMIO window 0xC0000000-
//     0xFBFFFFFF. Linux scans it with its default pci= settings. A _PRT
//     routes INTx: slot s pin p to GSI 10 or 11, alternating, level
//     triggered. Devices that use MSI or MSI-X do not need it, and nothing
//     in the FADT disables MSI.
//   - CPUs: one enabled MADT Local APIC entry per vCPU (APIC ID = ACPI UID
//     = index) plus a Processor device (ACPI0007) in the DSDT for each, so
//     Linux brings up all N and binds its processor driver.
//   - IAPC_BOOT_ARCH says: an 8042 is present (when the DSDT has the
//     keyboard), no VGA, MSI allowed, CMOS RTC present.
//
// No SCI, no FACS (a hardware-reduced FADT may omit it), no interrupt
// source overrides by default (no PIT to reroute). A guest booted with
// acpi=off loses all of this: it finds one CPU and probes PCI on its own.
package acpi
