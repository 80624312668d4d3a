package serial

import (
	"fmt"
	"testing"
)

// checkInvariants verifies what must hold after any register sequence.
func (s *Serial) checkInvariants(line *levels) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rx.n < 0 || s.rx.n > s.rxCap() || s.rxCap() > FIFOSize {
		return fmt.Errorf("receiver holds %d bytes, capacity %d", s.rx.n, s.rxCap())
	}
	iir := s.iir()
	if iir&0x30 != 0 {
		return fmt.Errorf("IIR %#x has bits 4-5 set", iir)
	}
	switch id := iir & iirIDMask; {
	case iir&iirNoInt != 0 && id != 0:
		return fmt.Errorf("IIR %#x: no interrupt but an ID", iir)
	case iir&iirNoInt == 0 && id != iirMS && id != iirTHRE && id != iirRDA && id != iirRLS && id != iirTimeout:
		return fmt.Errorf("IIR %#x: unknown ID", iir)
	}
	if (iir&iirFIFO == iirFIFO) != (s.fcr&fcrEnable != 0) {
		return fmt.Errorf("IIR %#x disagrees with FCR %#x about the FIFOs", iir, s.fcr)
	}
	if iir&iirFIFO != 0 && iir&iirFIFO != iirFIFO {
		return fmt.Errorf("IIR %#x: FIFO bits half set", iir)
	}
	want := iir&iirNoInt == 0 && s.mcr&mcrOUT2 != 0 && s.mcr&mcrLoop == 0
	if s.irqLevel != want {
		return fmt.Errorf("line level %v, want %v (IIR %#x MCR %#x)", s.irqLevel, want, iir, s.mcr)
	}
	line.mu.Lock()
	got := len(line.got) > 0 && line.got[len(line.got)-1]
	for i := 1; i < len(line.got); i++ {
		if line.got[i] == line.got[i-1] {
			line.mu.Unlock()
			return fmt.Errorf("SetLevel(%v) twice in a row", line.got[i])
		}
	}
	line.mu.Unlock()
	if got != s.irqLevel {
		return fmt.Errorf("line driven %v, state says %v", got, s.irqLevel)
	}
	if (s.lsr()&lsrDR != 0) != (s.rx.n > 0) {
		return fmt.Errorf("LSR.DR disagrees with %d bytes held", s.rx.n)
	}
	if s.ier&^ierMask != 0 || s.mcr&^mcrMask != 0 || s.fcr&^fcrStored != 0 {
		return fmt.Errorf("unimplemented bits stored: IER %#x MCR %#x FCR %#x", s.ier, s.mcr, s.fcr)
	}
	return nil
}

// FuzzRegisters drives the UART with arbitrary (op, offset, value) triples:
// op%4 is 0 read, 1 write, 2 host input of value%20 bytes, 3 a 2-byte
// access. The offset is taken modulo 10, so accesses past the UART occur.
func FuzzRegisters(f *testing.F) {
	f.Add([]byte{1, 3, 0x80, 1, 0, 1, 1, 3, 3, 1, 2, 1, 0, 2, 0})
	f.Add([]byte{1, 4, 0x1a, 0, 6, 0, 1, 2, 0xc7, 2, 0, 19, 0, 5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		line := &levels{}
		s := New(Config{IRQ: line})
		for i := 0; i+2 < len(data); i += 3 {
			op, off, val := data[i]%4, uint64(data[i+1]%10), data[i+2]
			switch op {
			case 0:
				s.Read(off, make([]byte, 1))
			case 1:
				s.Write(off, []byte{val})
			case 2:
				in := make([]byte, val%20)
				if n := s.Enqueue(in); n > len(in) {
					t.Fatalf("Enqueue took %d of %d bytes", n, len(in))
				}
			case 3:
				if val&1 == 0 {
					s.Read(off, make([]byte, 2))
				} else {
					s.Write(off, []byte{val, ^val})
				}
			}
			if err := s.checkInvariants(line); err != nil {
				t.Fatalf("after triple %d (%d, %d, %#x): %v", i/3, op, off, val, err)
			}
		}
	})
}
