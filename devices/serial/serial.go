package serial

import (
	"io"
	"log/slog"
	"sync"

	"github.com/gonest/gonest/devices"
)

// Config is what the board gives a UART.
type Config struct {
	// Name appears in bus statistics; "serial" when empty.
	Name string
	// Out receives every transmitted byte, in order, outside loopback mode.
	// A nil Out discards output.
	Out io.Writer
	// IRQ is the interrupt line the UART drives. Nil leaves the UART
	// usable by polling only. SetLevel is called with the UART's lock held
	// and must not call back into the UART.
	IRQ devices.InterruptLine
	// Logger reports a failing Out once; nil discards.
	Logger *slog.Logger
}

// Stats counts the UART's traffic.
type Stats struct {
	TxBytes  uint64 // bytes handed to Out
	RxBytes  uint64 // bytes accepted from the host by Enqueue
	Overruns uint64 // bytes lost to a full receiver (only loopback can cause one)
}

// Serial is a 16550A UART. It implements devices.Device over Size ports.
type Serial struct {
	name string
	out  io.Writer
	irq  devices.InterruptLine
	log  *slog.Logger

	// txMu serializes transmission so that bytes reach Out in the order
	// the guest wrote them, without holding mu while Out blocks. It also
	// guards txBuf, the byte handed to Out: a slice of a field, so that
	// sending a byte allocates nothing.
	txMu  sync.Mutex
	txBuf [1]byte

	mu       sync.Mutex
	ier      byte
	lcr      byte
	mcr      byte
	fcr      byte // fcrStored bits only
	scr      byte
	dll, dlm byte
	overrun  bool  // LSR.OE, sticky until LSR is read
	lastRBR  byte  // what RBR reads when the receiver is empty
	lines    byte  // MSR high nibble as the guest currently sees it
	deltas   byte  // MSR low nibble
	rx       fifo  // receive FIFO (capacity 1 when FIFOs are disabled)
	thrIntr  bool  // THRE interrupt pending (cleared by IIR read or THR write)
	txBusy   bool  // a byte is being handed to Out: THR and shifter not empty
	irqLevel bool  // last level driven on irq
	txErr    error // first error from Out
	room     chan struct{}
	stats    Stats
}

// New returns a UART in its reset state.
func New(cfg Config) *Serial {
	s := &Serial{name: cfg.Name, out: cfg.Out, irq: cfg.IRQ, log: cfg.Logger}
	if s.name == "" {
		s.name = "serial"
	}
	if s.out == nil {
		s.out = io.Discard
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.dll = defaultDivisor
	s.lines = hostLines
	return s
}

// Name implements devices.Named.
func (s *Serial) Name() string { return s.name }

// Stats returns the traffic counters.
func (s *Serial) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Err returns the first error Out returned, or nil. Bytes Out failed to
// take are counted in TxBytes but are gone.
func (s *Serial) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.txErr
}

// Read implements devices.Device. A wider access reads consecutive
// registers, as an 8-bit ISA device sees it; bytes past the UART read 0xff.
func (s *Serial) Read(offset uint64, data []byte) {
	for i := range data {
		off := offset + uint64(i)
		if off >= Size || off < offset {
			data[i] = 0xff
			continue
		}
		data[i] = s.readReg(off)
	}
}

// Write implements devices.Device. A wider access writes consecutive
// registers; bytes past the UART are dropped.
func (s *Serial) Write(offset uint64, data []byte) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	for i, v := range data {
		off := offset + uint64(i)
		if off >= Size || off < offset {
			continue
		}
		s.writeReg(off, v)
	}
}

