package exitdev

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		offset uint64
		data   []byte
		want   []uint8
	}{
		{"outb 0", 0, []byte{0}, []uint8{0}},
		{"outb 42", 0, []byte{42}, []uint8{42}},
		{"outb 255", 0, []byte{255}, []uint8{255}},
		{"outw uses the low byte", 0, []byte{3, 1}, []uint8{3}},
		{"outl uses the low byte", 0, []byte{7, 0xff, 0xff, 0xff}, []uint8{7}},
		{"other offsets are ignored", 2, []byte{9}, nil},
		{"empty access is ignored", 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint8
			e := New(func(code uint8) { got = append(got, code) })
			e.Write(tt.offset, tt.data)
			assert.Equal(t, tt.want, got)
			code, ok := e.Code()
			assert.Equal(t, len(tt.want) > 0, ok)
			if ok {
				assert.Equal(t, tt.want[0], code)
			}
		})
	}
}

func TestExitKeepsTheFirstCode(t *testing.T) {
	var calls int
	e := New(func(uint8) { calls++ })
	e.Write(0, []byte{1})
	e.Write(0, []byte{2})
	code, ok := e.Code()
	require.True(t, ok)
	assert.Equal(t, uint8(1), code)
	assert.Equal(t, 2, calls)
	b := []byte{0xaa, 0xbb}
	e.Read(0, b)
	assert.Equal(t, []byte{0, 0}, b)
	New(nil).Write(0, []byte{5}) // no callback: no panic
}

func TestMarker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var seen []Mark
	m := NewMarker(MarkerConfig{OnMark: func(mk Mark) { seen = append(seen, mk) }, Clock: func() time.Time { return now }})
	m.Write(0, []byte{1})
	now = now.Add(time.Second)
	m.Write(0, []byte{2, 0xff})
	m.Write(1, []byte{3})
	marks, dropped := m.Marks()
	want := []Mark{{1, t0}, {2, t0.Add(time.Second)}}
	assert.Equal(t, want, marks)
	assert.Equal(t, want, seen)
	assert.Zero(t, dropped)
	b := []byte{9}
	m.Read(0, b)
	assert.Equal(t, []byte{0}, b)
}

func TestMarkerIsBounded(t *testing.T) {
	calls := 0
	m := NewMarker(MarkerConfig{OnMark: func(Mark) { calls++ }})
	for i := 0; i < MaxMarks+10; i++ {
		m.Write(0, []byte{byte(i)})
	}
	marks, dropped := m.Marks()
	assert.Len(t, marks, MaxMarks)
	assert.Equal(t, 10, dropped)
	assert.Equal(t, MaxMarks+10, calls)
	marks[0].ID = 99 // a copy: the marker is unaffected
	again, _ := m.Marks()
	assert.Equal(t, uint8(0), again[0].ID)
}

var (
	_ devices.Device = (*Exit)(nil)
	_ devices.Device = (*Marker)(nil)
	_ devices.Named  = (*Exit)(nil)
	_ devices.Named  = (*Marker)(nil)
)
