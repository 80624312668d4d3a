package serial

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// port is the guest's view: inb/outb at an offset.
type port struct{ s *Serial }

func (p port) in(off uint64) byte {
	b := make([]byte, 1)
	p.s.Read(off, b)
	return b[0]
}

func (p port) out(off uint64, v byte) { p.s.Write(off, []byte{v}) }

// linuxAutoconfig replays the probe in Linux's
// drivers/tty/serial/8250/8250_port.c (autoconfig, autoconfig_16550a,
// size_fifo) and returns the type Linux would settle on.
func linuxAutoconfig(p port) string {
	const (
		lcrConfModeA = 0x80 // UART_LCR_CONF_MODE_A (DLAB)
		lcrConfModeB = 0xbf // UART_LCR_CONF_MODE_B
		ierUUE       = 0x40 // UART_IER_UUE (XScale)
	)
	// Existence test: IER must hold 0 and 0x0f.
	scratch := p.in(regIER)
	p.out(regIER, 0)
	scratch2 := p.in(regIER) & 0x0f
	p.out(regIER, 0x0f)
	scratch3 := p.in(regIER) & 0x0f
	p.out(regIER, scratch)
	if scratch2 != 0 || scratch3 != 0x0f {
		return "none (IER test)"
	}
	saveMCR := p.in(regMCR)
	saveLCR := p.in(regLCR)
	// Loopback test: RTS|OUT2 must come back as CTS|DCD.
	p.out(regMCR, mcrLoop|0x0a)
	status1 := p.in(regMSR) & 0xf0
	p.out(regMCR, saveMCR)
	if status1 != 0x90 {
		return "none (loop test)"
	}
	p.out(regLCR, lcrConfModeB)
	p.out(regFCR, 0) // UART_EFR
	p.out(regLCR, 0)
	p.out(regFCR, fcrEnable)
	typ := ""
	switch p.in(regIIR) >> 6 {
	case 0:
		typ = "8250/16450"
	case 1:
		typ = "unknown"
	case 2:
		typ = "16550"
	case 3:
		typ = linux16550a(p, lcrConfModeA, lcrConfModeB, ierUUE)
	}
	p.out(regLCR, saveLCR)
	// Reset the UART as autoconfig does.
	p.out(regMCR, saveMCR)
	p.out(regFCR, fcrEnable)
	p.out(regFCR, fcrEnable|fcrClearRX|fcrClearTX)
	p.out(regFCR, 0)
	p.in(regRBR)
	p.out(regIER, 0)
	return typ
}

func linux16550a(p port, lcrConfModeA, lcrConfModeB, ierUUE byte) string {
	p.out(regLCR, lcrConfModeA)
	if p.in(regIIR) == 0 { // UART_EFR with DLAB set
		return "16650 (EFRv1)"
	}
	p.out(regLCR, lcrConfModeB)
	if p.in(regIIR) == 0 {
		return "16650V2 (EFRv2)"
	}
	// National Semiconductor SuperIO bank switching.
	p.out(regLCR, 0)
	status1 := p.in(regMCR)
	p.out(regLCR, 0xe0)
	status2 := p.in(2) // EXCR1
	if (status2^status1)&mcrLoop == 0 {
		p.out(regLCR, 0)
		p.out(regMCR, status1^mcrLoop)
		p.out(regLCR, 0xe0)
		status2 = p.in(2)
		p.out(regLCR, 0)
		p.out(regMCR, status1)
		if (status2^status1)&mcrLoop != 0 {
			return "NS16550A"
		}
	}
	// TI16750: IIR bit 5 follows the 64-byte FIFO bit only with DLAB set.
	p.out(regLCR, 0)
	p.out(regFCR, fcrEnable|fcr64Byte)
	s1 := p.in(regIIR) >> 5
	p.out(regFCR, fcrEnable)
	p.out(regLCR, lcrConfModeA)
	p.out(regFCR, fcrEnable|fcr64Byte)
	s2 := p.in(regIIR) >> 5
	p.out(regFCR, fcrEnable)
	p.out(regLCR, 0)
	if s1 == 6 && s2 == 7 {
		return "16750"
	}
	// XScale: IER.UUE writable.
	iersave := p.in(regIER)
	p.out(regIER, iersave&^ierUUE)
	if p.in(regIER)&ierUUE == 0 {
		p.out(regIER, iersave|ierUUE)
		if p.in(regIER)&ierUUE != 0 {
			return "XScale"
		}
	}
	p.out(regIER, iersave)
	if n := linuxSizeFIFO(p, lcrConfModeA); n == 64 {
		return "U6_16550A"
	}
	return "16550A"
}

// linuxSizeFIFO counts how many looped-back bytes the receive FIFO holds.
func linuxSizeFIFO(p port, lcrConfModeA byte) int {
	oldLCR := p.in(regLCR)
	p.out(regLCR, 0)
	oldFCR := p.in(regFCR) // reads IIR, as Linux does
	oldMCR := p.in(regMCR)
	p.out(regFCR, fcrEnable|fcrClearRX|fcrClearTX)
	p.out(regMCR, mcrLoop)
	p.out(regLCR, lcrConfModeA)
	oldDL := uint16(p.in(regDLL)) | uint16(p.in(regDLM))<<8
	p.out(regDLL, 1)
	p.out(regDLM, 0)
	p.out(regLCR, 0x03)
	for i := 0; i < 256; i++ {
		p.out(regTHR, byte(i))
	}
	count := 0
	for ; p.in(regLSR)&lsrDR != 0 && count < 256; count++ {
		p.in(regRBR)
	}
	p.out(regFCR, oldFCR)
	p.out(regMCR, oldMCR)
	p.out(regLCR, lcrConfModeA)
	p.out(regDLL, byte(oldDL))
	p.out(regDLM, byte(oldDL>>8))
	p.out(regLCR, oldLCR)
	return count
}

