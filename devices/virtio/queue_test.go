package virtio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

const (
	memBase  = 0x10_0000
	memSize  = 1 << 20
	ringBase = memBase
)

type harness struct {
	mem        *guestmem.Memory
	drv        *virtiotest.Driver
	q          *Queue
	interrupts int
	failures   []error
	kick       chan struct{}
}

func newHarness(t *testing.T, size uint16, features uint64) *harness {
	t.Helper()
	h := &harness{mem: guestmem.FromBytes(memBase, make([]byte, memSize)), kick: make(chan struct{}, 1)}
	h.drv = virtiotest.New(h.mem, ringBase, size)
	q, err := NewQueue(h.mem, QueueConfig{
		Size: size, DescAddr: h.drv.Desc, DriverAddr: h.drv.Avail, DeviceAddr: h.drv.Used,
		Features:  features,
		Kick:      h.kick,
		Interrupt: func() { h.interrupts++ },
		Fail:      func(err error) { h.failures = append(h.failures, err) },
	})
	require.NoError(t, err)
	h.q = q
	return h
}

func TestNewQueueChecks(t *testing.T) {
	mem := guestmem.FromBytes(memBase, make([]byte, memSize))
	ok := QueueConfig{Size: 8, DescAddr: memBase, DriverAddr: memBase + 0x100, DeviceAddr: memBase + 0x200}
	tests := []struct {
		name   string
		change func(c *QueueConfig)
	}{
		{"size zero", func(c *QueueConfig) { c.Size = 0 }},
		{"size not a power of two", func(c *QueueConfig) { c.Size = 6 }},
		{"descriptor table misaligned", func(c *QueueConfig) { c.DescAddr += 8 }},
		{"available ring misaligned", func(c *QueueConfig) { c.DriverAddr++ }},
		{"used ring misaligned", func(c *QueueConfig) { c.DeviceAddr += 2 }},
		{"descriptor table outside memory", func(c *QueueConfig) { c.DescAddr = 0 }},
		{"available ring crosses the end of memory", func(c *QueueConfig) { c.DriverAddr = memBase + memSize - 8 }},
		{"used ring outside memory", func(c *QueueConfig) { c.DeviceAddr = memBase + memSize }},
	}
	_, err := NewQueue(mem, ok)
	require.NoError(t, err, "the baseline is valid")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.change(&c)
			_, err := NewQueue(mem, c)
			assert.Error(t, err)
		})
	}
}

func TestPopSimpleChain(t *testing.T) {
	h := newHarness(t, 8, 0)
	hdr := h.drv.Put([]byte("0123456789abcdef"))
	data := h.drv.Alloc(512)
	st := h.drv.Alloc(1)
	head := h.drv.AddChain(
		virtiotest.Buf{Addr: hdr, Len: 16},
		virtiotest.Buf{Addr: data, Len: 512, Write: true},
		virtiotest.Buf{Addr: st, Len: 1, Write: true},
	)
	var c Chain
	ok, err := h.q.Pop(&c)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, head, c.Head)
	require.Len(t, c.Readable, 1)
	assert.Equal(t, []byte("0123456789abcdef"), c.Readable[0])
	require.Len(t, c.Writable, 2)
	assert.Equal(t, uint64(513), c.WritableLen())
	assert.NoError(t, c.Err)

	ok, err = h.q.Pop(&c)
	require.NoError(t, err)
	assert.False(t, ok, "ring is empty")

	c.Writable[1][0] = 0x42
	h.q.Push(c.Head, 513)
	h.q.SignalUsed()
	assert.Equal(t, []virtiotest.Used{{ID: uint32(head), Len: 513}}, h.drv.TakeUsed())
	assert.Equal(t, byte(0x42), h.drv.Bytes(st, 1)[0])
	assert.Equal(t, 1, h.interrupts)
}

