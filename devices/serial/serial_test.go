package serial

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

// step is one guest or host action on the UART.
type step struct {
	op   string // "w" write, "r" read and compare, "enq" host input
	off  uint64
	val  byte   // value written
	want byte   // value read; for "enq", the count accepted
	in   string // host input for "enq"
}

func w(off uint64, v byte) step    { return step{op: "w", off: off, val: v} }
func r(off uint64, want byte) step { return step{op: "r", off: off, want: want} }
func enq(in string, accepted byte) step {
	return step{op: "enq", in: in, want: accepted}
}

func runSteps(t *testing.T, s *Serial, steps []step) {
	t.Helper()
	for i, st := range steps {
		switch st.op {
		case "w":
			s.Write(st.off, []byte{st.val})
		case "r":
			got := make([]byte, 1)
			s.Read(st.off, got)
			assert.Equal(t, fmt.Sprintf("%#02x", st.want), fmt.Sprintf("%#02x", got[0]),
				"step %d: read offset %d", i, st.off)
		case "enq":
			got := s.Enqueue([]byte(st.in))
			assert.Equal(t, int(st.want), got, "step %d: enqueue %q", i, st.in)
		default:
			t.Fatalf("step %d: unknown op %q", i, st.op)
		}
	}
}

func TestRegisters(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"reset state", []step{
			r(regIER, 0), r(regIIR, 0x01), r(regLCR, 0), r(regMCR, 0),
			r(regLSR, lsrTHRE|lsrTEMT), r(regMSR, hostLines), r(regSCR, 0),
		}},
		{"divisor latch behind DLAB", []step{
			w(regLCR, lcrDLAB), r(regDLL, defaultDivisor), r(regDLM, 0),
			w(regDLL, 0x01), w(regDLM, 0x02), r(regDLL, 0x01), r(regDLM, 0x02),
			w(regLCR, 0x03), r(regIER, 0), r(regLCR, 0x03),
			w(regLCR, 0x83), r(regDLL, 0x01), r(regDLM, 0x02),
		}},
		{"IER keeps only the 16550A bits", []step{
			w(regIER, 0xff), r(regIER, 0x0f), w(regIER, 0x40), r(regIER, 0),
		}},
		{"MCR keeps only the 16550A bits", []step{w(regMCR, 0xff), r(regMCR, 0x1f)}},
		{"LCR reads back whole", []step{w(regLCR, 0x7f), r(regLCR, 0x7f)}},
		{"scratch register", []step{w(regSCR, 0xa5), r(regSCR, 0xa5), w(regSCR, 0x5a), r(regSCR, 0x5a)}},
		{"LSR and MSR ignore writes", []step{
			w(regLSR, 0xff), r(regLSR, lsrTHRE|lsrTEMT), w(regMSR, 0x0f), r(regMSR, hostLines),
		}},
		{"FIFO enable shows in IIR bits 6-7", []step{
			w(regFCR, fcrEnable), r(regIIR, iirFIFO|iirNoInt),
			w(regFCR, 0), r(regIIR, iirNoInt),
			w(regFCR, fcrTrigger14), r(regIIR, iirNoInt), // not written without FCR0
		}},
		{"16750 64-byte bit is ignored", []step{
			w(regFCR, fcrEnable|fcr64Byte), r(regIIR, iirFIFO|iirNoInt),
		}},
		{"loopback probe sees RTS and OUT2 as CTS and DCD", []step{
			w(regMCR, mcrLoop|mcrRTS|mcrOUT2), r(regMSR, msrDCD|msrCTS|msrDDSR),
		}},
		{"loopback maps every output", []step{
			w(regMCR, mcrLoop|mcrDTR|mcrRTS|mcrOUT1|mcrOUT2), r(regMSR, msrDCD|msrRI|msrDSR|msrCTS),
			r(regMSR, msrDCD|msrRI|msrDSR|msrCTS),
		}},
		{"modem status deltas and trailing edge of RI", []step{
			w(regMCR, mcrLoop), r(regMSR, msrDDCD|msrDDSR|msrDCTS), r(regMSR, 0),
			w(regMCR, mcrLoop|mcrOUT1), r(regMSR, msrRI), // leading edge: no TERI
			w(regMCR, mcrLoop), r(regMSR, msrTERI),
			w(regMCR, 0), r(regMSR, hostLines|msrDDCD|msrDDSR|msrDCTS),
		}},
		{"THRE interrupt on enable, acknowledged by IIR read", []step{
			w(regIER, ierTHRE), r(regIIR, iirTHRE), r(regIIR, iirNoInt),
			w(regIER, 0), w(regIER, ierTHRE), r(regIIR, iirTHRE), // re-enable raises it again
			w(regIER, ierTHRE), r(regIIR, iirNoInt), // no 0->1 edge: nothing new
		}},
		{"THR write re-raises THRE once the byte is sent", []step{
			w(regIER, ierTHRE), r(regIIR, iirTHRE), r(regIIR, iirNoInt),
			w(regTHR, 'x'), r(regLSR, lsrTHRE|lsrTEMT), r(regIIR, iirTHRE), r(regIIR, iirNoInt),
		}},
		{"16450 mode holds one byte", []step{
			enq("ab", 1), r(regLSR, lsrDR|lsrTHRE|lsrTEMT),
			w(regIER, ierRDA), r(regIIR, iirRDA),
			r(regRBR, 'a'), r(regLSR, lsrTHRE|lsrTEMT), r(regIIR, iirNoInt),
			r(regRBR, 'a'), // an empty receiver reads the last byte again
		}},
		{"FIFO trigger level and character timeout", []step{
			w(regFCR, fcrEnable|fcrTrigger4), w(regIER, ierRDA),
			enq("abc", 3), r(regIIR, iirFIFO|iirTimeout),
			enq("d", 1), r(regIIR, iirFIFO|iirRDA),
			r(regRBR, 'a'), r(regIIR, iirFIFO|iirTimeout),
			r(regRBR, 'b'), r(regRBR, 'c'), r(regRBR, 'd'), r(regIIR, iirFIFO|iirNoInt),
		}},
		{"FIFO takes sixteen bytes, no more", []step{
			w(regFCR, fcrEnable|fcrTrigger14),
			enq("0123456789abcdefXYZ", 16), enq("X", 0),
			r(regRBR, '0'), enq("XYZ", 1), r(regLSR, lsrDR|lsrTHRE|lsrTEMT),
		}},
		{"trigger levels 1 and 8", []step{
			w(regFCR, fcrEnable|fcrTrigger8), w(regIER, ierRDA),
			enq("1234567", 7), r(regIIR, iirFIFO|iirTimeout), enq("8", 1), r(regIIR, iirFIFO|iirRDA),
			w(regFCR, fcrEnable|fcrClearRX|fcrTrigger1), r(regIIR, iirFIFO|iirNoInt),
			enq("x", 1), r(regIIR, iirFIFO|iirRDA),
		}},
		{"FCR resets and mode changes empty the receiver", []step{
			w(regFCR, fcrEnable), enq("abc", 3),
			w(regFCR, fcrEnable|fcrClearRX), r(regLSR, lsrTHRE|lsrTEMT),
			enq("abc", 3), w(regFCR, fcrEnable|fcrClearTX), r(regLSR, lsrDR|lsrTHRE|lsrTEMT),
			w(regFCR, 0), r(regLSR, lsrTHRE|lsrTEMT),
		}},
		{"loopback feeds the receiver and shuts out the host", []step{
			w(regFCR, fcrEnable), w(regMCR, mcrLoop), enq("h", 0),
			w(regTHR, 'a'), w(regTHR, 'b'), r(regRBR, 'a'), r(regRBR, 'b'),
			r(regLSR, lsrTHRE|lsrTEMT), w(regMCR, 0), enq("h", 1),
		}},
		{"loopback overrun in 16450 mode keeps the newest byte", []step{
			w(regMCR, mcrLoop), w(regTHR, 'x'), w(regTHR, 'y'),
			w(regIER, ierRLS|ierRDA), r(regIIR, iirRLS),
			r(regLSR, lsrDR|lsrOE|lsrTHRE|lsrTEMT), r(regLSR, lsrDR|lsrTHRE|lsrTEMT),
			r(regIIR, iirRDA), r(regRBR, 'y'),
		}},
		{"interrupt priorities", []step{
			w(regFCR, fcrEnable), w(regMCR, mcrLoop), w(regMCR, 0), // MSR deltas pending
			w(regIER, ierMask), r(regIIR, iirFIFO|iirTHRE), r(regIIR, iirFIFO|iirMS),
			enq("a", 1), r(regIIR, iirFIFO|iirRDA),
			r(regMSR, hostLines|msrDDCD|msrDDSR|msrDCTS), r(regIIR, iirFIFO|iirRDA),
			r(regRBR, 'a'), r(regIIR, iirFIFO|iirNoInt),
		}},
		{"masked sources do not show", []step{
			enq("a", 1), w(regIER, ierTHRE), r(regIIR, iirTHRE), r(regIIR, iirNoInt),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, New(Config{}), tt.steps)
		})
	}
}

