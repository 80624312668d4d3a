package portio

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
)

// Writer writes the ports it was opened for, from one locked OS thread.
// Its methods may be called from any goroutine.
type Writer struct {
	ops   ops
	ports []uint16
	reqs  chan request
	quit  chan struct{} // closed by Close
	done  chan struct{} // closed when the thread has stopped
	once  sync.Once
}

// ops are the privileged operations a Writer's thread performs; tests
// give fakes that record the thread.
type ops struct {
	ioperm func(port uint16) error
	outb   func(port uint16, b byte)
	outsb  func(port uint16, data []byte)
}

var sysOps = ops{ioperm: ioperm, outb: outb, outsb: outsb}

// request is one write, done on the Writer's thread.
type request struct {
	port  uint16
	data  []byte
	rep   bool // rep outsb of data; else outb of data[0]
	reply chan error
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("port writer closed")

// Open starts the Writer's thread and grants it access to ports. An error
// (EPERM without CAP_SYS_RAWIO, ENOSYS on a kernel without ioperm) leaves
// nothing running.
func Open(ports ...uint16) (*Writer, error) { return open(sysOps, ports) }

func open(o ops, ports []uint16) (*Writer, error) {
	if len(ports) == 0 {
		return nil, errors.New("portio: no ports to open")
	}
	w := &Writer{ops: o, ports: slices.Clone(ports), reqs: make(chan request),
		quit: make(chan struct{}), done: make(chan struct{})}
	started := make(chan error, 1)
	go w.loop(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

// loop is the Writer's thread: it never unlocks, so the thread, which
// holds the I/O permission, ends with the goroutine instead of serving
// other goroutines.
func (w *Writer) loop(started chan<- error) {
	runtime.LockOSThread()
	defer close(w.done)
	for _, p := range w.ports {
		if err := w.ops.ioperm(p); err != nil {
			started <- fmt.Errorf("ioperm port 0x%x: %w (port I/O needs root, CAP_SYS_RAWIO, and a kernel with CONFIG_X86_IOPL_IOPERM)", p, err)
			return
		}
	}
	started <- nil
	for {
		var r request
		select {
		case r = <-w.reqs:
		case <-w.quit:
			return
		}
		if r.rep {
			w.ops.outsb(r.port, r.data)
		} else {
			w.ops.outb(r.port, r.data[0])
		}
		r.reply <- nil
	}
}

// OutB writes b to port, as the instruction outb does.
func (w *Writer) OutB(port uint16, b byte) error {
	return w.do(request{port: port, data: []byte{b}})
}

// OutSB writes data to port byte by byte in one rep outsb, as a driver
// writes a FIFO: the VMM sees one exit per byte, or one for the string.
func (w *Writer) OutSB(port uint16, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return w.do(request{port: port, data: data, rep: true})
}

func (w *Writer) do(r request) error {
	if !slices.Contains(w.ports, r.port) {
		// Executing it would fault: the thread has no permission there.
		return fmt.Errorf("portio: port 0x%x was not opened (open: %x)", r.port, w.ports)
	}
	r.reply = make(chan error, 1)
	select {
	case w.reqs <- r:
	case <-w.done:
		return ErrClosed
	}
	return <-r.reply
}

// Close stops the thread; later writes return ErrClosed.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.quit) })
	<-w.done
	return nil
}
