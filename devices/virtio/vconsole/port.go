package vconsole

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/gonest/gonest/devices/virtio"

	"github.com/gonest/gonest/internal/iov"
)

// PortConfig is one named port and the host streams behind it.
type PortConfig struct {
	// Name is what the guest reads in /sys/class/virtio-ports/vportNpM/name
	// (and udev links as /dev/virtio-ports/NAME).
	Name string
	// In is sent to the guest, once a guest program has the port open.
	// At its end (io.EOF, or any error) the host end of the port closes:
	// the guest reads the rest, then end of file. Nil sends nothing and
	// leaves the host end open.
	In io.Reader
	// Out receives what the guest writes, in order, each byte once. Nil
	// discards it. A write error is logged and the rest is discarded, so
	// the guest never stalls on a reader that went away.
	Out io.Writer
	// OnGuestOpen, if set, is called with true when a guest program opens
	// the port and with false when it closes it; the false comes after
	// everything the guest wrote before closing has gone to Out.
	OnGuestOpen func(open bool)
}

// Port is one named port of a Device.
type Port struct {
	id   uint32 // 1..; port 0 is not used
	name string
	cfg  PortConfig
	d    *Device

	// Host → guest. The reader goroutine hands chunks over; pending is
	// the part of the last one not yet in a guest buffer, kept across
	// device resets, so no byte is dropped.
	chunks     chan chunk
	pending    []byte
	eof        bool        // the reader is done; pending is the last of it
	hostClosed atomic.Bool // every byte of In is in guest buffers and the host end is closed

	// Guest → host; outFailed belongs to whoever runs the transmitq.
	outFailed bool
	outErr    error // under mu

	mu       sync.Mutex
	open     bool          // a guest program has the port open
	openCh   chan struct{} // closed and replaced when open changes
	events   []bool        // open changes for the transmit worker to report
	eventsCh chan struct{}

	bytesIn, bytesOut atomic.Uint64
}

type chunk struct {
	data []byte
	err  error // set on the last chunk
}

func (p *Port) index() int { return int(p.id) - 1 }

// Name returns the port's name.
func (p *Port) Name() string { return p.name }

// ID returns the port number the guest sees (/dev/vportNpID).
func (p *Port) ID() uint32 { return p.id }

// Stats returns the bytes sent to the guest and received from it.
func (p *Port) Stats() (toGuest, fromGuest uint64) { return p.bytesIn.Load(), p.bytesOut.Load() }

// startReader reads In until it ends; each chunk waits for the port's
// receive worker to take it.
func (p *Port) startReader(done <-chan struct{}) {
	if p.cfg.In == nil {
		return
	}
	go func() {
		for {
			buf := make([]byte, readChunk)
			n, err := p.cfg.In.Read(buf)
			if n == 0 && err == nil {
				continue
			}
			c := chunk{data: buf[:n], err: err}
			select {
			case p.chunks <- c:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

// setGuestOpen records a PORT_OPEN from the guest.
func (p *Port) setGuestOpen(open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open != open {
		p.open = open
		close(p.openCh)
		p.openCh = make(chan struct{})
	}
	p.events = append(p.events, open)
	select {
	case p.eventsCh <- struct{}{}:
	default:
	}
}

// guestGone forgets the guest's open after a device reset: the driver
// that had it open is gone.
func (p *Port) guestGone() {
	if open, _ := p.guestOpen(); open {
		p.setGuestOpen(false)
	}
}

// guestOpen returns whether the port is open and a channel closed when
// that changes.
func (p *Port) guestOpen() (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, p.openCh
}

// rxLoop puts the host's bytes into the buffers the guest posted on the
// port's receiveq, only while a guest program has the port open (Linux
// discards data for a closed port: in_intr), until stop is closed.
func (p *Port) rxLoop(q *virtio.Queue, ctl *control, stop <-chan struct{}) {
	var ch virtio.Chain
	filled := 0
	for {
		if len(p.pending) == 0 && !p.eof {
			q.SignalUsed()
			select {
			case <-stop:
				return
			case c := <-p.chunks:
				p.pending, p.eof = c.data, c.err != nil
			}
			continue
		}
		if len(p.pending) == 0 { // and eof: everything is in guest buffers
			q.SignalUsed()
			if !p.hostClosed.Swap(true) {
				ctl.hostClosed(p)
			}
			<-stop
			return
		}
		open, changed := p.guestOpen()
		if !open {
			q.SignalUsed()
			select {
			case <-stop:
				return
			case <-changed:
			}
			continue
		}
		got, live := popOrWait(q, &ch, stop, changed)
		if !live {
			return
		}
		if !got {
			continue
		}
		n := iov.Scatter(ch.Writable, p.pending)
		p.pending = p.pending[n:]
		p.bytesIn.Add(uint64(n))
		q.Push(ch.Head, uint32(n))
		if filled++; filled%32 == 0 {
			q.SignalUsed()
		}
	}
}

// txLoop writes what the guest sends on the port's transmitq to Out, in
// order, and reports open and close, until stop is closed.
func (p *Port) txLoop(q *virtio.Queue, stop <-chan struct{}) {
	var ch virtio.Chain
	for {
		if !virtio.Drain(q, stop, &ch, p.txHandler) {
			return
		}
		p.reportEvents()
		select {
		case <-stop:
			return
		case <-q.Kicked():
		case <-p.eventsCh:
		}
	}
}

// txHandler is the transmitq's virtio.Handler: the chain's readable
// buffers, in order, go to Out.
func (p *Port) txHandler(ch *virtio.Chain) (uint32, error) {
	for _, b := range ch.Readable {
		p.bytesOut.Add(uint64(len(b)))
		p.write(b)
	}
	return 0, nil
}

func (p *Port) write(b []byte) {
	if len(b) == 0 || p.cfg.Out == nil || p.outFailed {
		return
	}
	n, err := p.cfg.Out.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		p.outFailed = true
		p.mu.Lock()
		p.outErr = err
		p.mu.Unlock()
		p.d.log.Warn("virtio-console: writing a port's output failed; the rest is discarded", "port", p.name, "err", err)
	}
}

// reportEvents calls OnGuestOpen for each open or close since the last
// call. The transmit worker calls it once the queue is drained, so a
// close is reported after the bytes written before it.
func (p *Port) reportEvents() {
	p.mu.Lock()
	events := p.events
	p.events = nil
	p.mu.Unlock()
	if p.cfg.OnGuestOpen == nil {
		return
	}
	for _, open := range events {
		p.cfg.OnGuestOpen(open)
	}
}

// Err returns the error that stopped Out, if any.
func (p *Port) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outErr
}

// popOrWait takes the next chain of q into c. With none there it
// signals the chains used so far, asks for a kick and sleeps until one
// comes, wake fires (nil: never) or stop closes. got says whether c holds
// a chain; live is false once stop closed or the driver broke the queue
// (the device then awaits a reset).
func popOrWait(q *virtio.Queue, c *virtio.Chain, stop, wake <-chan struct{}) (got, live bool) {
	ok, err := q.Pop(c)
	switch {
	case err != nil:
		return false, false
	case ok:
		return true, true
	}
	q.SignalUsed()
	if q.Idle() {
		select {
		case <-stop:
			return false, false
		case <-wake:
		case <-q.Kicked():
		}
	}
	return false, true
}