func (s *Serial) readReg(off uint64) byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	dlab := s.lcr&lcrDLAB != 0
	var v byte
	switch off {
	case regRBR: // also regDLL
		if dlab {
			return s.dll
		}
		if b, ok := s.rx.pop(); ok {
			s.lastRBR = b
			s.notifyRoom()
		}
		v = s.lastRBR
	case regIER: // also regDLM
		if dlab {
			return s.dlm
		}
		return s.ier
	case regIIR:
		v = s.iir()
		if v&iirIDMask == iirTHRE && v&iirNoInt == 0 {
			// Reading IIR acknowledges a THRE interrupt it reports.
			s.thrIntr = false
		}
	case regLCR:
		return s.lcr
	case regMCR:
		return s.mcr
	case regLSR:
		v = s.lsr()
		s.overrun = false
	case regMSR:
		v = s.lines | s.deltas
		s.deltas = 0
	case regSCR:
		return s.scr
	}
	s.updateIRQ()
	return v
}

func (s *Serial) writeReg(off uint64, v byte) {
	s.mu.Lock()
	dlab := s.lcr&lcrDLAB != 0
	switch off {
	case regTHR: // also regDLL
		if dlab {
			s.dll = v
			break
		}
		s.transmit(v) // returns with mu held
	case regIER: // also regDLM
		if dlab {
			s.dlm = v
			break
		}
		old := s.ier
		s.ier = v & ierMask
		if old&ierTHRE == 0 && s.ier&ierTHRE != 0 && !s.txBusy {
			// Enabling ETBEI while THR is empty raises THRE again;
			// Linux's 8250 driver tests for this at startup.
			s.thrIntr = true
		}
	case regFCR:
		s.writeFCR(v)
	case regLCR:
		s.lcr = v
	case regMCR:
		s.writeMCR(v)
	case regLSR, regMSR:
		// Read-only on a 16550A (LSR writes are a factory test mode).
	case regSCR:
		s.scr = v
	}
	s.updateIRQ()
	s.mu.Unlock()
}

// transmit sends v. Called and returns with mu held; releases it while Out
// runs so that the host side and other vCPUs are not blocked by a slow Out.
// txMu, held by Write, keeps the order of bytes.
func (s *Serial) transmit(v byte) {
	s.thrIntr = false
	if s.mcr&mcrLoop != 0 {
		// Loopback: the transmitter feeds the receiver, nothing leaves.
		s.receiveLoopback(v)
		s.thrIntr = true
		return
	}
	// The line is left alone while the byte is in flight: the write
	// completes before the guest's OUT does, so THRE is pending again by
	// the time the guest could look, and a burst of writes from an
	// interrupt handler costs no extra KVM_IRQ_LINE calls.
	s.txBusy = true
	s.mu.Unlock()
	s.txBuf[0] = v
	_, err := s.out.Write(s.txBuf[:])
	s.mu.Lock()
	s.txBusy = false
	s.thrIntr = true
	s.stats.TxBytes++
	if err != nil && s.txErr == nil {
		s.txErr = err
		s.log.Warn("serial output is failing; guest console output is being lost",
			"device", s.name, "err", err)
	}
}

// receiveLoopback puts a looped-back byte into the receiver. A full
// receiver overruns: in FIFO mode the new byte is lost, in 16450 mode it
// replaces the unread one.
func (s *Serial) receiveLoopback(v byte) {
	if s.rx.n < s.rxCap() {
		s.rx.push(v)
		return
	}
	s.overrun = true
	s.stats.Overruns++
	if s.fcr&fcrEnable == 0 {
		s.rx.clear()
		s.rx.push(v)
	}
}

func (s *Serial) writeFCR(v byte) {
	enable := v & fcrEnable
	if enable != s.fcr&fcrEnable {
		// Switching between 16450 and FIFO mode empties both FIFOs.
		s.rx.clear()
		s.notifyRoom()
	}
	if enable == 0 {
		// FCR bits 1-7 are only written while FCR0 is set.
		s.fcr = 0
		return
	}
	if v&fcrClearRX != 0 {
		s.rx.clear()
		s.notifyRoom()
	}
	// fcrClearTX: the transmitter hands every byte to Out as it is
	// written, so the TX FIFO is already empty.
	s.fcr = v & fcrStored
	s.notifyRoom() // capacity may have grown from 1 to FIFOSize
}

