package vconsole

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

// The guest type plays Linux's virtio_console driver against a live
// Device: one virtiotest driver per queue in fake memory, kicks on the
// queues' channels, and the device's interrupts on one channel. The
// device's workers run in their own goroutines, as under a VM.

const (
	guestRegion = 4 << 20
	pageSize    = 4096 // Linux's receive buffers (fill_queue)
	waitLimit   = 20 * time.Second
)

type guest struct {
	t     testing.TB
	dev   *Device
	mem   *guestmem.Memory
	qs    []*guestQueue
	irq   chan struct{}
	fails []error
	mu    sync.Mutex
}

type guestQueue struct {
	drv  *virtiotest.Driver
	kick chan struct{}
	// posted maps a chain head to the buffer the guest gave with it.
	posted map[uint16]uint64
	free   []uint64 // buffers of pageSize to post again
}

// newGuest builds a device with cfg and brings it to DRIVER_OK with every
// queue enabled.
func newGuest(t testing.TB, cfg Config) *guest {
	t.Helper()
	dev, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	g := &guest{t: t, dev: dev, irq: make(chan struct{}, 1)}
	sizes := dev.QueueSizes()
	var regions []guestmem.Region
	for i := range sizes {
		regions = append(regions, guestmem.Region{GPA: uint64(i+1) << 32, Data: make([]byte, guestRegion)})
	}
	g.mem, err = guestmem.New(regions...)
	require.NoError(t, err)
	g.activate()
	return g
}

// activate sets every queue up afresh and starts the device, as a driver
// does after a reset.
func (g *guest) activate() {
	g.t.Helper()
	var queues []*virtio.Queue
	g.qs = nil
	for i, size := range g.dev.QueueSizes() {
		base := uint64(i+1) << 32
		region, err := g.mem.Slice(base, guestRegion)
		require.NoError(g.t, err)
		clear(region)
		gq := &guestQueue{drv: virtiotest.New(g.mem, base, size), kick: make(chan struct{}, 1), posted: map[uint16]uint64{}}
		q, err := virtio.NewQueue(g.mem, virtio.QueueConfig{
			Index: i, Size: size, DescAddr: gq.drv.Desc, DriverAddr: gq.drv.Avail, DeviceAddr: gq.drv.Used,
			Features:  virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc,
			Kick:      gq.kick,
			Interrupt: g.interrupt,
			Fail: func(err error) {
				g.mu.Lock()
				g.fails = append(g.fails, err)
				g.mu.Unlock()
			},
		})
		require.NoError(g.t, err)
		for range min(int(size), 64) {
			gq.free = append(gq.free, gq.drv.Alloc(pageSize))
		}
		g.qs = append(g.qs, gq)
		queues = append(queues, q)
	}
	require.NoError(g.t, g.dev.Activate(virtio.Activation{Memory: g.mem, Features: FeatureMultiport | virtio.FeatureVersion1, Queues: queues}))
}

func (g *guest) interrupt() {
	select {
	case g.irq <- struct{}{}:
	default:
	}
}

func (g *guest) kick(i int) {
	select {
	case g.qs[i].kick <- struct{}{}:
	default:
	}
}

// post gives the device a buffer of n bytes on queue i: device-writable
// for a receiveq, or holding data for a transmitq.
func (g *guest) post(i int, data []byte, n uint32, write bool) uint16 {
	g.t.Helper()
	q := g.qs[i]
	require.NotEmpty(g.t, q.free, "queue %d: out of test buffers", i)
	addr := q.free[0]
	q.free = q.free[1:]
	copy(g.mem.Regions()[i].Data[addr-g.mem.Regions()[i].GPA:], data)
	head := q.drv.AddChain(virtiotest.Buf{Addr: addr, Len: n, Write: write})
	q.posted[head] = addr
	g.kick(i)
	return head
}

// used waits until queue i returns at least one buffer and returns them
// with their contents; the buffers go back to the free list.
func (g *guest) used(i int) (elems []virtiotest.Used, data [][]byte) {
	g.t.Helper()
	deadline := time.After(waitLimit)
	q := g.qs[i]
	for {
		if elems = q.drv.TakeUsed(); len(elems) > 0 {
			break
		}
		select {
		case <-g.irq:
		case <-time.After(5 * time.Millisecond): // an interrupt for another queue may have taken the wakeup
		case <-deadline:
			g.t.Fatalf("queue %d: no buffer came back within %s", i, waitLimit)
		}
	}
	for _, e := range elems {
		addr, ok := q.posted[uint16(e.ID)]
		require.True(g.t, ok, "queue %d: the device returned head %d that was not posted", i, e.ID)
		delete(q.posted, uint16(e.ID))
		data = append(data, append([]byte(nil), q.drv.Bytes(addr, uint64(e.Len))...))
		q.free = append(q.free, addr)
	}
	return elems, data
}

