package vconsole

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gonest/gonest/devices/virtio"

	"github.com/gonest/gonest/internal/iov"
)

// Control is one struct virtio_console_control, with the port name that
// follows a PORT_NAME message.
type Control struct {
	ID    uint32
	Event uint16
	Value uint16
	Name  string
}

func (c Control) String() string {
	return fmt.Sprintf("port %d event %d value %d", c.ID, c.Event, c.Value)
}

// Encode lays the message out as the driver reads it: the 8-byte header,
// then for PORT_NAME the name and a NUL (as QEMU sends it).
func (c Control) Encode() []byte {
	b := make([]byte, controlSize, controlSize+len(c.Name)+1)
	binary.LittleEndian.PutUint32(b[controlID:], c.ID)
	binary.LittleEndian.PutUint16(b[controlEvent:], c.Event)
	binary.LittleEndian.PutUint16(b[controlValue:], c.Value)
	if c.Event == EventPortName {
		b = append(append(b, c.Name...), 0)
	}
	return b
}

// ParseControl reads the message at the start of b, which a driver sent.
// Bytes after the header are ignored: no driver → device message carries
// more.
func ParseControl(b []byte) (Control, error) {
	if len(b) < controlSize {
		return Control{}, fmt.Errorf("control message of %d bytes, want %d", len(b), controlSize)
	}
	return Control{
		ID:    binary.LittleEndian.Uint32(b[controlID:]),
		Event: binary.LittleEndian.Uint16(b[controlEvent:]),
		Value: binary.LittleEndian.Uint16(b[controlValue:]),
	}, nil
}

// control is the control channel of one session (DRIVER_OK to reset):
// which ports the driver was told of and has set up, and the messages
// waiting for the driver's receive buffers.
type control struct {
	d    *Device
	wake chan struct{} // a message was queued

	mu      sync.Mutex
	added   []bool // PORT_ADD sent, by port index
	ready   []bool // the driver answered PORT_READY 1
	pending [][]byte
	dropped bool
	strange atomic.Int32 // rejected driver messages, for rate-limited logs
}

func newControl(d *Device) *control {
	return &control{d: d, wake: make(chan struct{}, 1),
		added: make([]bool, len(d.ports)), ready: make([]bool, len(d.ports))}
}

// send queues a message for the driver.
func (c *control) send(m Control) {
	c.mu.Lock()
	if len(c.pending) >= maxPendingControl {
		if !c.dropped {
			c.dropped = true
			c.d.log.Warn("virtio-console: the driver takes no control messages; dropping them", "msg", m.String())
		}
		c.mu.Unlock()
		return
	}
	c.pending = append(c.pending, m.Encode())
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// port returns the port a driver message names, or nil.
func (c *control) port(id uint32) *Port {
	if id == 0 || int(id) > len(c.d.ports) {
		return nil
	}
	return c.d.ports[id-1]
}

// handle acts on one message from the driver. The driver waits, spinning,
// for its buffer to come back (drivers/char/virtio_console.c,
// __send_control_msg), so nothing here blocks: port workers hear of
// changes through their own channels.
func (c *control) handle(m Control) {
	switch m.Event {
	case EventDeviceReady:
		if m.Value != 1 {
			c.d.log.Warn("virtio-console: the guest driver failed to set the device up (DEVICE_READY 0)")
			return
		}
		for _, p := range c.d.ports {
			c.mu.Lock()
			c.added[p.index()] = true
			c.mu.Unlock()
			c.send(Control{ID: p.id, Event: EventPortAdd, Value: 1})
		}
		return
	case EventPortReady, EventPortOpen:
	default:
		c.reject(m, "unexpected event")
		return
	}
	p := c.port(m.ID)
	if p == nil {
		c.reject(m, "no such port")
		return
	}
	c.mu.Lock()
	added, ready := c.added[p.index()], c.ready[p.index()]
	if m.Event == EventPortReady && added && m.Value == 1 {
		c.ready[p.index()] = true
	}
	c.mu.Unlock()
	if !added {
		c.reject(m, "port not added yet")
		return
	}
	if m.Event == EventPortOpen {
		p.setGuestOpen(m.Value != 0)
		return
	}
	switch {
	case m.Value != 1:
		c.d.log.Warn("virtio-console: the guest could not set a port up (PORT_READY 0)", "port", p.name)
	case !ready:
		// The port's name, and whether the host end is open (QEMU's
		// virtio-serial-bus.c does the same on PORT_READY).
		c.send(Control{ID: p.id, Event: EventPortName, Value: 1, Name: p.name})
		if !p.hostClosed.Load() {
			c.send(Control{ID: p.id, Event: EventPortOpen, Value: 1})
		}
	}
}

// hostClosed tells the driver that port p's host end closed, if the
// driver has set the port up; otherwise PORT_READY will not open it.
func (c *control) hostClosed(p *Port) {
	c.mu.Lock()
	ready := c.ready[p.index()]
	c.mu.Unlock()
	if ready {
		c.send(Control{ID: p.id, Event: EventPortOpen, Value: 0})
	}
}

// reject logs a message the device ignores, at most a few times.
func (c *control) reject(m Control, why string) {
	if c.strange.Add(1) <= 5 {
		c.d.log.Debug("virtio-console: ignoring a control message", "why", why, "msg", m.String())
	}
}

// txHandler is the control transmitq's virtio.Handler: one message per
// chain, read from its first bytes.
func (c *control) txHandler(ch *virtio.Chain) (uint32, error) {
	var b [controlSize]byte
	n := iov.Gather(b[:], ch.Readable)
	m, err := ParseControl(b[:n])
	if err != nil || ch.Err != nil {
		c.reject(m, "short or outside guest memory")
		return 0, nil
	}
	c.handle(m)
	return 0, nil
}

// rxLoop hands queued messages to the driver, one per receive buffer,
// until stop is closed.
func (c *control) rxLoop(q *virtio.Queue, stop <-chan struct{}) {
	var ch virtio.Chain
	for {
		c.mu.Lock()
		next := c.pending
		c.mu.Unlock()
		if len(next) == 0 {
			select {
			case <-stop:
				return
			case <-c.wake:
			}
			continue
		}
		got, live := popOrWait(q, &ch, stop, nil)
		if !live {
			return
		}
		if !got {
			continue
		}
		msg := next[0]
		if ch.Err != nil || ch.WritableLen() < uint64(len(msg)) {
			// Too small for the message (or outside RAM): returned empty,
			// and the message waits for the next buffer.
			c.reject(Control{}, "control receive buffer too small")
			q.Push(ch.Head, 0)
			continue
		}
		iov.Scatter(ch.Writable, msg)
		c.mu.Lock()
		c.pending = c.pending[1:]
		c.mu.Unlock()
		q.Push(ch.Head, uint32(len(msg)))
		q.SignalUsed()
	}
}