func TestWideAccessesTouchConsecutiveRegisters(t *testing.T) {
	s := New(Config{})
	s.Write(regLCR, []byte{0x03, mcrDTR}) // LCR then MCR
	got := make([]byte, 4)
	s.Read(regLCR, got) // LCR, MCR, LSR, MSR
	assert.Equal(t, []byte{0x03, mcrDTR, lsrTHRE | lsrTEMT, hostLines}, got)

	past := []byte{0, 0}
	s.Read(regSCR, past)
	assert.Equal(t, []byte{0, 0xff}, past, "bytes past the UART read as a floating bus")
	s.Write(Size, []byte{1}) // ignored, must not panic
	s.Read(0, nil)
	s.Write(0, nil)
}

// levels records the interrupt line.
type levels struct {
	mu  sync.Mutex
	got []bool
}

func (l *levels) SetLevel(high bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, high)
}

func (l *levels) take() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = nil
	return out
}

func TestInterruptLine(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []bool
	}{
		{"no OUT2, no line", []step{w(regIER, ierTHRE)}, nil},
		{"OUT2 gates a pending THRE", []step{w(regIER, ierTHRE), w(regMCR, mcrOUT2)}, []bool{true}},
		{"IIR read lowers, THR write raises again", []step{
			w(regMCR, mcrOUT2), w(regIER, ierTHRE), r(regIIR, iirTHRE), w(regTHR, 'x'),
		}, []bool{true, false, true}},
		{"a burst of THR writes keeps the line up without toggling", []step{
			w(regMCR, mcrOUT2), w(regIER, ierTHRE), w(regTHR, 'a'), w(regTHR, 'b'), w(regTHR, 'c'),
		}, []bool{true}},
		{"received data raises until drained", []step{
			w(regMCR, mcrOUT2), w(regIER, ierRDA), enq("a", 1), r(regRBR, 'a'),
		}, []bool{true, false}},
		{"loopback forces the line low", []step{
			w(regMCR, mcrOUT2), w(regIER, ierTHRE), w(regMCR, mcrOUT2|mcrLoop), w(regMCR, mcrOUT2),
		}, []bool{true, false, true}},
		{"disabling the source lowers it", []step{
			w(regMCR, mcrOUT2), w(regIER, ierTHRE), w(regIER, 0),
		}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := &levels{}
			s := New(Config{IRQ: line})
			runSteps(t, s, tt.steps)
			assert.Equal(t, tt.want, line.take())
		})
	}
}