// sendControl sends a driver message and waits for the device to take it.
func (g *guest) sendControl(id uint32, event, value uint16) {
	g.t.Helper()
	g.sendControlBytes(Control{ID: id, Event: event, Value: value}.Encode())
}

func (g *guest) sendControlBytes(b []byte) {
	g.t.Helper()
	g.post(controlTxQueue, b, uint32(len(b)), false)
	elems, _ := g.used(controlTxQueue)
	require.Len(g.t, elems, 1)
}

// postControlBuffers gives the device n receive buffers for its messages.
func (g *guest) postControlBuffers(n int) {
	for range n {
		g.post(controlRxQueue, nil, pageSize, true)
	}
}

// recvControl returns the device's next messages, parsed.
func (g *guest) recvControl() []Control {
	g.t.Helper()
	_, data := g.used(controlRxQueue)
	var out []Control
	for _, b := range data {
		m, err := ParseControl(b)
		require.NoError(g.t, err)
		if m.Event == EventPortName {
			require.Equal(g.t, byte(0), b[len(b)-1], "PORT_NAME ends with a NUL")
			m.Name = string(b[controlSize : len(b)-1])
		}
		out = append(out, m)
		g.post(controlRxQueue, nil, pageSize, true)
	}
	return out
}

// expectControl collects exactly n device messages.
func (g *guest) expectControl(n int) []Control {
	g.t.Helper()
	var out []Control
	for len(out) < n {
		out = append(out, g.recvControl()...)
	}
	require.Len(g.t, out, n, "more device messages than expected: %v", out)
	return out
}

// bringUp does the driver's side of the start: DEVICE_READY, PORT_READY
// for every port, and returns what the device said.
func (g *guest) bringUp() []Control {
	g.t.Helper()
	g.postControlBuffers(8)
	g.sendControl(badID, EventDeviceReady, 1)
	msgs := g.expectControl(len(g.dev.ports))
	for _, m := range msgs {
		require.Equal(g.t, EventPortAdd, int(m.Event))
		g.sendControl(m.ID, EventPortReady, 1)
	}
	return msgs
}

// readPort receives from port id, keeping bufs receive buffers posted,
// until the device closes the host end, and returns the bytes.
func (g *guest) readPort(id uint32, bufs int) []byte {
	g.t.Helper()
	rx := rxQueue(id)
	for range bufs {
		g.post(rx, nil, pageSize, true)
	}
	var got bytes.Buffer
	deadline := time.After(waitLimit)
	for {
		progress := g.drain(rx, &got)
		for _, m := range g.pollControl() {
			if m.ID == id && m.Event == EventPortOpen && m.Value == 0 {
				// The device returned every buffer it filled before it
				// queued PORT_OPEN 0: what is in the used ring is the rest.
				g.drain(rx, &got)
				return got.Bytes()
			}
		}
		if progress {
			continue
		}
		select {
		case <-g.irq:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			g.t.Fatalf("port %d: no end of input within %s (%d bytes so far)", id, waitLimit, got.Len())
		}
	}
}

// drain takes the used buffers of receiveq rx into got and posts them
// again; it reports whether there were any.
func (g *guest) drain(rx int, got *bytes.Buffer) bool {
	elems := g.qs[rx].drv.TakeUsed()
	for _, e := range elems {
		q := g.qs[rx]
		addr := q.posted[uint16(e.ID)]
		delete(q.posted, uint16(e.ID))
		got.Write(q.drv.Bytes(addr, uint64(e.Len)))
		q.free = append(q.free, addr)
		g.post(rx, nil, pageSize, true)
	}
	return len(elems) > 0
}

// pollControl returns the device messages that are already there.
func (g *guest) pollControl() []Control {
	q := g.qs[controlRxQueue]
	var out []Control
	for _, e := range q.drv.TakeUsed() {
		addr := q.posted[uint16(e.ID)]
		delete(q.posted, uint16(e.ID))
		m, err := ParseControl(q.drv.Bytes(addr, uint64(e.Len)))
		require.NoError(g.t, err)
		out = append(out, m)
		q.free = append(q.free, addr)
		g.post(controlRxQueue, nil, pageSize, true)
	}
	return out
}

// write sends data on port id's transmitq in chunks of up to 4 KiB,
// keeping at most inflight buffers queued.
func (g *guest) write(id uint32, data []byte, inflight int) {
	g.t.Helper()
	tx := txQueue(id)
	for len(data) > 0 || len(g.qs[tx].posted) > 0 {
		for len(data) > 0 && len(g.qs[tx].posted) < inflight {
			n := min(len(data), pageSize)
			g.post(tx, data[:n], uint32(n), false)
			data = data[n:]
		}
		g.used(tx)
	}
}
