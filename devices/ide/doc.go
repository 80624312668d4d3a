// Package ide is an emulated legacy disk: a PCI IDE controller with up to
// four ATA drives, moved by programmed I/O. It is the disk bus that nested
// virtualization folklore warns about; gonest has it so that the cost of
// emulated IDE against virtio-blk can be measured at every level.
//
// # The controller
//
// Controller is one PCI function with the identity of Intel's PIIX3 IDE
// function (8086:7010, class 01h/01h), which Linux's ata_piix drives
// (drivers/ata/ata_piix.c, piix_pata_mwdma). What ata_piix reads at probe
// is there:
//
//   - BAR 0 and 1 are the primary channel's command block (8 ports) and
//     control block (4 ports, the register at offset 2), BAR 2 and 3 the
//     secondary's: I/O BARs that the PCI bus places in the I/O window and
//     decodes once the guest sets COMMAND.IO (libata-sff.c,
//     ata_pci_sff_init_host). BAR 4, the bus-master block, is absent, so
//     libata falls back to PIO ("BAR4 is zero", ata_pci_bmdma_init).
//   - IDETIM at 0x40/0x42 has its decode-enable bit (15) set for each
//     channel that has a disk: piix_pata_prereset skips a channel without
//     it (pci_test_config_bits on piix_enable_bits). The timing fields and
//     SIDETIM (0x44) are writable storage; piix_set_timings writes them,
//     and PIO through an emulated port has no timing to program. A
//     channel without disks has no BARs, which libata treats as a disabled
//     port.
//   - INTA# is raised while either channel's INTRQ is; the board routes it
//     through the DSDT's _PRT like any PCI function's.
//
// The programming interface is 05h: both channels in native PCI mode, not
// in compatibility mode at the fixed ports 0x1F0/0x170 with ISA IRQs 14
// and 15. gonest's board rules compatibility mode out twice. Its DSDT
// gives the PCI host bridge the I/O window 0x1000-0xFFFF, so the PCI core
// cannot place a compatibility channel's fixed ports and will not enable
// the function; with prog-if 00h gonest's G1 in the lab says
// "ata_piix 0000:00:01.0: BAR 0 [io  size 0x0008]: not assigned; can't
// enable device" and "probe of 0000:00:01.0 failed with error -22". And
// its ACPI is hardware-reduced, which makes Linux use no legacy PIC and no
// ISA IRQ numbers (arch/x86/kernel/acpi/boot.c,
// acpi_generic_reduced_hw_init sets null_legacy_pic; nr_legacy_irqs() is
// then 0), so every IOAPIC pin gets a dynamically numbered IRQ from 24 up
// (arch/x86/kernel/apic/io_apic.c, alloc_irq_from_domain,
// IOAPIC_DOMAIN_DYNAMIC), while a compatibility-mode channel makes libata
// request IRQ 14 by number (libata-sff.c, ata_pci_sff_activate_host,
// ATA_PRIMARY_IRQ), which does not exist there. In native mode the
// channels are BARs in the window and libata takes the function's PCI
// interrupt, which the _PRT describes; Linux then says "ata1: PATA max
// PIO4 cmd 0x1000 ctl 0x1008 irq 27". The ATA side, the registers, the
// protocol and the exits per sector are the same in both modes; only
// where the ports sit and which line interrupts differ.
//
// # The drives
//
// Each channel (Channel) holds device 0 and optionally device 1. Taskfile
// writes reach both; reads come from the device the DEV bit selects; an
// absent device 1 reads 0 (as QEMU's IDE). The status register clears the
// selected device's pending interrupt, the alternate status does not;
// nIEN masks INTRQ; SRST holds both devices busy and leaves the ATA
// signature (count 1, LBA 00 00 01h) and diagnostic code 01h. Every
// register and bit is a named constant in regs.go (ATA8-ACS, ATA/ATAPI-6).
//
// Commands (commands.go) run to completion on the vCPU thread that writes
// the Command register, so the guest never sees BSY except during SRST:
//
//   - READ/WRITE SECTORS and MULTIPLE, LBA28 (or CHS through the current
//     translation) and LBA48 (EXT); the data register moves 16-bit words,
//     or two per 32-bit access as on the PIIX (Linux's ata_piix uses
//     32-bit PIO). One DRQ block is one sector, or the multiple count for
//     the MULTIPLE commands (16 at power-on, which IDENTIFY word 59
//     reports, so Linux takes one interrupt per 16 sectors). A data-in
//     block interrupts before it is read; a data-out block after it is
//     written, the first one excepted.
//   - IDENTIFY DEVICE (identify.go: LBA48, FLUSH CACHE (EXT), write cache
//     and read look-ahead, PIO modes 3-4, no DMA, non-rotating, the
//     serial from -disk serial= or the file name, checksummed).
//   - READ VERIFY SECTORS (EXT), SET FEATURES (write cache on/off, read
//     look-ahead, revert to defaults on reset, PIO transfer modes),
//     SET MULTIPLE MODE, INITIALIZE DEVICE PARAMETERS, EXECUTE DEVICE
//     DIAGNOSTIC, FLUSH CACHE (EXT) as fdatasync, and the power commands
//     Linux sends at poweroff (STANDBY IMMEDIATE syncs first), with
//     CHECK POWER MODE reporting the state.
//   - Everything else aborts (error ABRT).
//
// With the write cache enabled (the default, and what IDENTIFY says), a
// write completes once the image has it and FLUSH CACHE makes it stable,
// which Linux issues for every sync; with it disabled every write command
// is synced before it completes. Close syncs once more.
//
// # What a sector costs
//
// Every register access is an I/O exit to gonest, and so is the data:
// KVM emulates a guest's rep insd and rep outsd for userspace. For rep
// insd it reads ahead to the end of the instruction, 1 KiB at most, per
// exit (arch/x86/kvm/emulate.c, pio_in_emulated and its read_cache); for
// rep outsd it has no such buffer, and every 32-bit word is an exit
// (em_out). Linux moves one 512-byte sector per instruction (libata-sff.c,
// ata_pio_sector and ata_sff_data_xfer32), so a sector read costs one exit
// and a sector written 128; with the status reads and the interrupt of
// each 16-sector block and the taskfile of each command, that is about
// 2,500 exits per MiB read and over 260,000 per MiB written, where
// virtio-blk's notifications end in the kernel (ioeventfd). In the nested
// lab a 1280 KiB write, which libata moves block by block from its
// interrupt handler, holds a G1 CPU long enough for its soft-lockup
// watchdog to complain.
//
// # A hostile guest
//
// Every address and count the guest writes is checked against the
// capacity before the image is touched: a range past the end, an LBA
// beyond the disk or a CHS triple outside the translation ends in IDNF
// and ABRT with the failing address in the LBA registers; a write to a
// ,ro disk, READ/WRITE MULTIPLE with multiple mode off, an unknown SET
// FEATURES subcommand, an invalid multiple count or a DMA transfer mode
// end in ABRT; a command written while DRQ is set ends the transfer and
// aborts; data accesses without DRQ, byte accesses to the data register
// and writes during SRST do nothing. A host read error is UNC, a host
// write or sync error ABRT; the first of each drive's is logged. Nothing
// a guest writes can panic the device, which FuzzATA checks.
//
// # Left out
//
// Bus-master DMA (the PIIX's BAR 4 and its PRD tables): the point of this
// disk is the cost of programmed I/O, and virtio-blk is gonest's fast
// disk. Without it there are no DMA or Ultra DMA modes, no 80-wire cable
// detection, and SET FEATURES refuses DMA transfer modes. Also left out:
// ATAPI (CD-ROMs), compatibility mode (see above), SMART, the Host
// Protected Area, security, logs, TRIM, NCQ, and hot plug. SLEEP is
// treated as standby, since an image does not need waking.
package ide
