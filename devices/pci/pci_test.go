package pci

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

var testWindow = Window{Base: 0xC000_0000, Size: 0x3C00_0000}

// regDev is a BAR device that records accesses.
type regDev struct {
	mu     sync.Mutex
	writes []uint64
}

func (d *regDev) Read(offset uint64, data []byte) { fill(data, 0xAB) }
func (d *regDev) Write(offset uint64, data []byte) {
	d.mu.Lock()
	d.writes = append(d.writes, offset)
	d.mu.Unlock()
}

// testFn is a function with a 64-bit BAR 0 and a 32-bit BAR 2 that records
// observer calls.
type testFn struct {
	cfg    *Config
	events []string
}

func (f *testFn) PCIConfig() *Config { return f.cfg }
func (f *testFn) BARMapped(i int, base uint64) {
	f.events = append(f.events, "map "+itoa(i)+" "+hex(base))
}
func (f *testFn) BARUnmapped(i int, base uint64) {
	f.events = append(f.events, "unmap "+itoa(i)+" "+hex(base))
}

func itoa(i int) string   { return fmt.Sprint(i) }
func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

func newTestFn(t *testing.T) *testFn {
	t.Helper()
	cfg := NewConfig(Header{VendorID: 0x1AF4, DeviceID: 0x1042, Revision: 1, Class: 0x018000,
		SubsystemVendorID: 0x1AF4, SubsystemID: 0x1100, InterruptPin: true})
	require.NoError(t, cfg.AddBAR(0, BAR{Size: 0x8000, Is64: true, Device: &regDev{}}))
	require.NoError(t, cfg.AddBAR(2, BAR{Size: 0x1000, Device: &regDev{}}))
	return &testFn{cfg: cfg}
}

type rig struct {
	bus  *Bus
	mmio *devices.Bus
	pio  *devices.Bus
	fn   *testFn
	slot int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	mmio := devices.NewBus("mmio")
	b, err := NewBus(Options{MMIO: mmio, Windows: []Window{testWindow}})
	require.NoError(t, err)
	pio := devices.NewBus("pio")
	require.NoError(t, pio.Insert(b.ConfigIO(), 0xCF8, 8))
	fn := newTestFn(t)
	slot, err := b.Add(fn)
	require.NoError(t, err)
	return &rig{bus: b, mmio: mmio, pio: pio, fn: fn, slot: slot}
}

func conf1Addr(dev, fn, reg int) uint32 {
	return conf1Enable | uint32(dev)<<conf1DeviceShift | uint32(fn)<<conf1FuncShift | uint32(reg&0xFC)
}

func (r *rig) outl(port uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	r.pio.Write(port, b[:])
}

