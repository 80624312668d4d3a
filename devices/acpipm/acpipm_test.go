package acpipm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRegisters(t *testing.T) {
	tests := []struct {
		name      string
		offset    uint64
		data      []byte
		poweroffs int
		resets    int
		sleepType int
	}{
		{"linux poweroff writes 0x34", SleepControlOffset, []byte{0x34}, 1, 0, SleepTypeS5},
		{"S5 type without SLP_EN does nothing", SleepControlOffset, []byte{SleepTypeS5 << SleepTypeShift}, 0, 0, -1},
		{"S3 request is recorded, not acted on", SleepControlOffset, []byte{3<<SleepTypeShift | SleepEnable}, 0, 0, 3},
		{"wide write uses the low byte", SleepControlOffset, []byte{0x34, 0xff}, 1, 0, SleepTypeS5},
		{"clearing WAK_STS is harmless", SleepStatusOffset, []byte{wakeStatus}, 0, 0, -1},
		{"reset value resets", ResetOffset, []byte{ResetValue}, 0, 1, -1},
		{"other reset values are ignored", ResetOffset, []byte{0x06}, 0, 0, -1},
		{"spare port ignored", 3, []byte{0x34}, 0, 0, -1},
		{"empty write ignored", SleepControlOffset, nil, 0, 0, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var off, rst int
			p := New(Config{PowerOff: func() { off++ }, Reset: func() { rst++ }})
			p.Write(tc.offset, tc.data)
			assert.Equal(t, tc.poweroffs, off, "poweroffs")
			assert.Equal(t, tc.resets, rst, "resets")
			assert.Equal(t, tc.sleepType, p.LastSleepType())
		})
	}
}

func TestPoweroffByte(t *testing.T) {
	assert.Equal(t, 0x34, PoweroffByte)
}

func TestReadsAreZero(t *testing.T) {
	p := New(Config{})
	for off := uint64(0); off < Size; off++ {
		b := []byte{0xaa, 0xbb}
		p.Read(off, b)
		assert.Equal(t, []byte{0, 0}, b, "offset %d", off)
	}
	assert.Equal(t, "acpi-pm", p.Name())
}

func TestNilCallbacks(t *testing.T) {
	p := New(Config{})
	assert.NotPanics(t, func() {
		p.Write(SleepControlOffset, []byte{0x34})
		p.Write(ResetOffset, []byte{ResetValue})
	})
}
