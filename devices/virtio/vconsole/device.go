package vconsole

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gonest/gonest/devices/virtio"
)

// Config describes a console device.
type Config struct {
	// Ports are the named ports, numbered from 1 in this order.
	Ports []PortConfig
	// Logger receives rare events; nil discards them.
	Logger *slog.Logger
}

// Device is a virtio console with named ports (VIRTIO_CONSOLE_F_MULTIPORT).
// It implements virtio.Backend.
type Device struct {
	ports  []*Port
	log    *slog.Logger
	config [configSize]byte
	done   chan struct{} // closed by Close: the readers stop

	mu     sync.Mutex
	sess   *session
	closed bool
}

// session is the device between DRIVER_OK and reset.
type session struct {
	ctl  *control
	stop chan struct{}
	wg   sync.WaitGroup
	tx   map[*Port]*virtio.Queue
}

// New builds a console with cfg's ports and starts reading their inputs
// (a chunk ahead of the guest at most).
func New(cfg Config) (*Device, error) {
	if len(cfg.Ports) == 0 {
		return nil, fmt.Errorf("virtio-console: no ports")
	}
	if len(cfg.Ports) > MaxPorts {
		return nil, fmt.Errorf("virtio-console: %d ports, at most %d", len(cfg.Ports), MaxPorts)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Device{log: log, done: make(chan struct{})}
	seen := map[string]bool{}
	for i, pc := range cfg.Ports {
		if err := CheckName(pc.Name); err != nil {
			return nil, fmt.Errorf("virtio-console: %w", err)
		}
		if seen[pc.Name] {
			return nil, fmt.Errorf("virtio-console: port %q given twice", pc.Name)
		}
		seen[pc.Name] = true
		d.ports = append(d.ports, &Port{
			id: uint32(i + 1), name: pc.Name, cfg: pc, d: d,
			chunks: make(chan chunk), openCh: make(chan struct{}), eventsCh: make(chan struct{}, 1),
		})
	}
	binary.LittleEndian.PutUint32(d.config[cfgMaxNrPorts:], uint32(len(d.ports)+1))
	for _, p := range d.ports {
		p.startReader(d.done)
	}
	return d, nil
}

// Ports returns the ports in order.
func (d *Device) Ports() []*Port { return d.ports }

// Port returns the port called name, or nil.
func (d *Device) Port(name string) *Port {
	for _, p := range d.ports {
		if p.name == name {
			return p
		}
	}
	return nil
}

// DeviceType implements virtio.Backend.
func (d *Device) DeviceType() uint16 { return DeviceType }

// Features implements virtio.Backend.
func (d *Device) Features() uint64 { return FeatureMultiport }

// QueueSizes implements virtio.Backend: port 0's pair, the control pair,
// then a pair per named port. Port 0 is reserved, as QEMU reserves it
// for an hvc console; gonest has none there.
func (d *Device) QueueSizes() []uint16 {
	sizes := []uint16{dataQueueSize, dataQueueSize, controlQueueSize, controlQueueSize}
	for range d.ports {
		sizes = append(sizes, dataQueueSize, dataQueueSize)
	}
	return sizes
}

// ReadConfig implements virtio.Backend.
func (d *Device) ReadConfig(off uint64, data []byte) {
	clear(data)
	if off < configSize {
		copy(data, d.config[off:])
	}
}

// WriteConfig implements virtio.Backend: emerg_wr is not offered, so
// nothing is writable.
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Backend: a worker goroutine per queue.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("virtio-console is closed")
	}
	if d.sess != nil {
		return fmt.Errorf("virtio-console is already active")
	}
	if a.Features&FeatureMultiport == 0 {
		d.log.Warn("virtio-console: the guest driver did not take MULTIPORT; its ports are unreachable")
	}
	s := &session{ctl: newControl(d), stop: make(chan struct{}), tx: map[*Port]*virtio.Queue{}}
	for _, p := range d.ports {
		p.guestGone()
	}
	for i, q := range a.Queues {
		if q == nil {
			continue
		}
		run := d.worker(s, i, q)
		if run == nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run()
		}()
	}
	d.sess = s
	return nil
}

// worker returns what runs queue i, or nil.
func (d *Device) worker(s *session, i int, q *virtio.Queue) func() {
	switch i {
	case 0:
		return nil // port 0's receiveq: nothing is sent there
	case 1:
		// Port 0's transmitq: taken and dropped, so that a driver that
		// writes there anyway (a console without MULTIPORT) never waits.
		return func() { virtio.Serve(q, s.stop, func(*virtio.Chain) (uint32, error) { return 0, nil }) }
	case controlRxQueue:
		return func() { s.ctl.rxLoop(q, s.stop) }
	case controlTxQueue:
		return func() { virtio.Serve(q, s.stop, s.ctl.txHandler) }
	}
	p := d.ports[(i-2)/2-1]
	if i == rxQueue(p.id) {
		return func() { p.rxLoop(q, s.ctl, s.stop) }
	}
	s.tx[p] = q
	return func() { p.txLoop(q, s.stop) }
}

// Reset implements virtio.Backend: the workers stop (a write to Out in
// progress completes first). What the driver had queued and not yet
// seen taken goes with the reset; the host's unsent bytes stay for the
// next session.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *Device) stopLocked() *session {
	s := d.sess
	if s != nil {
		close(s.stop)
		s.wg.Wait()
		d.sess = nil
	}
	return s
}

// Close stops the device. Everything the guest had queued on a port's
// transmitq goes to Out before Close returns, so nothing a guest wrote
// before it stopped is lost. Close does not wait for a read of a port's
// In in progress: whoever owns the reader closes it.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if s := d.stopLocked(); s != nil {
		var ch virtio.Chain
		for p, q := range s.tx {
			virtio.Drain(q, make(chan struct{}), &ch, p.txHandler)
			p.reportEvents()
		}
	}
	close(d.done)
	return nil
}

// CheckName accepts a port name: 1 to NameMax bytes of letters, digits,
// '.', '_' and '-'.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("empty port name")
	}
	if len(name) > NameMax {
		return fmt.Errorf("port name %.20q... is longer than %d bytes", name, NameMax)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("port name %q: use letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}
