package pci

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

var testIOWindow = Window{Base: 0x1000, Size: 0xF000}

// ioRig is a bus with an I/O window and a function with two I/O BARs (8
// and 4 bytes, as a native-mode IDE channel has) and a memory BAR.
type ioRig struct {
	*rig
	io *devices.Bus
}

func newIORig(t *testing.T) *ioRig {
	t.Helper()
	mmio, io := devices.NewBus("mmio"), devices.NewBus("pio")
	b, err := NewBus(Options{MMIO: mmio, Windows: []Window{testWindow}, IO: io, IOWindows: []Window{testIOWindow}})
	require.NoError(t, err)
	require.NoError(t, io.Insert(b.ConfigIO(), 0xCF8, 8))
	cfg := NewConfig(Header{VendorID: 0x8086, DeviceID: 0x7010, Class: 0x010105})
	require.NoError(t, cfg.AddBAR(0, BAR{Size: 8, IO: true, Device: &regDev{}}))
	require.NoError(t, cfg.AddBAR(1, BAR{Size: 4, IO: true, Device: &regDev{}}))
	require.NoError(t, cfg.AddBAR(2, BAR{Size: 0x1000, Device: &regDev{}}))
	fn := &testFn{cfg: cfg}
	slot, err := b.Add(fn)
	require.NoError(t, err)
	return &ioRig{rig: &rig{bus: b, mmio: mmio, pio: io, fn: fn, slot: slot}, io: io}
}

func TestIOBARPlacementAndSizing(t *testing.T) {
	r := newIORig(t)
	base0, _ := r.fn.cfg.BARAddress(0)
	base1, _ := r.fn.cfg.BARAddress(1)
	assert.Equal(t, uint64(0x1000), base0, "first I/O bar at the I/O window's base")
	assert.Equal(t, uint64(0x1008), base1, "naturally aligned after it")
	assert.Equal(t, uint32(0x1000|BARSpaceIO), r.cfgRead(r.slot, RegBAR0, 4), "the I/O space indicator reads 1")

	// Linux's sizing: all ones, read back, restore.
	r.cfgWrite(r.slot, RegBAR0, 4, 0xFFFFFFFF)
	got := r.cfgRead(r.slot, RegBAR0, 4)
	assert.Equal(t, uint32(BARSpaceIO), got&ioBARFlagsMask)
	assert.Equal(t, uint32(8), ^(got&^ioBARFlagsMask)+1, "size from the all-ones readback")
	r.cfgWrite(r.slot, RegBAR0+4, 4, 0xFFFFFFFF)
	got = r.cfgRead(r.slot, RegBAR0+4, 4)
	assert.Equal(t, uint32(4), ^(got&^ioBARFlagsMask)+1, "a 4-byte BAR keeps bit 2 as an address bit")
	r.cfgWrite(r.slot, RegBAR0, 4, 0x1000)
	r.cfgWrite(r.slot, RegBAR0+4, 4, 0x1008)
	base, _ := r.fn.cfg.BARAddress(1)
	assert.Equal(t, uint64(0x1008), base)
}

