// Package misc holds the tiny devices a PC board needs to keep guests quiet.
//
// Null claims ports that Linux touches but gonest does not emulate. Typical
// uses on the board (the board picks the addresses; the device never knows
// them):
//   - 0x80: the POST code port. Linux writes it as an I/O delay (outb_p)
//     unless it runs paravirtualized on KVM, where io_delay is a no-op;
//     io_delay=none on the command line avoids those exits too.
//   - 0xed: the alternative delay port (io_delay=0xed).
//   - 0x87 and the other DMA page registers, poked by legacy ISA DMA code.
//   - VGA registers (0x3b0-0x3df) probed by vgacon: 0xff means no adapter.
//
// Not needed here, because KVM emulates them in the kernel when the board
// creates the in-kernel interrupt controllers and PIT (KVM_CREATE_IRQCHIP,
// KVM_CREATE_PIT2): port 0x61 (PC speaker and the PIT channel 2 gate/output
// that Linux's PIT calibration polls), the PIC ELCR registers 0x4d0-0x4d1,
// the PICs at 0x20/0xa0 and the PIT at 0x40-0x43. Accesses to those never
// leave the kernel.
package misc