func (s *Serial) writeMCR(v byte) {
	wasLoop := s.mcr&mcrLoop != 0
	s.mcr = v & mcrMask
	lines := byte(hostLines)
	if s.mcr&mcrLoop != 0 {
		lines = 0
		if s.mcr&mcrRTS != 0 {
			lines |= msrCTS
		}
		if s.mcr&mcrDTR != 0 {
			lines |= msrDSR
		}
		if s.mcr&mcrOUT1 != 0 {
			lines |= msrRI
		}
		if s.mcr&mcrOUT2 != 0 {
			lines |= msrDCD
		}
	}
	changed := lines ^ s.lines
	if changed&msrCTS != 0 {
		s.deltas |= msrDCTS
	}
	if changed&msrDSR != 0 {
		s.deltas |= msrDDSR
	}
	if changed&msrDCD != 0 {
		s.deltas |= msrDDCD
	}
	if changed&msrRI != 0 && lines&msrRI == 0 {
		s.deltas |= msrTERI
	}
	s.lines = lines
	if wasLoop && s.mcr&mcrLoop == 0 {
		s.notifyRoom() // the host may feed the receiver again
	}
}

// rxCap is the receiver's capacity: the FIFO, or the single RBR.
func (s *Serial) rxCap() int {
	if s.fcr&fcrEnable != 0 {
		return FIFOSize
	}
	return 1
}

// trigger is the receive FIFO level that raises a data-available interrupt.
func (s *Serial) trigger() int {
	if s.fcr&fcrEnable == 0 {
		return 1
	}
	switch s.fcr & fcrTriggerMask {
	case fcrTrigger4:
		return 4
	case fcrTrigger8:
		return 8
	case fcrTrigger14:
		return 14
	default:
		return 1
	}
}

func (s *Serial) lsr() byte {
	var v byte
	if s.rx.n > 0 {
		v |= lsrDR
	}
	if s.overrun {
		v |= lsrOE
	}
	if !s.txBusy {
		v |= lsrTHRE | lsrTEMT
	}
	return v
}

// iir computes the highest-priority pending interrupt. Bytes below the
// trigger level report a character timeout at once: there is no line
// whose silence could be timed, and the host delivers input in batches.
func (s *Serial) iir() byte {
	var v byte = iirNoInt
	switch {
	case s.ier&ierRLS != 0 && s.overrun:
		v = iirRLS
	case s.ier&ierRDA != 0 && s.rx.n >= s.trigger():
		v = iirRDA
	case s.ier&ierRDA != 0 && s.rx.n > 0:
		v = iirTimeout
	case s.ier&ierTHRE != 0 && s.thrIntr:
		v = iirTHRE
	case s.ier&ierMS != 0 && s.deltas != 0:
		v = iirMS
	}
	if s.fcr&fcrEnable != 0 {
		v |= iirFIFO
	}
	return v
}

// updateIRQ drives the interrupt line: high while an interrupt is pending
// and MCR.OUT2 connects the UART to the interrupt controller, as on a PC.
// Loopback mode forces the OUT2 pin inactive, so the line is low then.
// The line is only touched when the level changes.
func (s *Serial) updateIRQ() {
	level := s.iir()&iirNoInt == 0 && s.mcr&mcrOUT2 != 0 && s.mcr&mcrLoop == 0
	if level == s.irqLevel {
		return
	}
	s.irqLevel = level
	if s.irq != nil {
		s.irq.SetLevel(level)
	}
}

// fifo is a small ring buffer of received bytes.
type fifo struct {
	buf  [FIFOSize]byte
	head int
	n    int
}

func (f *fifo) push(b byte) {
	if f.n == FIFOSize {
		return // callers check capacity first; never overwrite
	}
	f.buf[(f.head+f.n)%FIFOSize] = b
	f.n++
}

func (f *fifo) pop() (byte, bool) {
	if f.n == 0 {
		return 0, false
	}
	b := f.buf[f.head]
	f.head = (f.head + 1) % FIFOSize
	f.n--
	return b, true
}

func (f *fifo) clear() { f.head, f.n = 0, 0 }
