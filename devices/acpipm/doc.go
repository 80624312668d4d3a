// Package acpipm emulates the registers of hardware-reduced ACPI that a
// FADT points at, so a guest can power off and reboot the ACPI way.
//
// gonest's ACPI tables (package acpi) describe a hardware-reduced platform,
// as Firecracker and cloud-hypervisor do: there are no PM1 event/control
// blocks, no PM timer and no SCI. Instead the FADT names three byte-wide
// registers, at the offsets exported here from the I/O base the board picks:
//
//   - SLEEP_CONTROL_REG: the guest writes (SLP_TYP << 2) | SLP_EN to enter a
//     sleep state. SLP_TYP comes from the DSDT's \_Sx objects; gonest's DSDT
//     only has \_S5 (soft off), so Linux's poweroff writes
//     (SleepTypeS5 << 2) | SleepEnable = 0x34, and the device calls
//     Config.PowerOff. Other sleep types are ignored: the guest finds no
//     \_S1-\_S4 and never asks for them.
//   - SLEEP_STATUS_REG: WAK_STS (bit 7) says the platform woke from sleep;
//     it is written 1 to clear (Linux does so just before sleeping). It
//     always reads 0 here, since the machine never sleeps and wakes.
//   - RESET_REG: writing ResetValue calls Config.Reset. Linux's default
//     reboot method (reboot=a) uses it; gonest's default reboot=k uses the
//     i8042 instead, and both end the run.
package acpipm