func (r *rig) inl(port uint64) uint32 {
	var b [4]byte
	r.pio.Read(port, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// cfgRead reads n bytes of dev's register reg the way Linux's
// pci_conf1_read does.
func (r *rig) cfgRead(dev, reg, n int) uint32 {
	r.outl(0xCF8, conf1Addr(dev, 0, reg))
	b := make([]byte, 4)
	r.pio.Read(0xCFC+uint64(reg&3), b[:n])
	return binary.LittleEndian.Uint32(b)
}

func (r *rig) cfgWrite(dev, reg, n int, v uint32) {
	r.outl(0xCF8, conf1Addr(dev, 0, reg))
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	r.pio.Write(0xCFC+uint64(reg&3), b[:n])
}

func TestConf1AddressRegister(t *testing.T) {
	r := newRig(t)
	// Linux's pci_check_type1: a byte write to 0xCFB, then 0x80000000
	// must read back from 0xCF8.
	r.pio.Write(0xCFB, []byte{0x01})
	r.outl(0xCF8, 0x80000000)
	assert.Equal(t, uint32(0x80000000), r.inl(0xCF8))
	r.outl(0xCF8, 0x8000_0803)
	assert.Equal(t, uint32(0x8000_0800), r.inl(0xCF8), "bits 1:0 read as zero")

	b := []byte{0}
	r.pio.Read(0xCF8, b)
	assert.Equal(t, byte(0xFF), b[0], "byte reads of 0xCF8 reach nothing")
}

func TestConf1Lookups(t *testing.T) {
	r := newRig(t)
	tests := []struct {
		name string
		addr uint32
		n    int
		off  uint64
		want uint32
	}{
		{"host bridge vendor", conf1Addr(0, 0, 0), 2, 0, hostBridgeVendor},
		{"host bridge device", conf1Addr(0, 0, 0), 2, 2, hostBridgeDevice},
		{"host bridge ids dword", conf1Addr(0, 0, 0), 4, 0, hostBridgeDevice<<16 | hostBridgeVendor},
		{"host bridge class", conf1Addr(0, 0, 8), 4, 0, classHostPCI << classShift},
		{"host bridge header type", conf1Addr(0, 0, 0xC), 1, 2, headerType0},
		{"function vendor", conf1Addr(r.slot, 0, 0), 2, 0, 0x1AF4},
		{"function device byte 3", conf1Addr(r.slot, 0, 0), 1, 3, 0x10},
		{"function revision", conf1Addr(r.slot, 0, 8), 1, 0, 1},
		{"function subsystem id", conf1Addr(r.slot, 0, 0x2C), 2, 2, 0x1100},
		{"function interrupt pin", conf1Addr(r.slot, 0, 0x3C), 1, 1, interruptPinA},
		{"empty slot", conf1Addr(31, 0, 0), 2, 0, 0xFFFF},
		{"function 1", conf1Addr(r.slot, 1, 0), 2, 0, 0xFFFF},
		{"bus 1", conf1Addr(r.slot, 0, 0) | 1<<conf1BusShift, 4, 0, 0xFFFFFFFF},
		{"enable bit clear", conf1Addr(0, 0, 0) &^ conf1Enable, 4, 0, 0xFFFFFFFF},
		{"extended register", conf1Addr(0, 0, 0) | 1<<24, 4, 0, 0xFFFFFFFF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.outl(0xCF8, tt.addr)
			b := make([]byte, 4)
			r.pio.Read(0xCFC+tt.off, b[:tt.n])
			assert.Equal(t, tt.want, binary.LittleEndian.Uint32(b))
		})
	}
}

func TestConfigWriteMasks(t *testing.T) {
	tests := []struct {
		name       string
		reg, n     int
		write      uint32
		readReg, m int
		want       uint32
	}{
		{"vendor id is read-only", RegVendorID, 2, 0x1234, RegVendorID, 2, 0x1AF4},
		{"device id is read-only", RegDeviceID, 2, 0x1234, RegDeviceID, 2, 0x1042},
		{"command keeps writable bits", RegCommand, 2, 0xFFFF, RegCommand, 2, commandWritable},
		{"command io decode stays off", RegCommand, 2, CommandIO, RegCommand, 2, 0},
		{"status capability bit is read-only", RegStatus, 2, 0, RegStatus, 2, 0},
		{"status error bits are write-1-to-clear", RegStatus, 2, 0xFFFF, RegStatus, 2, 0},
		{"cache line size is writable", RegCacheLineSize, 1, 0x10, RegCacheLineSize, 1, 0x10},
		{"header type is read-only", RegHeaderType, 1, 0x80, RegHeaderType, 1, headerType0},
		{"interrupt line is writable", RegInterruptLine, 1, 0x0B, RegInterruptLine, 1, 0x0B},
		{"interrupt pin is read-only", RegInterruptPin, 1, 4, RegInterruptPin, 1, interruptPinA},
		{"expansion rom is not implemented", RegExpansionROM, 4, 0xFFFFFFFF, RegExpansionROM, 4, 0},
		{"unimplemented bar 4 reads zero", RegBAR0 + 16, 4, 0xFFFFFFFF, RegBAR0 + 16, 4, 0},
		{"bar 2 sizing", RegBAR0 + 8, 4, 0xFFFFFFFF, RegBAR0 + 8, 4, 0xFFFFF000},
		{"bar 0 low sizing", RegBAR0, 4, 0xFFFFFFFF, RegBAR0, 4, 0xFFFF8000 | BARMem64},
		{"bar 0 high half is writable", RegBAR0 + 4, 4, 0xFFFFFFFF, RegBAR0 + 4, 4, 0xFFFFFFFF},
		{"bar byte write merges", RegBAR0 + 11, 1, 0xD0, RegBAR0 + 8, 4, 0xD000_0000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newTestFn(t).cfg
			b := make([]byte, 4)
			binary.LittleEndian.PutUint32(b, tt.write)
			cfg.Write(uint64(tt.reg), b[:tt.n])
			out := make([]byte, 4)
			cfg.Read(uint64(tt.readReg), out[:tt.m])
			assert.Equal(t, tt.want, binary.LittleEndian.Uint32(out))
		})
	}
}

