// Package cmos emulates the PC's MC146818 real-time clock and its 128 bytes
// of battery-backed CMOS RAM.
//
// The guest writes a CMOS index to the index port (bit 7 of that write
// disables NMI, which is recorded and otherwise ignored) and then reads or
// writes the selected byte through the data port. The board puts the two
// ports at 0x70 and 0x71.
//
// The time registers are computed on every read from an injectable clock
// plus an offset, so tests are deterministic and nothing ticks in the
// background. Register B picks BCD or binary and 12- or 24-hour format;
// the century lives at CenturyIndex (0x32), which the FADT must name.
// A guest that sets the time (Linux's hwclock or mc146818_set_time sets
// register B's SET bit, writes the fields and clears SET) moves the offset;
// the host clock is never touched. Register A's UIP bit reads 1 during the
// last 244 µs of each second, the window a real chip announces before it
// updates, so Linux's "wait for UIP to clear" loop behaves as on hardware.
// Register D reports a good battery (VRT).
//
// CMOS bytes 0x15-0x18, 0x30-0x31, 0x34-0x35 and 0x5b-0x5d carry the RAM
// sizes that firmware traditionally leaves there, filled from Config.
//
// Periodic, alarm and update-ended interrupts are not implemented: their
// enable bits are stored and register C always reads 0. Linux keeps time
// with other clocks and only reads the RTC at boot.
package cmos
