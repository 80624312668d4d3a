package kvm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPUID2RoundTrip(t *testing.T) {
	in := []CPUIDEntry2{
		{Function: 0, EAX: 0xd, EBX: 0x68747541},
		{Function: 7, Index: 0, Flags: CPUIDFlagSignificantIndex, EBX: 0x219c97a9},
		{Function: 0x8000000a, EAX: 1, EBX: 0x8000, EDX: 0x1ebfbcff},
	}
	buf := encodeCPUID2(in)
	require.Len(t, buf, 8+3*40)
	assert.Equal(t, uint32(3), binary.LittleEndian.Uint32(buf), "nent")
	// Entry 1 starts at 8+40: function, index, flags, eax, ebx.
	assert.Equal(t, uint32(7), binary.LittleEndian.Uint32(buf[48:]))
	assert.Equal(t, uint32(CPUIDFlagSignificantIndex), binary.LittleEndian.Uint32(buf[56:]))
	assert.Equal(t, uint32(0x219c97a9), binary.LittleEndian.Uint32(buf[64:]))
	out, err := decodeCPUID2(buf)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestCPUID2DecodeRejectsHostileCount(t *testing.T) {
	buf := encodeCPUID2(make([]CPUIDEntry2, 2))
	binary.LittleEndian.PutUint32(buf, 1000) // more entries than the buffer holds
	_, err := decodeCPUID2(buf)
	assert.ErrorIs(t, err, errShortBuffer)
}

func TestMSRsRoundTrip(t *testing.T) {
	in := []MSREntry{{Index: 0xc0000080, Data: 0x500}, {Index: 0x10, Data: 1 << 40}}
	buf, err := encodeMSRs(in)
	require.NoError(t, err)
	require.Len(t, buf, 8+2*16)
	assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(buf))
	assert.Equal(t, uint32(0xc0000080), binary.LittleEndian.Uint32(buf[8:]))
	assert.Equal(t, uint64(0x500), binary.LittleEndian.Uint64(buf[16:]))
	// The kernel writes data back in place.
	binary.LittleEndian.PutUint64(buf[32:], 42)
	out := make([]MSREntry, 2)
	require.NoError(t, decodeMSRs(buf, out))
	assert.Equal(t, uint64(0x500), out[0].Data)
	assert.Equal(t, uint64(42), out[1].Data)
	assert.Equal(t, uint32(0x10), out[1].Index)
}

func TestMSRListDecode(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		want    []uint32
		wantErr bool
	}{
		{"two", []byte{2, 0, 0, 0, 0x10, 0, 0, 0, 0x80, 0, 0, 0xc0}, []uint32{0x10, 0xc0000080}, false},
		{"empty", []byte{0, 0, 0, 0}, []uint32{}, false},
		{"count beyond buffer", []byte{9, 0, 0, 0, 1, 0, 0, 0}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeMSRList(tt.buf)
			if tt.wantErr {
				assert.ErrorIs(t, err, errShortBuffer)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestIRQRoutingEncoding(t *testing.T) {
	routes := []IRQRoutingEntry{
		NewIRQChipRoute(4, IRQChipIOAPIC, 4),
		NewMSIRoute(24, 0x1_fee0_1000, 0x4041),
	}
	buf, err := encodeIRQRouting(routes)
	require.NoError(t, err)
	require.Len(t, buf, 8+2*48)
	assert.Equal(t, uint32(2), binary.LittleEndian.Uint32(buf), "nr")
	e0 := buf[8:]
	assert.Equal(t, []uint32{4, IRQRoutingIRQChip, 0, 0, IRQChipIOAPIC, 4}, words(e0, 6))
	e1 := buf[8+48:]
	assert.Equal(t, []uint32{24, IRQRoutingMSI, 0, 0, 0xfee01000, 1, 0x4041}, words(e1, 7))

	chip, pin := routes[0].IRQChip()
	assert.Equal(t, [2]uint32{IRQChipIOAPIC, 4}, [2]uint32{chip, pin})
	addr, data := routes[1].MSI()
	assert.Equal(t, uint64(0x1_fee0_1000), addr)
	assert.Equal(t, uint32(0x4041), data)

	_, err = encodeIRQRouting(make([]IRQRoutingEntry, maxGSIRoutes+1))
	assert.Error(t, err)
}

func TestDefaultIRQChipRoutes(t *testing.T) {
	routes := DefaultIRQChipRoutes()
	assert.Len(t, routes, 24+16)
	pins := map[[2]uint32]uint32{} // (gsi, chip) -> pin
	for _, r := range routes {
		chip, pin := r.IRQChip()
		pins[[2]uint32{r.GSI, chip}] = pin
	}
	assert.Equal(t, uint32(0), pins[[2]uint32{0, IRQChipIOAPIC}])
	assert.Equal(t, uint32(23), pins[[2]uint32{23, IRQChipIOAPIC}])
	assert.Equal(t, uint32(7), pins[[2]uint32{15, IRQChipPICSlave}])
	assert.Equal(t, uint32(3), pins[[2]uint32{3, IRQChipPICMaster}])
}

func words(b []byte, n int) []uint32 {
	w := make([]uint32, n)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func TestLAPICLINTs(t *testing.T) {
	var l LAPICState
	l.SetReg(LAPICRegLVT0, LVTMasked|0x30)
	l.SetReg(LAPICRegLVT1, LVTMasked)
	l.SetLINTs()
	assert.Equal(t, uint32(LVTDeliveryExtINT|0x30), l.Reg(LAPICRegLVT0))
	assert.Equal(t, uint32(LVTDeliveryNMI), l.Reg(LAPICRegLVT1))
	assert.Equal(t, uint32(LVTDeliveryNMI), binary.LittleEndian.Uint32(l.Regs[0x360:]))

	tests := []int{-16, 0x351, 1024, 1020 + 16}
	for _, off := range tests {
		l.SetReg(off, 1) // ignored, no panic
		assert.Equal(t, ^uint32(0), l.Reg(off), "offset %#x", off)
	}
}
