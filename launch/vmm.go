package launch

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// VMM is a program that runs a Spec: gonest, QEMU, the lab's QEMU-TCG,
// Bochs. Run calls Check, then Command, starts the command and, once it
// has exited, Decode.
type VMM interface {
	// Name is a short name for logs, errors and the tail of the VMM's own
	// output: "gonest", "qemu".
	Name() string
	// Check reports what keeps this VMM from running spec (its binary
	// missing, a field it cannot honour), before anything starts.
	Check(spec *Spec) error
	// Command returns the command that runs spec, its channels wired
	// through w. Stdout, Stderr and Stdin left nil get the console, the
	// VMM log and Spec.Stdin.
	Command(ctx context.Context, spec *Spec, w *Wiring) (*exec.Cmd, error)
	// Decode turns the VMM's exit status into the verdict it carries, if
	// it carries one.
	Decode(status int) (guestabi.Verdict, bool)
}

// StatusBlind is a VMM whose exit status says nothing about its guest:
// Bochs exits 1 after the guest's ACPI power-off, after a panic of its
// own and after a configuration error alike. Run then judges the run by
// the guest's verdict message alone: with one, that is the verdict,
// whatever the status; without one, there is none. Such a VMM's Decode
// reports no verdict.
type StatusBlind interface {
	VMM
	// StatusBlind is a marker; it does nothing.
	StatusBlind()
}

// acceptGrace is how long Run lets a socket connection that a VMM made
// just before it exited still be accepted.
const acceptGrace = time.Second

// drainWait bounds the wait for a channel's reader after the VMM exited.
const drainWait = 5 * time.Second

// Wiring connects a VMM's channels to Run: the guest's console, the VMM's
// own output, and the message and marker channels, whichever kind the VMM
// offers.
type Wiring struct {
	rec     *recorder
	dir     string
	console *lines
	vmmLog  io.Writer
	diags   []*lines
	keep    int
	name    string

	mu        sync.Mutex
	child     []*os.File // the child's ends, closed here once it started
	done      []chan struct{}
	listeners []*net.UnixListener
}

// Console is the guest's console: lines prefixed with the level, kept for
// the tails, seen by Observer.Line.
func (w *Wiring) Console() io.Writer { return w.console }

// Diag is a writer for the VMM's own output: each line goes to the VMM log
// with prefix in front ("" or "[qemu] "), and is kept as the tail named
// after the VMM; hide, if set, keeps expected noise off both.
func (w *Wiring) Diag(prefix string, hide func(line string) bool) io.Writer {
	l := newLines(w.vmmLog, prefix, w.name, false, w.keep)
	l.filter = hide
	w.diags = append(w.diags, l)
	return l
}

// Dir is a directory for the VMM's files during the run, removed after.
func (w *Wiring) Dir() string { return w.dir }

// MessagePipe adds a pipe to cmd.ExtraFiles and returns the path the VMM
// opens to write message lines into it ("/proc/self/fd/3": a guest's
// devtmpfs has no /dev/fd link): gonest -messages.
func (w *Wiring) MessagePipe(cmd *exec.Cmd) (string, error) {
	return w.pipe(cmd, w.rec.messageStream(nil))
}

// ConsolePipe adds a pipe to cmd.ExtraFiles whose bytes are the guest's
// console, and returns the path the VMM opens to write it, for a VMM that
// writes its serial port to a file (Bochs: com1 mode=file).
func (w *Wiring) ConsolePipe(cmd *exec.Cmd) (string, error) {
	return w.pipe(cmd, w.console)
}

// Pipe adds a pipe to cmd.ExtraFiles whose bytes are copied to dst, and
// returns the path the VMM opens to write it: a file the VMM writes as it
// runs, its own log for instance (Bochs: log:), read while it is written
// and gone with the run.
func (w *Wiring) Pipe(cmd *exec.Cmd, dst io.Writer) (string, error) {
	return w.pipe(cmd, dst)
}

// pipe adds a pipe whose read end is copied to dst.
func (w *Wiring) pipe(cmd *exec.Cmd, dst io.Writer) (string, error) {
	r, wr, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("pipe: %w", err)
	}
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, wr)
	w.mu.Lock()
	w.child = append(w.child, wr)
	w.mu.Unlock()
	w.read(r, dst, r.Close)
	return fmt.Sprintf("/proc/self/fd/%d", fd), nil
}

// MessageSocket returns the path of a Unix socket the VMM connects to and
// writes message lines on (QEMU: -chardev socket,path=P with isa-debugcon
// on guestabi.MessagePort).
func (w *Wiring) MessageSocket() (string, error) {
	return w.socket("messages", w.rec.messageStream(nil))
}

// DebugconSockets is MarkerSocket and MessageSocket, for a VMM with an
// isa-debugcon on each port (QEMUReportArgs).
func (w *Wiring) DebugconSockets() (markers, messages string, err error) {
	if markers, err = w.MarkerSocket(); err == nil {
		messages, err = w.MessageSocket()
	}
	return markers, messages, err
}

// MarkerSocket returns the path of a Unix socket the VMM connects to and
// writes marker bytes on (QEMU: isa-debugcon on guestabi.MarkerPort).
// Marker messages are then messages only, not marks twice.
func (w *Wiring) MarkerSocket() (string, error) {
	w.rec.markerBytes = true
	return w.socket("markers", w.rec.markerStream())
}

// MessageLines returns a writer for a stream that carries message lines
// among other text (Bochs prints port 0xE9's bytes on its stdout):
// messages are recorded, other lines go to the VMM log.
func (w *Wiring) MessageLines() io.Writer {
	diag := w.Diag("", nil)
	return w.rec.messageStream(func(line []byte) {
		_, _ = diag.Write(append(line, '\n'))
	})
}

// socket listens on a Unix socket in the run's directory and copies what
// the first connection sends to dst.
func (w *Wiring) socket(name string, dst io.Writer) (string, error) {
	w.mu.Lock()
	path := filepath.Join(w.dir, fmt.Sprintf("%s%d.sock", name, len(w.listeners)))
	w.mu.Unlock()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", fmt.Errorf("%s socket: %w", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return // closed before the VMM connected
		}
		defer conn.Close()
		_, _ = io.Copy(dst, conn)
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = append(w.done, done)
	w.listeners = append(w.listeners, ln)
	return path, nil
}

// read copies r to dst until EOF in a goroutine; closeFn runs after.
func (w *Wiring) read(r io.Reader, dst io.Writer, closeFn func() error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(dst, r)
		_ = closeFn()
	}()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = append(w.done, done)
}

// started closes this process's copies of the child's ends of the pipes,
// so that their readers see EOF when the VMM exits.
func (w *Wiring) started() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.child {
		_ = f.Close()
	}
	w.child = nil
}

// finish waits for the channels' readers after the VMM exited, at most
// drainWait, and flushes the console.
func (w *Wiring) finish() {
	w.started()
	w.mu.Lock()
	listeners, done := w.listeners, w.done
	w.mu.Unlock()
	// The VMM has exited, so its connections, if it made them, are at EOF.
	// Closing a listener at once would drop a connection still in the
	// accept queue (a loaded host may not have run the reader yet), and
	// with it everything sent; a deadline lets Accept take it first.
	for _, ln := range listeners {
		_ = ln.SetDeadline(time.Now().Add(acceptGrace)) // an error: closed already
	}
	deadline := time.After(drainWait)
	for _, d := range done {
		select {
		case <-d:
		case <-deadline:
		}
	}
	for _, ln := range listeners {
		_ = ln.Close()
	}
	w.console.Flush()
	for _, d := range w.diags {
		d.Flush()
	}
}