func TestLinuxAutoconfigFindsA16550A(t *testing.T) {
	var out bytes.Buffer
	p := port{New(Config{Out: &out})}
	assert.Equal(t, "16550A", linuxAutoconfig(p))
	assert.Equal(t, byte(iirNoInt), p.in(regIIR), "autoconfig leaves the port quiet")
	assert.Equal(t, 16, linuxSizeFIFO(p, 0x80))
	assert.Empty(t, out.String(), "probing in loopback must not leak bytes to the host")
}

// TestLinuxStartupTHRETests replays serial8250_do_startup's two THRE checks;
// failing them makes Linux poll the port with a timer (UART_BUG_THRE,
// UART_BUG_TXEN).
func TestLinuxStartupTHRETests(t *testing.T) {
	p := port{New(Config{})}
	require.NotZero(t, p.in(regLSR)&lsrTHRE)
	p.out(regIER, ierTHRE)
	iir1 := p.in(regIIR)
	p.out(regIER, 0)
	p.out(regIER, ierTHRE)
	iir := p.in(regIIR)
	p.out(regIER, 0)
	bugTHRE := iir1&iirNoInt == 0 && iir&iirNoInt != 0
	assert.False(t, bugTHRE, "THRE must be re-asserted when ETBEI is re-enabled (iir1=%#x iir=%#x)", iir1, iir)

	p.out(regLCR, 0x03)
	p.out(regMCR, mcrDTR|mcrRTS|mcrOUT2)
	p.out(regIER, ierTHRE)
	lsr := p.in(regLSR)
	iir = p.in(regIIR)
	p.out(regIER, 0)
	bugTXEN := lsr&lsrTEMT != 0 && iir&iirNoInt != 0
	assert.False(t, bugTXEN, "enabling ETBEI with an empty transmitter must raise THRE")
}

// TestInterruptDrivenTransmit plays Linux's interrupt handler: on each
// rising edge it reads IIR and LSR and refills up to 16 bytes; with nothing
// left it turns ETBEI off.
func TestInterruptDrivenTransmit(t *testing.T) {
	var out bytes.Buffer
	line := &levels{}
	s := New(Config{Out: &out, IRQ: line})
	p := port{s}
	msg := bytes.Repeat([]byte("interrupt-driven output "), 20)
	pending := msg
	p.out(regFCR, fcrEnable|fcrTrigger14)
	p.out(regMCR, mcrDTR|mcrRTS|mcrOUT2)
	p.out(regIER, ierRDA|ierRLS|ierTHRE) // start_tx
	interrupts := 0
	for rounds := 0; rounds < 1000; rounds++ {
		lv := line.take()
		if len(lv) == 0 || !lv[len(lv)-1] {
			break
		}
		interrupts++
		iir := p.in(regIIR)
		require.Zero(t, iir&iirNoInt, "line high but IIR shows nothing")
		if p.in(regLSR)&lsrTHRE == 0 {
			continue
		}
		if len(pending) == 0 {
			p.out(regIER, ierRDA|ierRLS) // stop_tx
			continue
		}
		for i := 0; i < FIFOSize && len(pending) > 0; i++ {
			p.out(regTHR, pending[0])
			pending = pending[1:]
		}
	}
	assert.Equal(t, string(msg), out.String())
	assert.Equal(t, (len(msg)+FIFOSize-1)/FIFOSize+1, interrupts)
	assert.Equal(t, byte(iirFIFO|iirNoInt), p.in(regIIR))
}

// guestReader drains the UART like a polling driver until want bytes came.
func guestReader(p port, want int) []byte {
	got := make([]byte, 0, want)
	for len(got) < want {
		lsr := p.in(regLSR)
		if lsr&lsrOE != 0 {
			panic("overrun")
		}
		if lsr&lsrDR != 0 {
			got = append(got, p.in(regRBR))
		}
	}
	return got
}

func TestFeedFromDeliversEverythingInOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		fifo bool
		size int
	}{
		{"16450 mode", false, 4 << 10}, // one byte per wake-up: keep it short
		{"FIFO mode", true, 64 << 10},
	} {
		fifo := tc.fifo
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range data {
				data[i] = byte(rng.UintN(256))
			}
			s := New(Config{})
			p := port{s}
			if fifo {
				// Before any input: enabling the FIFO empties the receiver.
				p.out(regFCR, fcrEnable|fcrTrigger14)
			}
			got := make(chan []byte)
			go func() { got <- guestReader(p, len(data)) }()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, s.FeedFrom(ctx, bytes.NewReader(data)))
			assert.True(t, bytes.Equal(data, <-got), "guest received different bytes")
			assert.Equal(t, uint64(len(data)), s.Stats().RxBytes)
			assert.Zero(t, s.Stats().Overruns)
		})
	}
}

func TestFeedStopsWhenContextEnds(t *testing.T) {
	s := New(Config{})
	s.Write(regFCR, []byte{fcrEnable})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Feed(ctx, make([]byte, 40))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "16 of 40 bytes delivered")
}

func TestWaitRoomWakesWhenGuestReads(t *testing.T) {
	s := New(Config{})
	require.Equal(t, 1, s.Enqueue([]byte("ab")))
	woke := make(chan error)
	go func() { woke <- s.WaitRoom(context.Background()) }()
	select {
	case err := <-woke:
		t.Fatalf("WaitRoom returned %v with a full receiver", err)
	case <-time.After(10 * time.Millisecond):
	}
	port{s}.in(regRBR)
	select {
	case err := <-woke:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("WaitRoom did not wake after the guest read RBR")
	}
}
