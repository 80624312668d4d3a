package vconsole

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/internal/syncbuf"
)

// streamSize is how much each stream test moves; the lab moves 64 MiB
// through a real guest.
const streamSize = 8 << 20

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

func TestConfigAndQueues(t *testing.T) {
	dev, err := New(Config{Ports: []PortConfig{{Name: "a"}, {Name: "b"}, {Name: "c"}}})
	require.NoError(t, err)
	defer dev.Close()
	cfg := make([]byte, configSize)
	dev.ReadConfig(0, cfg)
	assert.Equal(t, []byte{0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0}, cfg, "max_nr_ports: port 0 and three named ports")
	assert.Len(t, dev.QueueSizes(), 2*4+2)
	assert.Equal(t, uint64(FeatureMultiport), dev.Features())
	assert.Equal(t, uint16(3), dev.DeviceType())
	assert.Equal(t, []int{4, 5, 6, 7}, []int{rxQueue(1), txQueue(1), rxQueue(2), txQueue(2)})
	assert.Equal(t, uint32(2), dev.Port("b").ID())
	assert.Nil(t, dev.Port("z"))
}

func TestNewRefusesBadPorts(t *testing.T) {
	many := make([]PortConfig, MaxPorts+1)
	for i := range many {
		many[i].Name = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	tests := []struct {
		ports []PortConfig
		want  string
	}{
		{nil, "no ports"},
		{[]PortConfig{{Name: ""}}, "empty port name"},
		{[]PortConfig{{Name: "a/b"}}, "use letters, digits"},
		{[]PortConfig{{Name: "x"}, {Name: "x"}}, `port "x" given twice`},
		{many, "at most 30"},
	}
	for _, tt := range tests {
		_, err := New(Config{Ports: tt.ports})
		require.Error(t, err)
		assert.Contains(t, err.Error(), tt.want)
	}
}

func TestBringUpNamesAndOpensPorts(t *testing.T) {
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "gonest.stdin", In: bytes.NewReader(nil)}, {Name: "gonest.stdout"}}})
	adds := g.bringUp()
	assert.Equal(t, []Control{{ID: 1, Event: EventPortAdd, Value: 1}, {ID: 2, Event: EventPortAdd, Value: 1}}, adds)
	// Port 1's input is empty: its host end is closed, either before or
	// after PORT_READY. Port 2's stays open.
	msgs := g.recvControl()
	state := map[uint32]bool{}
	names := map[uint32]string{}
	collect := func(ms []Control) {
		for _, m := range ms {
			switch m.Event {
			case EventPortName:
				names[m.ID] = m.Name
			case EventPortOpen:
				state[m.ID] = m.Value == 1
			}
		}
	}
	collect(msgs)
	for len(names) < 2 || !state[2] {
		collect(g.recvControl())
	}
	assert.Equal(t, map[uint32]string{1: "gonest.stdin", 2: "gonest.stdout"}, names)
	assert.True(t, state[2], "the host end of an output port is open")
	assert.False(t, state[1], "the host end of an empty input is closed (never opened, or opened then closed)")
}

func TestHostToGuestStream(t *testing.T) {
	data := randomBytes(streamSize, 1)
	// A reader that returns odd sizes, so chunks and guest buffers never line up.
	in := &oddReader{r: bytes.NewReader(data)}
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "in", In: in}}})
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	got := g.readPort(1, 32)
	require.Equal(t, len(data), len(got))
	assert.True(t, bytes.Equal(data, got), "every byte arrives once, in order")
	toGuest, _ := g.dev.Port("in").Stats()
	assert.Equal(t, uint64(len(data)), toGuest)
}

type oddReader struct {
	r io.Reader
	n int
}

func (o *oddReader) Read(p []byte) (int, error) {
	o.n++
	return o.r.Read(p[:min(len(p), 1+o.n*7919%readChunk)])
}

func TestGuestToHostStream(t *testing.T) {
	data := randomBytes(streamSize, 2)
	var out syncbuf.Buffer
	var mu sync.Mutex
	var events []bool
	var lenAtClose int
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "out", Out: &out, OnGuestOpen: func(open bool) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, open)
		if !open {
			lenAtClose = len(out.String())
		}
	}}}})
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	g.write(1, data, 48)
	g.sendControl(1, EventPortOpen, 0)
	require.NoError(t, g.dev.Close())
	assert.True(t, bytes.Equal(data, []byte(out.String())), "every byte arrives once, in order")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []bool{true, false}, events)
	assert.Equal(t, len(data), lenAtClose, "the close is reported after the data written before it")
}

