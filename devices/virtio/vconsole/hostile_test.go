package vconsole

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/internal/syncbuf"
)

// A hostile driver sends control messages out of order, for ports that do
// not exist, too short, or posts buffers the wrong way round. The device
// ignores what makes no sense, never blocks, and loses no byte.

func (g *guest) session() *session {
	g.dev.mu.Lock()
	defer g.dev.mu.Unlock()
	return g.dev.sess
}

func TestHostileControlOutOfOrder(t *testing.T) {
	var out syncbuf.Buffer
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "a", Out: &out}, {Name: "b"}}})
	g.postControlBuffers(8)
	// Before DEVICE_READY no port exists for the driver: all ignored.
	g.sendControl(1, EventPortReady, 1)
	g.sendControl(1, EventPortOpen, 1)
	g.sendControl(2, EventPortOpen, 1)
	for _, p := range g.dev.ports {
		open, _ := p.guestOpen()
		assert.False(t, open, "PORT_OPEN for a port not added yet is ignored")
	}
	// Bad ids, unknown and device-only events, and failures.
	for _, m := range []Control{
		{ID: 0, Event: EventPortReady, Value: 1},
		{ID: 3, Event: EventPortReady, Value: 1},
		{ID: badID, Event: EventPortOpen, Value: 1},
		{ID: 1, Event: EventPortAdd, Value: 1},
		{ID: 1, Event: EventPortRemove, Value: 1},
		{ID: 1, Event: EventConsolePort, Value: 1},
		{ID: 1, Event: EventResize, Value: 1},
		{ID: 1, Event: EventPortName, Value: 1},
		{ID: 1, Event: 999, Value: 1},
		{ID: badID, Event: EventDeviceReady, Value: 0},
	} {
		g.sendControl(m.ID, m.Event, m.Value)
	}
	for n := range controlSize {
		g.sendControlBytes(make([]byte, n)) // short: returned, ignored
	}
	s := g.session()
	s.ctl.mu.Lock()
	assert.Empty(t, s.ctl.pending, "none of it made the device say anything")
	assert.Equal(t, []bool{false, false}, s.ctl.added)
	s.ctl.mu.Unlock()

	// The real bring-up still works, and a PORT_READY 0 gets no name.
	g.sendControl(badID, EventDeviceReady, 1)
	adds := g.expectControl(2)
	assert.Equal(t, []Control{{ID: 1, Event: EventPortAdd, Value: 1}, {ID: 2, Event: EventPortAdd, Value: 1}}, adds)
	g.sendControl(2, EventPortReady, 0)
	g.sendControl(1, EventPortReady, 1)
	msgs := g.expectControl(2)
	assert.Equal(t, []Control{{ID: 1, Event: EventPortName, Value: 1, Name: "a"}, {ID: 1, Event: EventPortOpen, Value: 1}}, msgs)
	// A second PORT_READY (Linux sends one when told of a port it has) says nothing again.
	g.sendControl(1, EventPortReady, 1)
	s.ctl.mu.Lock()
	assert.Empty(t, s.ctl.pending)
	s.ctl.mu.Unlock()

	g.sendControl(1, EventPortOpen, 1)
	g.write(1, []byte("still works"), 1)
	require.NoError(t, g.dev.Close())
	assert.Equal(t, "still works", out.String())
}

// TestHostileControlFlood: a driver that repeats DEVICE_READY and never
// gives receive buffers cannot make the device queue without bound.
func TestHostileControlFlood(t *testing.T) {
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
	for range 100 {
		g.sendControl(badID, EventDeviceReady, 1)
	}
	s := g.session()
	s.ctl.mu.Lock()
	assert.Len(t, s.ctl.pending, maxPendingControl)
	s.ctl.mu.Unlock()
}