func TestPopIndirect(t *testing.T) {
	h := newHarness(t, 4, FeatureRingIndirectDesc)
	a := h.drv.Put([]byte{1, 2, 3, 4})
	b := h.drv.Alloc(8)
	table := h.drv.Alloc(3 * 16)
	h.drv.WriteTable(table, []virtiotest.Desc{
		{Addr: a, Len: 4, Flags: virtiotest.FlagNext, Next: 2},
		{Addr: 0xdead, Len: 1}, // not on the chain
		{Addr: b, Len: 8, Flags: virtiotest.FlagWrite},
	})
	// A direct descriptor, then the indirect one.
	pre := h.drv.Put([]byte{9})
	h.drv.SetDesc(0, virtiotest.Desc{Addr: pre, Len: 1, Flags: virtiotest.FlagNext, Next: 3})
	h.drv.SetDesc(3, virtiotest.Desc{Addr: table, Len: 48, Flags: virtiotest.FlagIndirect | virtiotest.FlagWrite})
	h.drv.Publish(0)
	var c Chain
	ok, err := h.q.Pop(&c)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, [][]byte{{9}, {1, 2, 3, 4}}, c.Readable)
	assert.Equal(t, uint64(8), c.WritableLen())
}

func TestPopBufferOutsideMemory(t *testing.T) {
	h := newHarness(t, 4, 0)
	st := h.drv.Alloc(1)
	h.drv.AddChain(
		virtiotest.Buf{Addr: memBase + memSize - 4, Len: 16}, // crosses the end of RAM
		virtiotest.Buf{Addr: st, Len: 1, Write: true},
	)
	var c Chain
	ok, err := h.q.Pop(&c)
	require.NoError(t, err, "the chain's structure is fine")
	require.True(t, ok)
	assert.ErrorIs(t, c.Err, guestmem.ErrOutOfRange)
	assert.Equal(t, [][]byte{nil}, c.Readable)
	require.Len(t, c.Writable, 1)
	assert.Len(t, c.Writable[0], 1, "the status buffer is still reachable")
	assert.Empty(t, h.failures)
}

