// Package exitdev holds the two ports through which a guest talks to the
// CI harness rather than to emulated hardware.
//
// Exit ends the run: the guest writes a byte N to offset 0 (outb, or the
// low byte of outw/outl) and the board's callback stops the VM, making N
// gonest's exit status. It is QEMU's isa-debug-exit in spirit, but the
// status is N itself, not 2N+1, so a guest test that writes 0 makes the CI
// job pass. Reads return 0.
//
// Marker records boot milestones: each byte written is an ID stamped with
// the host time, kept (up to MaxMarks) for the boot timeline and passed to
// an optional callback.
//
// The board picks both ports; neither device knows its address.
package exitdev
