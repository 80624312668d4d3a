// Package serial emulates a 16550A UART, the PC's COM port, well enough
// for Linux's 8250 driver to detect it as a "16550A" and run it with
// interrupts and FIFOs.
//
// The guest sees eight registers (see regs.go): the receive buffer and
// transmit holding register, interrupt enable and identification, FIFO,
// line and modem control, line and modem status, and the scratch register,
// plus the divisor latch behind LCR.DLAB. The board picks the base port
// (0x3f8 for COM1); the UART only sees offsets 0-7.
//
// Transmit: every byte the guest writes to THR is handed to the io.Writer
// given in Config.Out before the write returns, so nothing is buffered
// inside the UART and nothing is lost when the VM stops right after the
// guest prints. While Out is busy, LSR honestly reports THRE and TEMT clear
// to other vCPUs; afterwards the transmitter is empty again and a THRE
// interrupt is pending, which is what drives Linux's interrupt-mode output.
//
// Receive: the host pushes input with Enqueue, which takes only what fits
// in the 16-byte receive FIFO (1 byte in 16450 mode), so the host never
// overruns the guest. Feed and FeedFrom wait for room and deliver every
// byte in order; the console uses them to pipe stdin into the guest.
// Like real hardware, a guest that resets its FIFO (Linux does when it
// opens the port) discards what was waiting in it.
//
// Interrupts: the interrupt identification register reports, in priority
// order, receiver line status (overrun), received data (at the FIFO trigger
// level, or a character timeout below it), THR empty, and modem status
// changes. The line on Config.IRQ is high exactly while an interrupt is
// pending and MCR.OUT2 is set, as on a PC where OUT2 gates the UART's IRQ;
// the UART calls SetLevel only when that level changes.
//
// Loopback (MCR.LOOP), which Linux uses to probe the port and size the
// FIFO, connects the transmitter to the receiver and MCR's outputs to MSR's
// inputs, and cuts both the host input and Out off.
package serial
