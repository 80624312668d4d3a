// Package msgport is the message port: the one-byte debug-console port
// where a guest writes message lines (guestabi.MessagePort, 0xE9, the port
// of QEMU's isa-debugcon and Bochs's port_e9_hack).
//
// The device assembles the bytes into lines and hands each complete line,
// without its newline, to the board's callback, which parses it
// (guestabi.ParseMessage). A line longer than the configured maximum is
// dropped whole, and so are the bytes after it up to the next newline:
// a guest that never writes a newline cannot grow the VMM's memory. A read
// returns the readback byte 0xE9, as QEMU and Bochs do, so a guest can tell
// that something listens.
//
// The board picks the port; the device never knows its address.
package msgport
