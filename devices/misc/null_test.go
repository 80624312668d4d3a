package misc

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/devices"
)

func TestNull(t *testing.T) {
	tests := []struct {
		name string
		fill byte
		size int
	}{
		{"absent device, byte", 0xff, 1},
		{"absent device, dword", 0xff, 4},
		{"silent register", 0x00, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNull("post", tt.fill)
			n.Write(0, []byte{0x12, 0x34, 0x56, 0x78})
			got := make([]byte, tt.size)
			for i := range got {
				got[i] = ^tt.fill
			}
			n.Read(0, got)
			want := make([]byte, tt.size)
			for i := range want {
				want[i] = tt.fill
			}
			assert.Equal(t, want, got)
			assert.Equal(t, "post", n.Name())
		})
	}
}

func TestNullOnABus(t *testing.T) {
	bus := devices.NewBus("pio")
	n := NewNull("post", 0)
	assert.NoError(t, bus.Insert(n, 0x80, 1))
	b := []byte{0xaa}
	assert.True(t, bus.Write(0x80, b))
	assert.True(t, bus.Read(0x80, b))
	assert.Equal(t, []byte{0}, b)
	assert.Equal(t, []devices.Mapping{{Name: "post", Base: 0x80, Size: 1, Accesses: 2}}, bus.Mappings())
}