// TestSlowWriterHoldsTheGuestBack: the transmitq returns a buffer only
// once Out took it, so a writer that blocks holds the guest's writes back.
func TestSlowWriterHoldsTheGuestBack(t *testing.T) {
	w := &gateWriter{entered: make(chan struct{}, 16), release: make(chan struct{})}
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "slow", Out: w}}})
	g.bringUp()
	tx := txQueue(1)
	for i := range 4 {
		g.post(tx, []byte{byte(i)}, 1, false)
	}
	<-w.entered
	assert.Empty(t, g.qs[tx].drv.TakeUsed(), "nothing comes back while Out blocks")
	close(w.release)
	var n int
	for n < 4 {
		elems, _ := g.used(tx)
		n += len(elems)
	}
	assert.Equal(t, "\x00\x01\x02\x03", w.String())
}

type gateWriter struct {
	syncbuf.Buffer
	entered chan struct{}
	release chan struct{}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	w.entered <- struct{}{}
	<-w.release
	return w.Buffer.Write(p)
}

// TestHostWaitsForGuestBuffers: the device fills only the buffers the
// guest posted and keeps the rest of its input for later ones.
func TestHostWaitsForGuestBuffers(t *testing.T) {
	data := randomBytes(3*pageSize+100, 3)
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "in", In: bytes.NewReader(data)}}})
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	rx := rxQueue(1)
	g.post(rx, nil, pageSize, true)
	_, first := g.used(rx)
	require.Len(t, first, 1)
	assert.Equal(t, data[:pageSize], first[0])
	assert.Equal(t, data[pageSize:], g.readPort(1, 2))
}

// TestResetKeepsUndeliveredBytes: a driver reset in the middle of a
// stream loses nothing the host had not yet put in a guest buffer.
func TestResetKeepsUndeliveredBytes(t *testing.T) {
	data := randomBytes(5*pageSize, 4)
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "in", In: bytes.NewReader(data)}}})
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	g.post(rxQueue(1), nil, pageSize, true)
	_, first := g.used(rxQueue(1))
	g.dev.Reset()
	g.activate()
	g.bringUp()
	g.sendControl(1, EventPortOpen, 1)
	rest := g.readPort(1, 4)
	assert.True(t, bytes.Equal(data, append(first[0], rest...)))
}

// TestCloseDrainsWhatTheGuestQueued: bytes queued without a kick (the VM
// stopped before the device looked) reach Out at Close.
func TestCloseDrainsWhatTheGuestQueued(t *testing.T) {
	var out syncbuf.Buffer
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "out", Out: &out}}})
	g.bringUp()
	q := g.qs[txQueue(1)]
	for _, s := range []string{"last ", "words"} {
		addr := q.free[0]
		q.free = q.free[1:]
		copy(q.drv.Bytes(addr, uint64(len(s))), s)
		q.drv.AddChain(virtiotest.Buf{Addr: addr, Len: uint32(len(s))})
	}
	require.NoError(t, g.dev.Close())
	assert.Equal(t, "last words", out.String())
}

// TestBrokenWriterDoesNotStallTheGuest: after Out fails, the guest's
// writes are still taken (and discarded), and Err says why.
func TestBrokenWriterDoesNotStallTheGuest(t *testing.T) {
	boom := errors.New("reader went away")
	g := newGuest(t, Config{Ports: []PortConfig{{Name: "out", Out: failWriter{boom}}}})
	g.bringUp()
	g.write(1, randomBytes(10*pageSize, 5), 4)
	assert.ErrorIs(t, g.dev.Port("out").Err(), boom)
	_, fromGuest := g.dev.Port("out").Stats()
	assert.Equal(t, uint64(10*pageSize), fromGuest)
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestActivateResetClose(t *testing.T) {
	dev, err := New(Config{Ports: []PortConfig{{Name: "p"}}})
	require.NoError(t, err)
	require.NoError(t, dev.Activate(virtio.Activation{Features: FeatureMultiport, Queues: make([]*virtio.Queue, 6)}))
	assert.ErrorIs(t, dev.Activate(virtio.Activation{Features: FeatureMultiport}), virtio.ErrActive)
	dev.Reset()
	require.NoError(t, dev.Activate(virtio.Activation{Features: FeatureMultiport}))
	require.NoError(t, dev.Close())
	require.NoError(t, dev.Close())
	assert.ErrorIs(t, dev.Activate(virtio.Activation{Features: FeatureMultiport}), virtio.ErrClosed)
}
