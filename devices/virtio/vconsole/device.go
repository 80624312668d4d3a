package vconsole

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/internal/optlist"
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

	workers virtio.Workers
	mu      sync.Mutex // sess
	sess    *session
}

// session is the device between DRIVER_OK and reset.
type session struct {
	ctl *control
	tx  map[*Port]*virtio.Queue
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
func (d *Device) ReadConfig(off uint64, data []byte) { virtio.ReadConfigBytes(d.config[:], off, data) }

// WriteConfig implements virtio.Backend: emerg_wr is not offered, so
// nothing is writable.
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Backend: a worker goroutine per queue.
func (d *Device) Activate(a virtio.Activation) error {
	if a.Features&FeatureMultiport == 0 {
		d.log.Warn("virtio-console: the guest driver did not take MULTIPORT; its ports are unreachable")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != nil {
		return fmt.Errorf("virtio-console: %w", virtio.ErrActive)
	}
	s := &session{ctl: newControl(d), tx: map[*Port]*virtio.Queue{}}
	for _, p := range d.ports {
		p.guestGone()
	}
	var run []func(stop <-chan struct{})
	for i, q := range a.Queues {
		if q != nil {
			if f := d.worker(s, i, q); f != nil {
				run = append(run, f)
			}
		}
	}
	if err := d.workers.Start(run...); err != nil {
		return fmt.Errorf("virtio-console: %w", err)
	}
	d.sess = s
	return nil
}

// worker returns what runs queue i, or nil.
func (d *Device) worker(s *session, i int, q *virtio.Queue) func(stop <-chan struct{}) {
	switch i {
	case 0:
		return nil // port 0's receiveq: nothing is sent there
	case 1:
		// Port 0's transmitq: taken and dropped, so that a driver that
		// writes there anyway (a console without MULTIPORT) never waits.
		return func(stop <-chan struct{}) {
			virtio.Serve(q, stop, func(*virtio.Chain) (uint32, error) { return 0, nil })
		}
	case controlRxQueue:
		return func(stop <-chan struct{}) { s.ctl.rxLoop(q, stop) }
	case controlTxQueue:
		return func(stop <-chan struct{}) { virtio.Serve(q, stop, s.ctl.txHandler) }
	}
	n := (i-2)/2 - 1
	if n >= len(d.ports) {
		return nil // past the queues QueueSizes asked for
	}
	p := d.ports[n]
	if i == rxQueue(p.id) {
		return func(stop <-chan struct{}) { p.rxLoop(q, s.ctl, stop) }
	}
	s.tx[p] = q
	return func(stop <-chan struct{}) { p.txLoop(q, stop) }
}

// Reset implements virtio.Backend: the workers stop (a write to Out in
// progress completes first). What the driver had queued and not yet
// seen taken goes with the reset; the host's unsent bytes stay for the
// next session.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.workers.Stop()
	d.sess = nil
}

// Close stops the device. Everything the guest had queued on a port's
// transmitq goes to Out before Close returns, so nothing a guest wrote
// before it stopped is lost. Close does not wait for a read of a port's
// In in progress: whoever owns the reader closes it.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.workers.Close() {
		return nil
	}
	if s := d.sess; s != nil {
		var ch virtio.Chain
		for p, q := range s.tx {
			virtio.Drain(q, make(chan struct{}), &ch, p.txHandler)
			p.reportEvents()
		}
		d.sess = nil
	}
	close(d.done)
	return nil
}

// CheckName accepts a port name: 1 to NameMax bytes of letters, digits,
// '.', '_' and '-'.
func CheckName(name string) error { return optlist.CheckWord("port name", name, NameMax) }
