package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
)

// Signals and the terminal: SIGINT and SIGTERM stop the guest and exit
// 130/143; a second SIGINT forces the exit; whatever ends the run, the
// terminal gonest put in raw mode is restored exactly.

// proc is a gonest process the test talks to while it runs.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	done           chan struct{}
	err            error
}

// start starts gonest; stdio, when not nil, is its stdin, stdout and
// stderr (a pty), and output is what the test reads of them.
func start(t *testing.T, dir string, stdio *os.File, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(gonestBinary(t), args...), stdout: new(syncbuf.Buffer), stderr: new(syncbuf.Buffer), done: make(chan struct{})}
	p.cmd.Dir = dir
	if stdio != nil {
		p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = stdio, stdio, stdio
	} else {
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	}
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("gonest still running %s after the signal; stderr: %s", limit, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

// signal sends sigs in a row. The process is running for the first; it
// may have exited (the first one worked) before a later one.
func (p *proc) signal(t *testing.T, sigs ...syscall.Signal) {
	t.Helper()
	for i, s := range sigs {
		err := p.cmd.Process.Signal(s)
		if i > 0 && errors.Is(err, os.ErrProcessDone) {
			return
		}
		require.NoError(t, err, "send %v", s)
	}
}

// waitFor waits until read() holds want.
func waitFor(t *testing.T, what string, read func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(guestLimit)
	for !strings.Contains(read(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; got %q", what, want, read())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readyThenSpin prints "ready" and spins: a guest that only a signal or a
// timeout ends.
func readyThenSpin(t *testing.T, dir string) string {
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "ready\n").Spin()
	return tinyKernel(t, dir, "spin.elf", a.Bytes())
}

func TestSignals(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	k := readyThenSpin(t, dir)
	tests := []struct {
		name string
		sigs []syscall.Signal
		code int
		msg  string
	}{
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, 143, "gonest: received terminated\n"},
		{"SIGINT", []syscall.Signal{syscall.SIGINT}, 130, "gonest: received interrupt\n"},
		{"SIGINT twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130, "gonest: "},
		{"SIGHUP", []syscall.Signal{syscall.SIGHUP}, 129, "gonest: received hangup\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, dir, nil, "run", "-kernel", k)
			waitFor(t, "stdout", p.stdout.String, "ready\n")
			p.signal(t, tc.sigs...)
			assert.Equal(t, tc.code, p.wait(t, 20*time.Second))
			stderr := withoutWarnings(p.stderr.String())
			assert.Contains(t, stderr, tc.msg)
			assertNoCrash(t, stderr)
			assert.Equal(t, "ready\n", p.stdout.String())
		})
	}
}

// TestSignalWithDisk: SIGTERM with a disk attached flushes and exits 143
// cleanly, the disk intact.
func TestSignalWithDisk(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	k := readyThenSpin(t, dir)
	disk := make([]byte, 1<<20)
	copy(disk, "signal test disk")
	writeFile(t, dir, "disk.img", disk)
	p := start(t, dir, nil, "run", "-kernel", k, "-disk", "disk.img")
	waitFor(t, "stdout", p.stdout.String, "ready\n")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 143, p.wait(t, 20*time.Second))
	assert.Equal(t, "gonest: received terminated\n", withoutWarnings(p.stderr.String()), "no flush or close error")
	got, err := os.ReadFile(dir + "/disk.img")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(disk, got), "disk unchanged")
}

// TestStdoutClosed: `gonest run | head` on a terminal. When the reader of
// stdout goes away, gonest stops the guest, restores the terminal and
// exits 141, instead of dying of SIGPIPE with the terminal raw.
func TestStdoutClosed(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	var a tinyelf.Asm
	a.MovDX(boot.COM1Port).MovAL('x').OutB().Raw(0xeb, 0xfb) // print x forever (jmp to the mov al)
	k := tinyKernel(t, dir, "chatty.elf", a.Bytes())
	master, slave := openPTY(t)
	go io.Copy(io.Discard, master)
	before := termios(t, slave)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	p := &proc{cmd: exec.Command(gonestBinary(t), "run", "-kernel", k), stderr: new(syncbuf.Buffer), done: make(chan struct{})}
	p.cmd.Dir, p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = dir, slave, w, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill() })
	require.NoError(t, w.Close())
	buf := make([]byte, 10)
	_, err = io.ReadFull(r, buf)
	require.NoError(t, err)
	assert.Equal(t, "xxxxxxxxxx", string(buf))
	require.NoError(t, r.Close()) // like head -c 10
	assert.Equal(t, exitPipe, p.wait(t, 20*time.Second), "stderr: %s", p.stderr)
	assert.Contains(t, p.stderr.String(), "gonest: received broken pipe")
	assertNoCrash(t, p.stderr.String())
	assert.Equal(t, before, termios(t, slave), "terminal settings restored")
}

// openPTY returns a pseudo-terminal pair.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err, "the terminal tests need /dev/ptmx")
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0), "unlockpt")
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err, "ptsname")
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	require.NoError(t, err)
	return *tio
}

// TestTerminalRestored runs gonest on a pseudo-terminal and checks that
// every way a run ends leaves the terminal's settings as they were.
func TestTerminalRestored(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	spin := readyThenSpin(t, dir)
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "ready\n").Exit(boot.ExitPort, 42).Hlt()
	exit42 := tinyKernel(t, dir, "exit42.elf", a.Bytes())
	var f tinyelf.Asm
	f.Print(boot.COM1Port, "ready\n").Ud2()
	fault := tinyKernel(t, dir, "fault.elf", f.Bytes())
	tests := []struct {
		name   string
		args   []string
		action func(t *testing.T, p *proc, master *os.File)
		code   int
	}{
		{"SIGTERM", []string{"-kernel", spin}, sendSignals(syscall.SIGTERM), 143},
		{"SIGINT", []string{"-kernel", spin}, sendSignals(syscall.SIGINT), 130},
		{"SIGINT twice", []string{"-kernel", spin}, sendSignals(syscall.SIGINT, syscall.SIGINT), 130},
		{"Ctrl-A x", []string{"-kernel", spin}, func(t *testing.T, p *proc, master *os.File) {
			_, err := master.Write([]byte{0x01, 'x'})
			require.NoError(t, err)
		}, 0},
		{"-timeout", []string{"-kernel", spin, "-timeout", "3s"}, nil, 124},
		{"guest exit code", []string{"-kernel", exit42}, nil, 42},
		{"triple fault", []string{"-kernel", fault}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPTY(t)
			before := termios(t, slave)
			require.NotZero(t, before.Lflag&unix.ICANON, "a fresh pty starts in canonical mode")
			var out syncbuf.Buffer
			go io.Copy(&out, master) // drain: gonest must never block on output
			p := start(t, dir, slave, append([]string{"run"}, tc.args...)...)
			waitFor(t, "the terminal", out.String, "ready\r\n")
			if tc.action != nil {
				// The guest spins until the action: gonest is surely running.
				raw := termios(t, slave)
				assert.Zero(t, raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG), "gonest put the terminal in raw mode")
				tc.action(t, p, master)
			}
			assert.Equal(t, tc.code, p.wait(t, 30*time.Second), "output: %q", out.String())
			assert.Equal(t, before, termios(t, slave), "terminal settings restored")
			assertNoCrash(t, out.String())
		})
	}
}

func sendSignals(sigs ...syscall.Signal) func(t *testing.T, p *proc, master *os.File) {
	return func(t *testing.T, p *proc, master *os.File) {
		p.signal(t, sigs...)
	}
}