func TestStatusW1CClearsOnlyWrittenBits(t *testing.T) {
	cfg := newTestFn(t).cfg
	cfg.regs[RegStatus+1] = byte((StatusSigTargetAbort | StatusRecMasterAbort) >> 8)
	cfg.Write(RegStatus, []byte{0, byte(StatusSigTargetAbort >> 8)})
	out := make([]byte, 2)
	cfg.Read(RegStatus, out)
	assert.Equal(t, uint16(StatusRecMasterAbort), binary.LittleEndian.Uint16(out))
}

func TestInterruptStatusBit(t *testing.T) {
	cfg := newTestFn(t).cfg
	cfg.SetInterruptStatus(true)
	out := make([]byte, 2)
	cfg.Read(RegStatus, out)
	assert.Equal(t, uint16(StatusInterrupt), binary.LittleEndian.Uint16(out))
	cfg.SetInterruptStatus(false)
	cfg.Read(RegStatus, out)
	assert.Equal(t, uint16(0), binary.LittleEndian.Uint16(out))
}

func TestBARSizingLikeLinux(t *testing.T) {
	r := newRig(t)
	orig := r.cfgRead(r.slot, RegBAR0, 4)
	origHi := r.cfgRead(r.slot, RegBAR0+4, 4)
	r.cfgWrite(r.slot, RegBAR0, 4, 0xFFFFFFFF)
	r.cfgWrite(r.slot, RegBAR0+4, 4, 0xFFFFFFFF)
	lo := r.cfgRead(r.slot, RegBAR0, 4)
	hi := r.cfgRead(r.slot, RegBAR0+4, 4)
	mask := uint64(hi)<<32 | uint64(lo&^barFlagsMask)
	assert.Equal(t, uint64(0x8000), ^mask+1, "size from the all-ones readback")
	assert.Equal(t, uint32(BARMem64), lo&barFlagsMask)
	r.cfgWrite(r.slot, RegBAR0, 4, orig)
	r.cfgWrite(r.slot, RegBAR0+4, 4, origHi)
	base, _ := r.fn.cfg.BARAddress(0)
	assert.Equal(t, uint64(origHi)<<32|uint64(orig&^barFlagsMask), base)
}

