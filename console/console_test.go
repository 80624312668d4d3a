package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/serial"
)

func TestEscaper(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   string
		act    action
	}{
		{"plain bytes", []string{"hello\r"}, "hello\r", actNone},
		{"Ctrl-A x quits", []string{"ab\x01xcd"}, "ab", actQuit},
		{"Ctrl-A X quits too", []string{"\x01X"}, "", actQuit},
		{"Ctrl-A Ctrl-A sends one Ctrl-A", []string{"a\x01\x01b"}, "a\x01b", actNone},
		{"sequence split across reads", []string{"a\x01", "xb"}, "a", actQuit},
		{"literal split across reads", []string{"\x01", "\x01", "z"}, "\x01z", actNone},
		{"Ctrl-A h asks for help", []string{"q\x01hr"}, "qr", actHelp},
		{"help then quit in one read", []string{"\x01h\x01x"}, "", actHelp | actQuit},
		{"unknown sequence is dropped", []string{"1\x01z2"}, "12", actNone},
		{"Ctrl-C goes to the guest", []string{"\x03"}, "\x03", actNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e escaper
			var got []byte
			act := actNone
			for _, c := range tt.chunks {
				out, a := e.filter([]byte(c))
				got = append(got, out...)
				act |= a
				if a&actQuit != 0 {
					break
				}
			}
			assert.Equal(t, tt.want, string(got))
			assert.Equal(t, tt.act, act)
		})
	}
}

func TestCRLFWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"line\n", "line\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"already\r\n", "already\r\n"},
		{"\n", "\r\n"},
		{"none", "none"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			var buf bytes.Buffer
			n, err := crlfWriter{&buf}.Write([]byte(tt.in))
			require.NoError(t, err)
			assert.Equal(t, len(tt.in), n)
			assert.Equal(t, tt.want, buf.String())
		})
	}
	c := &Console{}
	var buf bytes.Buffer
	assert.Equal(t, &buf, c.HostWriter(&buf), "no terminal: no translation")
}

// recorder is an Input that keeps what it is fed.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	err error
}

func (r *recorder) Feed(ctx context.Context, b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(b)
	return r.err
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func TestPipePassesEverythingThrough(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	c, err := Open(pr)
	require.NoError(t, err)
	require.False(t, c.Terminal())
	data := "echo hi\n\x01x\x01\x01\x03more"
	go func() {
		pw.Write([]byte(data))
		pw.Close()
	}()
	var rec recorder
	quits := 0
	require.NoError(t, c.Run(context.Background(), &rec, func() { quits++ }, nil), "EOF is a normal end")
	assert.Equal(t, data, rec.String(), "no escape processing without a terminal")
	assert.Zero(t, quits, "EOF on stdin must not quit the VM")
	assert.NoError(t, c.Restore())
	assert.NoError(t, c.Restore())
}

func TestRunStopsWithContext(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	defer pw.Close()
	c, err := Open(pr)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error)
	go func() { res <- c.Run(ctx, &recorder{}, nil, nil) }()
	cancel()
	select {
	case err := <-res:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunReportsFeedErrors(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	c, err := Open(pr)
	require.NoError(t, err)
	go func() {
		pw.Write([]byte("x"))
		pw.Close()
	}()
	boom := errors.New("guest gone")
	err = c.Run(context.Background(), &recorder{err: boom}, nil, nil)
	assert.ErrorIs(t, err, boom)
}

func TestPipeIntoSerialLosesNothing(t *testing.T) {
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 1024) // 17 KiB
	go func() {
		pw.Write(data)
		pw.Close()
	}()
	uart := serial.New(serial.Config{})
	uart.Write(2, []byte{0x01}) // FCR: FIFO on
	got := make(chan []byte)
	go func() {
		var b []byte
		for len(b) < len(data) {
			lsr := []byte{0}
			uart.Read(5, lsr)
			if lsr[0]&0x01 != 0 {
				rbr := []byte{0}
				uart.Read(0, rbr)
				b = append(b, rbr[0])
			}
		}
		got <- b
	}()
	c, err := Open(pr)
	require.NoError(t, err)
	require.NoError(t, c.Run(context.Background(), uart, nil, nil))
	assert.True(t, bytes.Equal(data, <-got))
}

// openPTY returns a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no /dev/ptmx on this host: the terminal tests need a pseudo-terminal")
	}
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0), "unlockpt")
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err, "ptsname")
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestTerminalRawModeEscapeAndRestore(t *testing.T) {
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	require.NotZero(t, before.Lflag&unix.ICANON, "a fresh pty starts in canonical mode")

	c, err := Open(slave)
	require.NoError(t, err)
	defer c.Restore()
	require.True(t, c.Terminal())
	raw, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	assert.Zero(t, raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG), "raw mode: no line editing, echo or signals")
	assert.Zero(t, raw.Iflag&unix.ICRNL, "raw mode: Enter arrives as \\r")
	assert.Zero(t, raw.Oflag&unix.OPOST, "raw mode: output untouched")

	// No newline: in canonical mode these bytes would never be read.
	_, err = master.Write([]byte("ls\r\x03\x01\x01\x01h\x01xignored"))
	require.NoError(t, err)
	var rec recorder
	var help bytes.Buffer
	quit := make(chan struct{})
	err = c.Run(context.Background(), &rec, func() { close(quit) }, &help)
	require.NoError(t, err)
	select {
	case <-quit:
	default:
		t.Fatal("Ctrl-A x did not call quit")
	}
	assert.Equal(t, "ls\r\x03\x01", rec.String())
	assert.Contains(t, help.String(), "C-a x")

	require.NoError(t, c.Restore())
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	assert.Equal(t, *before, *after, "Restore brings the terminal back exactly")
	assert.NoError(t, c.Restore(), "a second Restore is harmless")
	assert.Equal(t, "\r\nfoo\r\n", crlf(t, c, "\nfoo\n"))
}

func crlf(t *testing.T, c *Console, s string) string {
	t.Helper()
	var buf bytes.Buffer
	_, err := c.HostWriter(&buf).Write([]byte(s))
	require.NoError(t, err)
	return buf.String()
}

func TestRestoreFromManyGoroutines(t *testing.T) {
	_, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	c, err := Open(slave)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, c.Restore())
		}()
	}
	wg.Wait()
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	assert.Equal(t, *before, *after)
}