func TestTransmitOrderAndStats(t *testing.T) {
	var out bytes.Buffer
	s := New(Config{Out: &out})
	msg := []byte("hello, gonest\r\n")
	for _, b := range msg {
		s.Write(regTHR, []byte{b})
	}
	// Loopback output stays inside the UART.
	s.Write(regMCR, []byte{mcrLoop})
	s.Write(regTHR, []byte{'!'})
	assert.Equal(t, string(msg), out.String())
	assert.Equal(t, Stats{TxBytes: uint64(len(msg))}, s.Stats())
	assert.NoError(t, s.Err())
}

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

func TestTransmitErrorIsKept(t *testing.T) {
	boom := errors.New("broken pipe")
	s := New(Config{Out: failWriter{boom}})
	s.Write(regTHR, []byte{'a'})
	s.Write(regTHR, []byte{'b'})
	require.Error(t, s.Err())
	assert.ErrorIs(t, s.Err(), boom)
	// The transmitter is still honest about being empty.
	lsr := make([]byte, 1)
	s.Read(regLSR, lsr)
	assert.Equal(t, byte(lsrTHRE|lsrTEMT), lsr[0])
}

// blockingWriter holds each Write until released.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	buf     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.buf.Write(p)
}

func TestBusyTransmitterIsVisibleAndDoesNotBlockInput(t *testing.T) {
	out := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	s := New(Config{Out: out})
	done := make(chan struct{})
	go func() {
		s.Write(regTHR, []byte{'z'})
		close(done)
	}()
	<-out.entered
	lsr := make([]byte, 1)
	s.Read(regLSR, lsr)
	assert.Equal(t, byte(0), lsr[0]&(lsrTHRE|lsrTEMT), "THRE and TEMT clear while the byte is in flight")
	assert.Equal(t, 1, s.Enqueue([]byte("k")), "host input is not blocked by a slow Out")
	close(out.release)
	<-done
	s.Read(regLSR, lsr)
	assert.Equal(t, byte(lsrDR|lsrTHRE|lsrTEMT), lsr[0])
	assert.Equal(t, "z", out.buf.String())
}

func TestConcurrentWritersKeepTheirOwnOrder(t *testing.T) {
	var out bytes.Buffer
	s := New(Config{Out: &out})
	const n = 500
	var wg sync.WaitGroup
	for _, base := range []byte{'a', 'A'} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				s.Write(regTHR, []byte{base + byte(i%26)})
			}
		}()
	}
	wg.Wait()
	got := out.Bytes()
	require.Len(t, got, 2*n)
	var lower, upper []byte
	for _, b := range got {
		if b >= 'a' {
			lower = append(lower, b)
		} else {
			upper = append(upper, b)
		}
	}
	for i := 0; i < n; i++ {
		require.Equal(t, byte('a'+i%26), lower[i], "lowercase byte %d", i)
		require.Equal(t, byte('A'+i%26), upper[i], "uppercase byte %d", i)
	}
}

var _ devices.Device = (*Serial)(nil)
var _ devices.Named = (*Serial)(nil)

// TestTransmitDoesNotAllocate: every guest console byte is an exit, so the
// transmit path must not feed the garbage collector.
func TestTransmitDoesNotAllocate(t *testing.T) {
	s := New(Config{Out: io.Discard})
	b := []byte{'x'}
	allocs := testing.AllocsPerRun(1000, func() { s.Write(regTHR, b) })
	assert.Zero(t, allocs)
}