func TestBARPlacementAndDecode(t *testing.T) {
	r := newRig(t)
	base0, mapped0 := r.fn.cfg.BARAddress(0)
	base2, mapped2 := r.fn.cfg.BARAddress(2)
	assert.Equal(t, testWindow.Base, base0, "first bar at the window base")
	assert.Equal(t, uint64(0), base0%0x8000, "naturally aligned")
	assert.Equal(t, uint64(0), base2%0x1000, "naturally aligned")
	assert.False(t, mapped0, "decode is off until the guest enables it")
	assert.False(t, mapped2)
	assert.Empty(t, r.mmio.Mappings())

	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory)
	ms := r.mmio.Mappings()
	require.Len(t, ms, 2)
	assert.Equal(t, base0, ms[0].Base)
	assert.Equal(t, uint64(0x8000), ms[0].Size)
	assert.Equal(t, base2, ms[1].Base)

	// Move BAR 2 while decoding: the device follows.
	newBase := uint64(0xD000_0000)
	r.cfgWrite(r.slot, RegBAR0+8, 4, uint32(newBase))
	ms = r.mmio.Mappings()
	require.Len(t, ms, 2)
	assert.Equal(t, newBase, ms[1].Base)
	got, mapped := r.fn.cfg.BARAddress(2)
	assert.Equal(t, newBase, got)
	assert.True(t, mapped)

	// A BAR moved outside the window stops decoding.
	r.cfgWrite(r.slot, RegBAR0+8, 4, 0x1000)
	assert.Len(t, r.mmio.Mappings(), 1)

	// Decode off unmaps everything.
	r.cfgWrite(r.slot, RegCommand, 2, 0)
	assert.Empty(t, r.mmio.Mappings())

	assert.Equal(t, []string{
		"map 0 " + hex(base0), "map 2 " + hex(base2),
		"unmap 2 " + hex(base2), "map 2 " + hex(newBase),
		"unmap 2 " + hex(newBase),
		"unmap 0 " + hex(base0),
	}, r.fn.events)
}

func TestBAROverlapLeftUnmapped(t *testing.T) {
	r := newRig(t)
	base0, _ := r.fn.cfg.BARAddress(0)
	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory)
	// Put BAR 2 on top of BAR 0.
	r.cfgWrite(r.slot, RegBAR0+8, 4, uint32(base0))
	_, mapped := r.fn.cfg.BARAddress(2)
	assert.False(t, mapped)
	require.Len(t, r.mmio.Mappings(), 1)
	assert.Equal(t, base0, r.mmio.Mappings()[0].Base)
}

func TestMMIOReachesBARDevice(t *testing.T) {
	r := newRig(t)
	r.cfgWrite(r.slot, RegCommand, 2, CommandMemory)
	base0, _ := r.fn.cfg.BARAddress(0)
	b := make([]byte, 4)
	require.True(t, r.mmio.Read(base0+0x10, b))
	assert.Equal(t, []byte{0xAB, 0xAB, 0xAB, 0xAB}, b)
}

func TestResetControl(t *testing.T) {
	resets := 0
	mmio := devices.NewBus("mmio")
	b, err := NewBus(Options{MMIO: mmio, Windows: []Window{testWindow}, Reset: func() { resets++ }})
	require.NoError(t, err)
	b.ConfigIO().Write(1, []byte{resetSystem})
	assert.Equal(t, 0, resets, "SYS_RST alone only selects the reset type")
	b.ConfigIO().Write(1, []byte{resetSystem | resetCPU})
	assert.Equal(t, 1, resets)
	out := []byte{0}
	b.ConfigIO().Read(1, out)
	assert.Equal(t, byte(resetSystem|resetCPU), out[0])
}

func TestBusSlots(t *testing.T) {
	r := newRig(t)
	assert.Equal(t, 1, r.slot, "slot 0 is the host bridge")
	assert.Error(t, r.bus.AddAt(r.slot, newTestFn(t)), "occupied slot")
	assert.Error(t, r.bus.AddAt(NumSlots, newTestFn(t)), "slot out of range")
	_, err := NewBus(Options{MMIO: devices.NewBus("mmio"), Windows: []Window{{Base: 0, Size: 0}}})
	assert.Error(t, err, "empty window")
	_, err = NewBus(Options{Windows: []Window{testWindow}})
	assert.Error(t, err, "no mmio bus")
}