func TestIOBARDecodeFollowsCommandIO(t *testing.T) {
	r := newIORig(t)
	assert.Empty(t, r.io.Mappings()[1:], "only the configuration ports until the guest enables I/O decode")

	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory)
	assert.Len(t, r.mmio.Mappings(), 1, "memory decode maps the memory BAR")
	assert.Len(t, r.io.Mappings(), 1, "and no I/O BAR")

	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory|CommandIO)
	assert.Equal(t, uint16(CommandMemory|CommandIO), uint16(r.cfgRead(r.slot, RegCommand, 2)), "COMMAND.IO is writable with an I/O BAR")
	ms := r.io.Mappings()
	require.Len(t, ms, 3, "the configuration ports and the two BARs")
	assert.Equal(t, uint64(0x1000), ms[1].Base)
	assert.Equal(t, uint64(8), ms[1].Size)
	assert.Equal(t, uint64(0x1008), ms[2].Base)
	assert.Equal(t, uint64(4), ms[2].Size)

	b := make([]byte, 1)
	require.True(t, r.io.Read(0x1007, b), "the port bus reaches the BAR's device")
	assert.Equal(t, byte(0xAB), b[0])

	// Moved while decoding: the device follows; outside the window it stops.
	r.cfgWrite(r.slot, RegBAR0, 4, 0x2000)
	dev, off, ok := r.io.Lookup(0x2007)
	require.True(t, ok, "BAR 0 decodes at its new base")
	assert.Equal(t, uint64(7), off)
	assert.Same(t, r.fn.cfg.bars[0].Device, dev)
	r.cfgWrite(r.slot, RegBAR0, 4, 0x01F0)
	_, mapped := r.fn.cfg.BARAddress(0)
	assert.False(t, mapped, "0x1f0 is outside the I/O window")

	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory)
	assert.Len(t, r.io.Mappings(), 1, "I/O decode off unmaps the I/O BARs")
	assert.Len(t, r.mmio.Mappings(), 1, "and leaves the memory BAR")
}

func TestCommandIOStaysZeroWithoutIOBARs(t *testing.T) {
	r := newRig(t)
	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory|CommandIO)
	assert.Equal(t, uint16(CommandMemory), uint16(r.cfgRead(r.slot, RegCommand, 2)))
}

func TestIOBARRejects(t *testing.T) {
	dev := &regDev{}
	for _, tt := range []struct {
		name string
		bar  BAR
	}{
		{"too small", BAR{Size: 2, IO: true, Device: dev}},
		{"too large", BAR{Size: 512, IO: true, Device: dev}},
		{"not a power of two", BAR{Size: 12, IO: true, Device: dev}},
		{"64-bit", BAR{Size: 16, IO: true, Is64: true, Device: dev}},
		{"prefetchable", BAR{Size: 16, IO: true, Prefetchable: true, Device: dev}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, NewConfig(Header{}).AddBAR(0, tt.bar))
		})
	}

	t.Run("a bus without I/O space", func(t *testing.T) {
		b, err := NewBus(Options{MMIO: devices.NewBus("mmio"), Windows: []Window{testWindow}})
		require.NoError(t, err)
		cfg := NewConfig(Header{})
		require.NoError(t, cfg.AddBAR(0, BAR{Size: 8, IO: true, Device: dev}))
		_, err = b.Add(&testFn{cfg: cfg})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "without I/O space")
	})
	t.Run("an empty I/O window", func(t *testing.T) {
		_, err := NewBus(Options{MMIO: devices.NewBus("mmio"), Windows: []Window{testWindow}, IO: devices.NewBus("pio")})
		assert.Error(t, err)
	})
}

func TestDeviceRegisters(t *testing.T) {
	cfg := NewConfig(Header{})
	require.NoError(t, cfg.SetDeviceRegisters(0x40, []byte{0x00, 0x80, 0x12}, []byte{0xFF, 0xFF, 0x0F}))
	out := make([]byte, 4)
	cfg.Read(0x40, out)
	assert.Equal(t, []byte{0x00, 0x80, 0x12, 0x00}, out, "reset values; the byte after them reads 0")
	cfg.Write(0x40, []byte{0x07, 0x40, 0xFF, 0xFF})
	cfg.Read(0x40, out)
	assert.Equal(t, []byte{0x07, 0x40, 0x1F, 0x00}, out, "written through the masks")

	off, err := cfg.AddCapability(capIDVendor, []byte{1, 2}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, 0x44, off, "a capability goes after the device registers")
	assert.Error(t, cfg.SetDeviceRegisters(0x60, []byte{1}, []byte{1}), "not after a capability")

	for _, tt := range []struct {
		name      string
		off       int
		init, msk []byte
	}{
		{"in the header", 0x3C, []byte{1}, []byte{1}},
		{"past the end", 0xFF, []byte{1, 2}, []byte{1, 2}},
		{"mask length", 0x40, []byte{1, 2}, []byte{1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, NewConfig(Header{}).SetDeviceRegisters(tt.off, tt.init, tt.msk))
		})
	}
}