func TestPopBrokenRings(t *testing.T) {
	tests := []struct {
		name     string
		features uint64
		setup    func(d *virtiotest.Driver)
	}{
		{"head index beyond the queue", 0, func(d *virtiotest.Driver) {
			d.Publish(4)
		}},
		{"next index beyond the queue", 0, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 9})
			d.Publish(0)
		}},
		{"a loop in the chain", 0, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 1})
			d.SetDesc(1, virtiotest.Desc{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 0})
			d.Publish(0)
		}},
		{"a descriptor chained to itself", 0, func(d *virtiotest.Driver) {
			d.SetDesc(2, virtiotest.Desc{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 2})
			d.Publish(2)
		}},
		{"readable after writable", 0, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase, Len: 1, Flags: virtiotest.FlagWrite | virtiotest.FlagNext, Next: 1})
			d.SetDesc(1, virtiotest.Desc{Addr: memBase, Len: 1})
			d.Publish(0)
		}},
		{"avail idx runs ahead by more than the queue", 0, func(d *virtiotest.Driver) {
			d.SetAvailIdx(5)
		}},
		{"indirect without the feature", 0, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase + 0x8000, Len: 16, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"indirect with next", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase + 0x8000, Len: 16, Flags: virtiotest.FlagIndirect | virtiotest.FlagNext, Next: 1})
			d.Publish(0)
		}},
		{"indirect table length not a multiple of 16", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase + 0x8000, Len: 24, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"empty indirect table", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase + 0x8000, Len: 0, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"indirect table outside memory", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase + memSize - 16, Len: 32, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"indirect table too long", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			d.SetDesc(0, virtiotest.Desc{Addr: memBase, Len: 16 * (MaxIndirectDescriptors + 1), Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"nested indirect", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			t := d.Alloc(16)
			d.WriteTable(t, []virtiotest.Desc{{Addr: t, Len: 16, Flags: virtiotest.FlagIndirect}})
			d.SetDesc(0, virtiotest.Desc{Addr: t, Len: 16, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"loop inside an indirect table", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			t := d.Alloc(32)
			d.WriteTable(t, []virtiotest.Desc{
				{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 1},
				{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 0},
			})
			d.SetDesc(0, virtiotest.Desc{Addr: t, Len: 32, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
		{"indirect next beyond its table", FeatureRingIndirectDesc, func(d *virtiotest.Driver) {
			t := d.Alloc(16)
			d.WriteTable(t, []virtiotest.Desc{{Addr: memBase, Len: 1, Flags: virtiotest.FlagNext, Next: 1}})
			d.SetDesc(0, virtiotest.Desc{Addr: t, Len: 16, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 4, tt.features)
			tt.setup(h.drv)
			var c Chain
			ok, err := h.q.Pop(&c)
			assert.False(t, ok)
			assert.ErrorIs(t, err, ErrBrokenRing)
			require.Len(t, h.failures, 1, "the transport hears once")
			assert.True(t, h.q.Broken())

			ok, err = h.q.Pop(&c)
			assert.False(t, ok, "a broken queue yields nothing more")
			assert.NoError(t, err)
			assert.Len(t, h.failures, 1)
			assert.Empty(t, h.drv.TakeUsed(), "nothing was completed")
		})
	}
}

func TestChainAsLongAsTheQueue(t *testing.T) {
	h := newHarness(t, 4, 0)
	buf := h.drv.Alloc(4)
	h.drv.AddChain(
		virtiotest.Buf{Addr: buf, Len: 1}, virtiotest.Buf{Addr: buf + 1, Len: 1},
		virtiotest.Buf{Addr: buf + 2, Len: 1}, virtiotest.Buf{Addr: buf + 3, Len: 1, Write: true},
	)
	var c Chain
	ok, err := h.q.Pop(&c)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Len(t, c.Readable, 3)
}

func TestSignalUsedSuppression(t *testing.T) {
	t.Run("no interrupt flag", func(t *testing.T) {
		h := newHarness(t, 4, 0)
		h.drv.SetAvailFlags(AvailFlagNoInterrupt)
		h.q.Push(0, 0)
		h.q.SignalUsed()
		assert.Equal(t, 0, h.interrupts)
	})
	t.Run("nothing new", func(t *testing.T) {
		h := newHarness(t, 4, 0)
		h.q.SignalUsed()
		assert.Equal(t, 0, h.interrupts)
	})
	t.Run("event idx", func(t *testing.T) {
		h := newHarness(t, 8, FeatureRingEventIdx)
		h.drv.SetUsedEvent(2) // interrupt when used.idx passes 2
		h.q.Push(0, 0)
		h.q.Push(1, 0)
		h.q.SignalUsed() // used.idx 2: the driver asked for the 3rd
		assert.Equal(t, 0, h.interrupts)
		h.q.Push(2, 0)
		h.q.SignalUsed()
		assert.Equal(t, 1, h.interrupts)
		h.q.Push(3, 0)
		h.q.SignalUsed() // used_event still 2: already told
		assert.Equal(t, 1, h.interrupts)
	})
}

func TestIdleArmsAvailEvent(t *testing.T) {
	h := newHarness(t, 8, FeatureRingEventIdx)
	buf := h.drv.Alloc(1)
	h.drv.AddChain(virtiotest.Buf{Addr: buf, Len: 1, Write: true})
	assert.False(t, h.q.Idle(), "a chain is waiting")
	var c Chain
	ok, err := h.q.Pop(&c)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, h.q.Idle())
	assert.Equal(t, uint16(1), h.drv.AvailEvent(), "kick me when entry 1 appears")
}

func TestDrainAndServe(t *testing.T) {
	h := newHarness(t, 8, FeatureRingEventIdx)
	handled := 0
	handler := func(c *Chain) (uint32, error) {
		handled++
		c.Writable[0][0] = byte(handled)
		return 1, nil
	}
	for i := 0; i < 5; i++ {
		h.drv.AddChain(virtiotest.Buf{Addr: h.drv.Alloc(1), Len: 1, Write: true})
	}
	stop := make(chan struct{})
	var c Chain
	assert.True(t, Drain(h.q, stop, &c, handler))
	assert.Equal(t, 5, handled)
	assert.Len(t, h.drv.TakeUsed(), 5)
	assert.Equal(t, 1, h.interrupts, "one interrupt for the batch")

	close(stop)
	h.drv.AddChain(virtiotest.Buf{Addr: h.drv.Alloc(1), Len: 1, Write: true})
	assert.False(t, Drain(h.q, stop, &c, handler), "stopped")
	assert.Equal(t, 5, handled)

	done := make(chan struct{})
	go func() { Serve(h.q, stop, handler); close(done) }()
	<-done // Serve returns at once: stop is closed
}
