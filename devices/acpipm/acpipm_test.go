package acpipm

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

type rig struct {
	pm        *PM
	now       time.Duration
	powerOffs int
	resets    int
	sci       []bool
}

func newRig() *rig {
	r := &rig{}
	r.pm = New(Config{
		PowerOff: func() { r.powerOffs++ },
		Reset:    func() { r.resets++ },
		SCI:      devices.InterruptFunc(func(high bool) { r.sci = append(r.sci, high) }),
		Clock:    func() time.Duration { return r.now },
	})
	return r
}

func (r *rig) read16(off uint64) uint16 {
	b := make([]byte, 2)
	r.pm.Read(off, b)
	return binary.LittleEndian.Uint16(b)
}

func (r *rig) write16(off uint64, v uint16) {
	r.pm.Write(off, binary.LittleEndian.AppendUint16(nil, v))
}

func (r *rig) read32(off uint64) uint32 {
	b := make([]byte, 4)
	r.pm.Read(off, b)
	return binary.LittleEndian.Uint32(b)
}

func TestPM1Control(t *testing.T) {
	tests := []struct {
		name      string
		writes    []uint16
		want      uint16 // PM1_CNT read back
		powerOffs int
	}{
		{"power-on state", nil, cntSCIEN, 0},
		{"SCI_EN is hardwired", []uint16{0}, cntSCIEN, 0},
		{"SLP_TYP alone does nothing", []uint16{SlpTypS5 << cntSLPTYPShft}, cntSCIEN | SlpTypS5<<cntSLPTYPShft, 0},
		{"Linux's S5 sequence powers off", []uint16{
			cntSCIEN | SlpTypS5<<cntSLPTYPShft, cntSCIEN | SlpTypS5<<cntSLPTYPShft | cntSLPEN,
		}, cntSCIEN | SlpTypS5<<cntSLPTYPShft, 1},
		{"other sleep types are ignored", []uint16{1<<cntSLPTYPShft | cntSLPEN, 3<<cntSLPTYPShft | cntSLPEN}, cntSCIEN | 3<<cntSLPTYPShft, 0},
		{"write-only bits read 0", []uint16{cntGBLRLS | cntBMRLD}, cntSCIEN | cntBMRLD, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			for _, v := range tt.writes {
				r.write16(offCNT, v)
			}
			assert.Equal(t, tt.want, r.read16(offCNT))
			assert.Equal(t, tt.powerOffs, r.powerOffs)
		})
	}
}

func TestS5ByHighByteWrite(t *testing.T) {
	r := newRig()
	r.pm.Write(offCNT+1, []byte{byte((SlpTypS5<<cntSLPTYPShft | cntSLPEN) >> 8)})
	assert.Equal(t, 1, r.powerOffs)
}

func TestPowerButtonAndSCI(t *testing.T) {
	r := newRig()
	r.pm.PressPowerButton()
	assert.Equal(t, uint16(stsPWRBTN), r.read16(offSTS))
	assert.Empty(t, r.sci, "no SCI until the guest enables the button")
	r.write16(offEN, enPWRBTN|0x8000) // bit 15 is reserved
	assert.Equal(t, uint16(enPWRBTN), r.read16(offEN))
	assert.Equal(t, []bool{true}, r.sci)
	r.write16(offSTS, stsTMR) // clearing another bit leaves it
	assert.Equal(t, uint16(stsPWRBTN), r.read16(offSTS))
	r.write16(offSTS, stsPWRBTN) // write 1 to clear
	assert.Zero(t, r.read16(offSTS))
	assert.Equal(t, []bool{true, false}, r.sci)
	r.pm.PressPowerButton()
	r.write16(offEN, 0)
	assert.Equal(t, []bool{true, false, true, false}, r.sci)
}

func TestPM1EventBlockAsOneDword(t *testing.T) {
	r := newRig()
	r.pm.PressPowerButton()
	r.pm.Write(offSTS, []byte{0, 0, byte(enPWRBTN & 0xff), byte(enPWRBTN >> 8)}) // STS untouched, EN set
	assert.Equal(t, uint32(enPWRBTN)<<16|stsPWRBTN, r.read32(offSTS))
}

func TestPMTimer(t *testing.T) {
	tests := []struct {
		name string
		now  time.Duration
		want uint32
	}{
		{"origin", 0, 0},
		{"one second", time.Second, PMTimerHz},
		{"one tick", 280 * time.Nanosecond, 1},
		{"1.5 seconds", 1500 * time.Millisecond, PMTimerHz * 3 / 2},
		{"wraps at 32 bits", 1200 * time.Second, uint32(uint64(1200*PMTimerHz) & 0xffffffff)},
		{"a year, no overflow", 365 * 24 * time.Hour, uint32(uint64(365*24*3600) * PMTimerHz & 0xffffffff)},
		{"negative clock reads 0", -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.now = tt.now
			assert.Equal(t, tt.want, r.read32(offTMR))
		})
	}
}

func TestPMTimerIsReadOnlyAndRuns(t *testing.T) {
	r := newRig()
	r.now = time.Millisecond
	before := r.read32(offTMR)
	r.pm.Write(offTMR, []byte{0, 0, 0, 0})
	assert.Equal(t, before, r.read32(offTMR))
	r.now += time.Millisecond
	assert.Equal(t, uint32(2*PMTimerHz/1000), r.read32(offTMR), "2 ms is 7159 ticks")

	wall := New(Config{})
	a := wall.timer()
	time.Sleep(2 * time.Millisecond)
	assert.Greater(t, wall.timer(), a, "the default clock runs")
}

func TestResetRegister(t *testing.T) {
	tests := []struct {
		name  string
		value byte
		want  int
	}{
		{"reset value", ResetValue, 1},
		{"other value", 0x04, 0},
		{"zero", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			r.pm.Write(ResetOffset, []byte{tt.value})
			assert.Equal(t, tt.want, r.resets)
			assert.Zero(t, r.powerOffs)
		})
	}
	r := newRig()
	b := []byte{0xaa}
	r.pm.Read(ResetOffset, b)
	assert.Equal(t, byte(0), b[0])
}

func TestOutOfRangeAndOddAccesses(t *testing.T) {
	r := newRig()
	b := []byte{1, 2}
	r.pm.Read(Size-1, b)
	assert.Equal(t, []byte{0, 0xff}, b)
	r.pm.Write(Size, []byte{ResetValue})
	r.pm.Write(^uint64(0), []byte{1, 2})
	r.pm.Read(^uint64(0), b)
	r.pm.Read(0, nil)
	r.pm.Write(0, nil)
	assert.Zero(t, r.resets)
	require.Equal(t, "acpi-pm", r.pm.Name())
}

func TestLayoutFitsTheBlock(t *testing.T) {
	type blk struct{ off, n uint64 }
	blocks := []blk{{PM1EventOffset, PM1EventLen}, {PM1ControlOffset, PM1ControlLen}, {PMTimerOffset, PMTimerLen}, {ResetOffset, ResetLen}}
	for i, a := range blocks {
		assert.LessOrEqual(t, a.off+a.n, uint64(Size))
		for _, b := range blocks[i+1:] {
			assert.True(t, a.off+a.n <= b.off || b.off+b.n <= a.off, "blocks %v and %v overlap", a, b)
		}
	}
}
