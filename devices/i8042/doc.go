// Package i8042 emulates the PC's keyboard controller with no keyboard and
// no mouse plugged in. Guests need it for two things: Linux probes it at
// boot (and must not stall doing so), and writing 0xfe to its command port
// is the oldest way to reboot a PC.
//
// The controller is two one-byte ports, which the board maps separately so
// that port 0x61 in between stays free: DataPort (0x60) and CommandPort
// (0x64, status on read, commands on write).
//
// Linux's probe (drivers/input/serio/i8042.c) gets immediate answers to
// everything it asks: self test (0xaa) answers 0x55, the interface tests
// (0xab, 0xa9) answer 0x00, the command byte reads and writes (0x20, 0x60),
// 0xa7/0xa8 and 0xad/0xae flip the port disable bits, and 0xd2/0xd3 echo a
// byte back as keyboard or AUX data, which is how Linux tests the AUX port
// and its interrupt. Bytes sent to the keyboard (a plain data port write)
// or to the mouse (0xd4) find nobody: the controller answers 0xfe with the
// status register's timeout bit set, which Linux's PS/2 library takes as a
// failed command at once instead of waiting for a 200 ms timeout per byte.
//
// Output-buffer-full drives IRQ 1 for keyboard bytes and IRQ 12 for AUX
// bytes when the command byte enables them. The board should wire both;
// without IRQ 12 Linux waits 250 ms for the AUX interrupt test before it
// gives the AUX port up.
//
// Reset: command 0xfe (any 0xf0-0xff pulse with bit 0 clear) or an output
// port write (0xd1) with bit 0 clear calls Config.Reset.
package i8042
