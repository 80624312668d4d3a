package pci

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

// fuzzOp is one 8-byte step of FuzzConfigSpace: kind, device, register,
// size, then a little-endian value.
const fuzzOpLen = 8

// FuzzConfigSpace drives configuration mechanism #1 with arbitrary
// sequences of address writes, data reads and data writes (and raw
// Config.Write calls at any offset and length) and checks that nothing
// panics and that the invariants of configuration space hold.
func FuzzConfigSpace(f *testing.F) {
	f.Add(seedSizing())
	f.Add(seedEnableAndMove())
	f.Add([]byte{2, 1, 0x04, 2, 0xFF, 0xFF, 0, 0, 3, 1, 0xFD, 4, 1, 2, 3, 4})
	f.Add(append(op(2, 2, RegCommand, 1, CommandIO), op(2, 2, RegBAR0+4, 2, 0x2000)...))
	f.Fuzz(func(t *testing.T, ops []byte) {
		mmio, pio := devices.NewBus("mmio"), devices.NewBus("pio")
		b, err := NewBus(Options{MMIO: mmio, Windows: []Window{testWindow}, IO: pio, IOWindows: []Window{testIOWindow}})
		require.NoError(t, err)
		fn := newTestFn(t)
		_, err = NewMSIX(fn.cfg, 4, 0, 0x4000, 0x5000, &fakeRouter{}, nil)
		require.NoError(t, err)
		slot, err := b.Add(fn)
		require.NoError(t, err)
		// Slot 2: a function with I/O BARs of 8 and 4 bytes and device
		// registers, as the IDE controller has.
		ioFn := NewConfig(Header{VendorID: 0x8086, DeviceID: 0x7010, Class: 0x010105})
		require.NoError(t, ioFn.AddBAR(0, BAR{Size: 8, IO: true, Device: &regDev{}}))
		require.NoError(t, ioFn.AddBAR(1, BAR{Size: 4, IO: true, Device: &regDev{}}))
		require.NoError(t, ioFn.SetDeviceRegisters(0x40, []byte{0, 0x80}, []byte{0xFF, 0xFF}))
		require.NoError(t, b.AddAt(2, &testFn{cfg: ioFn}))
		io := b.ConfigIO()
		for len(ops) >= fuzzOpLen {
			op := ops[:fuzzOpLen]
			ops = ops[fuzzOpLen:]
			dev, reg, size := op[1]%4, op[2], []int{1, 2, 4, 3}[op[3]%4]
			addr := conf1Enable | uint32(dev)<<conf1DeviceShift | uint32(reg&0xFC)
			switch op[0] % 5 {
			case 0:
				io.Write(0, op[4:8])
			case 1:
				io.Write(0, le32(addr))
				io.Read(4+uint64(reg&3)%uint64(5-min(size, 4)), make([]byte, size))
			case 2:
				io.Write(0, le32(addr))
				off := uint64(reg&3) % uint64(5-min(size, 4))
				io.Write(4+off, op[4:4+size])
			case 3:
				fn.cfg.Write(uint64(reg), op[4:4+size])
			case 4:
				fn.cfg.Read(uint64(reg), make([]byte, size))
			}
			checkInvariants(t, b, mmio, slot)
			checkIOInvariants(t, b, pio)
		}
	})
}

// checkIOInvariants checks the I/O BAR function in slot 2: its BARs keep
// the I/O space bit, and whatever is decoded on the port bus lies in the
// I/O window, naturally aligned.
func checkIOInvariants(t *testing.T, b *Bus, pio *devices.Bus) {
	t.Helper()
	bar := make([]byte, 4)
	for i := range 2 {
		b.ReadConfig(0, 2, 0, uint64(RegBAR0+4*i), bar)
		require.Equal(t, uint32(BARSpaceIO), binary.LittleEndian.Uint32(bar)&ioBARFlagsMask, "bar %d type bits", i)
	}
	for _, m := range pio.Mappings() {
		require.True(t, testIOWindow.contains(m.Base, m.Size), "port mapping %#x+%#x outside the I/O window", m.Base, m.Size)
		require.Zero(t, m.Base%m.Size, "port mapping %#x+%#x not naturally aligned", m.Base, m.Size)
	}
}

func checkInvariants(t *testing.T, b *Bus, mmio *devices.Bus, slot int) {
	t.Helper()
	id := make([]byte, 4)
	b.ReadConfig(0, 0, 0, RegVendorID, id)
	require.Equal(t, uint32(hostBridgeDevice<<16|hostBridgeVendor), binary.LittleEndian.Uint32(id), "host bridge id")
	b.ReadConfig(0, uint8(slot), 0, RegVendorID, id)
	require.Equal(t, uint32(0x1042<<16|0x1AF4), binary.LittleEndian.Uint32(id), "function id")
	st := make([]byte, 2)
	b.ReadConfig(0, uint8(slot), 0, RegStatus, st)
	require.NotZero(t, binary.LittleEndian.Uint16(st)&StatusCapList, "capability list bit")
	bar := make([]byte, 4)
	b.ReadConfig(0, uint8(slot), 0, RegBAR0, bar)
	require.Equal(t, uint32(BARMem64), binary.LittleEndian.Uint32(bar)&barFlagsMask, "bar 0 type bits")
	b.ReadConfig(0, uint8(slot), 0, RegBAR0+8, bar)
	require.Equal(t, uint32(0), binary.LittleEndian.Uint32(bar)&barFlagsMask, "bar 2 type bits")
	for _, m := range mmio.Mappings() {
		require.True(t, testWindow.contains(m.Base, m.Size), "mapping %#x+%#x outside the window", m.Base, m.Size)
		require.Zero(t, m.Base%m.Size, "mapping %#x+%#x not naturally aligned", m.Base, m.Size)
	}
}

func le32(v uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return b
}

func op(kind, dev, reg, size byte, v uint32) []byte {
	return append([]byte{kind, dev, reg, size}, le32(v)...)
}

// seedSizing sizes BAR 0 the way Linux does, with decoding on.
func seedSizing() []byte {
	var s []byte
	s = append(s, op(2, 1, RegCommand, 1, CommandMemory)...)
	s = append(s, op(2, 1, RegBAR0, 2, 0xFFFFFFFF)...)
	s = append(s, op(1, 1, RegBAR0, 2, 0)...)
	s = append(s, op(2, 1, RegBAR0+4, 2, 0xFFFFFFFF)...)
	s = append(s, op(1, 1, RegBAR0+4, 2, 0)...)
	s = append(s, op(2, 1, RegBAR0, 2, 0xC0000000)...)
	s = append(s, op(2, 1, RegBAR0+4, 2, 0)...)
	return s
}

// seedEnableAndMove enables MSI-X and moves BAR 2 around.
func seedEnableAndMove() []byte {
	var s []byte
	s = append(s, op(2, 1, RegCommand, 1, CommandMemory|CommandMaster)...)
	s = append(s, op(2, 1, firstCapability+2, 1, MSIXControlEnable)...)
	s = append(s, op(2, 1, RegBAR0+8, 2, 0xD0000000)...)
	s = append(s, op(2, 1, RegBAR0+8, 2, 0x00001000)...)
	s = append(s, op(3, 0, RegBAR0+9, 0, 0xFF)...)
	return s
}
