// Package devices holds the two address buses a vCPU exit is dispatched to,
// and the interface every emulated device implements.
//
// A Bus maps address ranges to devices: one Bus for x86 port I/O, one for
// MMIO. The board (package machine) decides where each device lives; a
// device only ever sees the offset of an access inside its own range, so the
// same serial port works at 0x3f8 or 0x2f8 without knowing it.
//
// Lookups are lock-free: the bus keeps an immutable sorted slice behind an
// atomic pointer, and Insert/Remove publish a new copy. This matters because
// every vCPU thread looks up the bus on every I/O exit, while a PCI BAR
// reprogramming moves a device only rarely.
//
// Devices are register state machines in their own sub-packages
// (devices/serial, devices/cmos, ...). Each one locks its own state: several
// vCPUs may access it at once.
package devices
