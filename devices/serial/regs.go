package serial

// Register offsets from the UART's base. Several offsets hold two registers:
// which one a read or write reaches depends on the direction and on LCR.DLAB.
const (
	regRBR = 0 // receiver buffer (read, DLAB=0)
	regTHR = 0 // transmitter holding (write, DLAB=0)
	regDLL = 0 // divisor latch, low byte (DLAB=1)
	regIER = 1 // interrupt enable (DLAB=0)
	regDLM = 1 // divisor latch, high byte (DLAB=1)
	regIIR = 2 // interrupt identification (read)
	regFCR = 2 // FIFO control (write)
	regLCR = 3 // line control
	regMCR = 4 // modem control
	regLSR = 5 // line status (read; writes are ignored)
	regMSR = 6 // modem status (read; writes are ignored)
	regSCR = 7 // scratch

	// Size is the number of port addresses the UART decodes.
	Size = 8
)

// IER: interrupt enable register.
const (
	ierRDA  = 1 << 0 // ERBFI: received data available (and character timeout)
	ierTHRE = 1 << 1 // ETBEI: transmitter holding register empty
	ierRLS  = 1 << 2 // ELSI: receiver line status
	ierMS   = 1 << 3 // EDSSI: modem status
	// ierMask is what a 16550A implements; bits 4-7 always read 0, which
	// is how Linux tells it from an XScale UART (IER.UUE, bit 6).
	ierMask = ierRDA | ierTHRE | ierRLS | ierMS
)

// IIR: interrupt identification register.
const (
	iirNoInt   = 0x01 // no interrupt pending
	iirIDMask  = 0x0e // interrupt identification, bits 1-3
	iirMS      = 0x00 // modem status changed (priority 4, lowest)
	iirTHRE    = 0x02 // transmitter holding register empty (priority 3)
	iirRDA     = 0x04 // received data reached the trigger level (priority 2)
	iirRLS     = 0x06 // receiver line status: overrun, parity, framing, break (priority 1)
	iirTimeout = 0x0c // character timeout: data below the trigger level (priority 2)
	iirFIFO    = 0xc0 // both bits set when the FIFOs are enabled (FCR0=1)
)

// FCR: FIFO control register (write-only).
const (
	fcrEnable      = 1 << 0 // enable both FIFOs; changing it clears them
	fcrClearRX     = 1 << 1 // reset the receive FIFO (self-clearing)
	fcrClearTX     = 1 << 2 // reset the transmit FIFO (self-clearing)
	fcrDMA         = 1 << 3 // DMA mode select; stored, no effect here
	fcr64Byte      = 1 << 5 // 16750 64-byte FIFO; ignored by a 16550A
	fcrTriggerMask = 0xc0   // receive FIFO trigger level, bits 6-7
	fcrTrigger1    = 0x00   // trigger at 1 byte
	fcrTrigger4    = 0x40   // trigger at 4 bytes
	fcrTrigger8    = 0x80   // trigger at 8 bytes
	fcrTrigger14   = 0xc0   // trigger at 14 bytes
	// fcrStored is the part of FCR the UART remembers.
	fcrStored = fcrEnable | fcrDMA | fcrTriggerMask
)

// LCR: line control register.
const (
	lcrWordLenMask = 0x03   // word length: 5 + value bits
	lcrStop        = 1 << 2 // 1.5 or 2 stop bits
	lcrParity      = 1 << 3 // parity enable
	lcrEvenParity  = 1 << 4 // even parity select
	lcrStickParity = 1 << 5 // stick parity
	lcrBreak       = 1 << 6 // set break
	lcrDLAB        = 1 << 7 // divisor latch access bit
)

// MCR: modem control register.
const (
	mcrDTR  = 1 << 0 // data terminal ready; looped back to MSR.DSR
	mcrRTS  = 1 << 1 // request to send; looped back to MSR.CTS
	mcrOUT1 = 1 << 2 // user output 1; looped back to MSR.RI
	mcrOUT2 = 1 << 3 // user output 2; gates the interrupt line on a PC, looped back to MSR.DCD
	mcrLoop = 1 << 4 // diagnostic loopback mode
	// mcrMask is what a 16550A implements; bits 5-7 read 0.
	mcrMask = mcrDTR | mcrRTS | mcrOUT1 | mcrOUT2 | mcrLoop
)

// LSR: line status register.
const (
	lsrDR      = 1 << 0 // data ready: the receive buffer or FIFO holds a byte
	lsrOE      = 1 << 1 // overrun error; cleared by reading LSR
	lsrPE      = 1 << 2 // parity error; never produced here
	lsrFE      = 1 << 3 // framing error; never produced here
	lsrBI      = 1 << 4 // break interrupt; never produced here
	lsrTHRE    = 1 << 5 // transmitter holding register (or TX FIFO) empty
	lsrTEMT    = 1 << 6 // transmitter empty: THR and shift register both empty
	lsrFIFOErr = 1 << 7 // an error byte is in the receive FIFO; never produced here
	// Of the errors that raise a receiver line status interrupt (OE, PE,
	// FE, BI) only overrun happens here; serial.go tracks it as overrun.
)

// MSR: modem status register. The low nibble records changes since the
// last read; the high nibble is the current state of the modem inputs.
const (
	msrDCTS = 1 << 0 // CTS changed
	msrDDSR = 1 << 1 // DSR changed
	msrTERI = 1 << 2 // RI went from on to off (trailing edge)
	msrDDCD = 1 << 3 // DCD changed
	msrCTS  = 1 << 4 // clear to send
	msrDSR  = 1 << 5 // data set ready
	msrRI   = 1 << 6 // ring indicator
	msrDCD  = 1 << 7 // data carrier detect
	// The change bits (DCTS, DDSR, TERI, DDCD) are cleared by reading MSR;
	// serial.go keeps them in deltas.
	// hostLines is what the host side presents outside loopback: a
	// connected peer that is ready to talk and never rings.
	hostLines = msrDCD | msrDSR | msrCTS
)

const (
	// FIFOSize is the depth of the 16550A receive and transmit FIFOs.
	FIFOSize = 16
	// defaultDivisor is the divisor latch after reset: 9600 baud from the
	// PC's 1.8432 MHz clock.
	defaultDivisor = 12
)
