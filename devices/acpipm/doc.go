// Package acpipm emulates the ACPI fixed-hardware registers a FADT points
// at, so that a guest can power off, reboot and time itself the ACPI way.
//
// One I/O block of Size ports holds, at the offsets exported here:
//   - PM1a event block: PM1_STS (write 1 to clear) and PM1_EN. The only
//     event produced is the power button (PressPowerButton), which raises
//     SCI when the guest enabled it: the host's way to ask for a clean
//     shutdown.
//   - PM1a control block: PM1_CNT. SCI_EN reads 1 always: the machine is
//     born in ACPI mode, so the FADT declares no SMI_CMD. Writing SLP_EN
//     with SLP_TYP == SlpTypS5 calls Config.PowerOff; that is what Linux's
//     poweroff does after evaluating \_S5 in the DSDT.
//   - PM timer: a free-running 32-bit counter at 3.579545 MHz from an
//     injectable monotonic clock. Linux uses it as a clocksource and to
//     calibrate the TSC and the local APIC timer.
//   - Reset register: writing ResetValue calls Config.Reset. The FADT
//     points RESET_REG at it and sets RESET_REG_SUP, and Linux's default
//     reboot method tries it first.
//
// The hardware-reduced ACPI alternative (sleep control and status
// registers) is not provided: a full FADT with PM1 blocks works with every
// Linux that gonest boots, and the PM timer it brings is worth having.
//
// package acpi builds the FADT and DSDT from these constants; the board
// chooses the base port and the SCI line.
package acpipm