func TestAddBARRejects(t *testing.T) {
	dev := &regDev{}
	tests := []struct {
		name  string
		index int
		bar   BAR
	}{
		{"index out of range", 6, BAR{Size: 0x1000, Device: dev}},
		{"64-bit bar in the last register", 5, BAR{Size: 0x1000, Is64: true, Device: dev}},
		{"size not a power of two", 0, BAR{Size: 0x1800, Device: dev}},
		{"size too small", 0, BAR{Size: 8, Device: dev}},
		{"32-bit bar over 2 GiB", 0, BAR{Size: 1 << 32, Device: dev}},
		{"no device", 0, BAR{Size: 0x1000}},
		{"overlaps the 64-bit bar 0", 1, BAR{Size: 0x1000, Device: dev}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig(Header{})
			require.NoError(t, cfg.AddBAR(0, BAR{Size: 0x1000, Is64: true, Device: dev}))
			idx := tt.index
			if tt.name != "overlaps the 64-bit bar 0" && idx == 0 {
				idx = 2
			}
			assert.Error(t, cfg.AddBAR(idx, tt.bar))
		})
	}
}

func TestAllocator(t *testing.T) {
	a, err := NewAllocator([]Window{{Base: 0xC000_1000, Size: 0x10_0000}, {Base: 1 << 36, Size: 1 << 30}})
	require.NoError(t, err)
	tests := []struct {
		name    string
		size    uint64
		below4G bool
		want    uint64
		wantErr bool
	}{
		{"aligned up to its size", 0x4000, true, 0xC000_4000, false},
		{"small one after it", 0x1000, true, 0xC000_8000, false},
		{"bigger than the low window goes high", 0x20_0000, false, 1 << 36, false},
		{"too big for any 32-bit window", 0x20_0000, true, 0, true},
		{"not a power of two", 0x3000, true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Allocate(tt.size, tt.below4G)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err = NewAllocator([]Window{{Base: 0x1000, Size: 0x2000}, {Base: 0x2000, Size: 0x1000}})
	assert.Error(t, err, "overlapping windows")
}

type capRecorder struct {
	reads, writes []int
}

func (c *capRecorder) ReadCapability(off int, data []byte, cur []byte) {
	c.reads = append(c.reads, off)
	if off == 4 {
		data[0] = 0x5A
	}
}

func (c *capRecorder) WriteCapability(off int, data []byte, cur []byte) {
	c.writes = append(c.writes, off)
}

func TestCapabilityList(t *testing.T) {
	cfg := NewConfig(Header{VendorID: 1})
	h := &capRecorder{}
	off1, err := cfg.AddCapability(capIDVendor, []byte{6, 0, 0, 0}, nil, nil)
	require.NoError(t, err)
	off2, err := cfg.AddCapability(capIDVendor, []byte{10, 1, 2, 3, 4, 5, 6, 7}, []byte{0, 0, 0xFF, 0, 0, 0, 0, 0}, h)
	require.NoError(t, err)
	assert.Equal(t, firstCapability, off1)
	assert.Equal(t, off1+8, off2, "rounded up to dwords")

	b := make([]byte, 2)
	cfg.Read(RegStatus, b)
	assert.Equal(t, uint16(StatusCapList), binary.LittleEndian.Uint16(b))
	cfg.Read(RegCapabilityList, b[:1])
	assert.Equal(t, byte(off1), b[0])
	cfg.Read(uint64(off1), b)
	assert.Equal(t, []byte{capIDVendor, byte(off2)}, b)
	cfg.Read(uint64(off2), b)
	assert.Equal(t, []byte{capIDVendor, 0}, b, "end of list")

	cfg.Write(uint64(off2+4), []byte{0x77, 0x88})
	cfg.Read(uint64(off2+4), b)
	assert.Equal(t, []byte{0x5A, 3}, b, "the read handler replaced byte 0")
	raw := make([]byte, 2)
	copy(raw, cfg.regs[off2+4:off2+6])
	assert.Equal(t, []byte{0x77, 3}, raw, "only the writable byte changed")
	assert.Equal(t, []int{4}, h.writes)
	assert.Equal(t, []int{0, 4}, h.reads, "the handler sees every read inside its capability")

	_, err = cfg.AddCapability(capIDVendor, make([]byte, 250), nil, nil)
	assert.Error(t, err, "does not fit")
}