// TestHostileSmallControlBuffers: a receive buffer too small for the
// message comes back empty; the message waits for the next one.
func TestHostileSmallControlBuffers(t *testing.T) {
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "a-rather-long-port-name"}}})
	for range 3 {
		g.post(controlRxQueue, nil, controlSize-1, true)
	}
	g.sendControl(badID, EventDeviceReady, 1)
	for n := 0; n < 3; {
		elems, _ := g.used(controlRxQueue)
		for _, e := range elems {
			assert.Equal(t, uint32(0), e.Len)
		}
		n += len(elems)
	}
	g.post(controlRxQueue, nil, controlSize, true)
	elems, data := g.used(controlRxQueue)
	require.Len(t, elems, 1)
	m, err := ParseControl(data[0])
	require.NoError(t, err)
	assert.Equal(t, Control{ID: 1, Event: EventPortAdd, Value: 1}, m)

	// PORT_NAME needs room for the name: 8 bytes are not enough.
	g.sendControl(1, EventPortReady, 1)
	g.post(controlRxQueue, nil, controlSize, true)
	elems, _ = g.used(controlRxQueue)
	assert.Equal(t, uint32(0), elems[0].Len)
	g.postControlBuffers(2)
	msgs := g.expectControl(2)
	assert.Equal(t, "a-rather-long-port-name", msgs[0].Name)
}

// TestHostileBuffersTheWrongWayRound: device-readable buffers on a
// receiveq get no data (and lose none); device-writable ones on a
// transmitq carry nothing to Out; a buffer outside guest memory is
// returned untouched.
func TestHostileBuffersTheWrongWayRound(t *testing.T) {
	data := []byte("host bytes")
	var out syncbuf.Buffer
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "p", In: bytes.NewReader(data), Out: &out}}})
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	rx, tx := rxQueue(1), txQueue(1)

	g.post(rx, []byte("guest's own"), 11, false)
	elems, got := g.used(rx)
	assert.Equal(t, uint32(0), elems[0].Len)
	assert.Empty(t, got[0])
	g.post(tx, []byte("not output"), 10, true)
	g.used(tx)
	q := g.qs[tx]
	head := q.drv.AddChain(virtiotest.Buf{Addr: 0x1000, Len: 100}) // below guest memory
	q.posted[head] = q.drv.Alloc(1)                                // where used() may look for its 0 bytes
	g.kick(tx)
	elems, _ = g.used(tx)
	assert.Equal(t, uint32(0), elems[0].Len)
	assert.Equal(t, data, g.readPort(1, 2), "the host's bytes wait for a proper buffer")
	require.NoError(t, g.dev.Close())
	assert.Empty(t, out.String())
}

// FuzzControl feeds a session's control handler arbitrary driver messages
// (the input is cut into messages by a length byte before each). The
// device must not panic, must only ever queue well-formed messages of its
// own kinds about its own ports, must set up only ports it added, and
// must keep its queue bounded.
func FuzzControl(f *testing.F) {
	msg := func(ms ...Control) []byte {
		var b []byte
		for _, m := range ms {
			e := m.Encode()
			b = append(append(b, byte(len(e))), e...)
		}
		return b
	}
	f.Add(msg(Control{ID: badID, Event: EventDeviceReady, Value: 1}, Control{ID: 1, Event: EventPortReady, Value: 1},
		Control{ID: 1, Event: EventPortOpen, Value: 1}, Control{ID: 1, Event: EventPortOpen, Value: 0}))
	f.Add(msg(Control{ID: 2, Event: EventPortReady, Value: 1}, Control{ID: badID, Event: EventDeviceReady, Value: 0}))
	f.Add(msg(Control{ID: 0, Event: EventPortOpen, Value: 7}, Control{ID: 3, Event: 99, Value: 1}))
	f.Add([]byte{3, 1, 2, 3, 0, 20, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := New(Config{Ports: []PortConfig{{Name: "a"}, {Name: "b"}}})
		require.NoError(t, err)
		defer d.Close()
		c := newControl(d)
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			body := in[1 : 1+n]
			in = in[1+n:]
			_, _ = c.txHandler(&virtio.Chain{Readable: [][]byte{body}})
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		require.LessOrEqual(t, len(c.pending), maxPendingControl)
		for i := range c.ready {
			require.False(t, c.ready[i] && !c.added[i], "port %d set up before it was added", i+1)
		}
		for _, b := range c.pending {
			m, err := ParseControl(b)
			require.NoError(t, err)
			require.Contains(t, []uint16{EventPortAdd, EventPortName, EventPortOpen}, m.Event)
			require.True(t, m.ID == 1 || m.ID == 2, "message about port %d", m.ID)
			if m.Event == EventPortName {
				require.Equal(t, d.ports[m.ID-1].name+"\x00", string(b[controlSize:]))
			}
		}
	})
}
