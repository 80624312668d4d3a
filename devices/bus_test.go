package devices

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// access is one call a device received.
type access struct {
	write  bool
	offset uint64
	data   []byte
}

// probe records accesses and reads back a fixed pattern.
type probe struct {
	name string
	mu   sync.Mutex
	log  []access
}

func (p *probe) Name() string { return p.name }

func (p *probe) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = byte(offset) + byte(i)
	}
	p.record(access{offset: offset, data: append([]byte(nil), data...)})
}

func (p *probe) Write(offset uint64, data []byte) {
	p.record(access{write: true, offset: offset, data: append([]byte(nil), data...)})
}

func (p *probe) record(a access) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, a)
}

// unnamed has no Name method.
type unnamed struct{}

func (unnamed) Read(uint64, []byte)  {}
func (unnamed) Write(uint64, []byte) {}

func TestInsert(t *testing.T) {
	const base, size = 0x100, 0x10 // an existing device at [0x100, 0x110)
	tests := []struct {
		name        string
		base, size  uint64
		wantErr     string
		wantOverlap bool
	}{
		{"adjacent below", 0xf0, 0x10, "", false},
		{"adjacent above", 0x110, 0x10, "", false},
		{"far away", 0x1000, 1, "", false},
		{"overlaps the start", 0xf8, 0x10, "overlaps", true},
		{"overlaps the end", 0x10f, 0x10, "overlaps", true},
		{"same range", base, size, "overlaps", true},
		{"inside", 0x104, 4, "overlaps", true},
		{"around", 0xf0, 0x40, "overlaps", true},
		{"one byte below the end", 0x10f, 1, "overlaps", true},
		{"zero size", 0x200, 0, "zero size", false},
		{"wraps around", ^uint64(0) - 1, 4, "overflows", false},
		{"ends exactly at 2^64", ^uint64(0), 1, "overflows", false},
		{"ends just below 2^64", ^uint64(0) - 1, 1, "", false},
		{"whole space from zero", 0, ^uint64(0), "overlaps", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBus("pio")
			require.NoError(t, b.Insert(&probe{name: "uart"}, base, size))
			err := b.Insert(&probe{name: "new"}, tt.base, tt.size)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Len(t, b.Mappings(), 2)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "pio bus", "the bus names itself")
			assert.Equal(t, tt.wantOverlap, errors.Is(err, ErrOverlap))
			if tt.wantOverlap {
				assert.Contains(t, err.Error(), "uart", "an overlap names the device in the way")
			}
			assert.Len(t, b.Mappings(), 1, "a failed insert changes nothing")
		})
	}
}

func TestInsertNilDevice(t *testing.T) {
	b := NewBus("mmio")
	err := b.Insert(nil, 0x1000, 0x10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil device")
}

func TestDispatch(t *testing.T) {
	b := NewBus("pio")
	dev := &probe{name: "uart"}
	require.NoError(t, b.Insert(dev, 0x3f8, 8))
	tests := []struct {
		name    string
		write   bool
		addr    uint64
		n       int
		handled bool
		offset  uint64
	}{
		{"read at base", false, 0x3f8, 1, true, 0},
		{"write at last byte", true, 0x3ff, 1, true, 7},
		{"wide read inside", false, 0x3fc, 4, true, 4},
		{"read crossing the end", false, 0x3fe, 4, false, 0},
		{"write crossing the start", true, 0x3f6, 4, false, 0},
		{"read below", false, 0x3f7, 1, false, 0},
		{"read above", false, 0x400, 1, false, 0},
		{"far away", true, 0xffff_ffff_ffff_fff0, 8, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev.mu.Lock()
			dev.log = nil
			dev.mu.Unlock()
			data := make([]byte, tt.n)
			var ok bool
			if tt.write {
				for i := range data {
					data[i] = 0xa0 + byte(i)
				}
				ok = b.Write(tt.addr, data)
			} else {
				ok = b.Read(tt.addr, data)
			}
			assert.Equal(t, tt.handled, ok)
			if !tt.handled {
				assert.Empty(t, dev.log, "the device sees nothing")
				if !tt.write {
					for _, v := range data {
						assert.Equal(t, byte(0xff), v, "unmapped reads float to 0xff")
					}
				}
				return
			}
			require.Len(t, dev.log, 1)
			got := dev.log[0]
			assert.Equal(t, tt.write, got.write)
			assert.Equal(t, tt.offset, got.offset, "the device sees an offset, not the address")
			assert.Len(t, got.data, tt.n)
			if !tt.write {
				assert.Equal(t, byte(tt.offset), data[0], "read data comes back to the caller")
			}
		})
	}
}

func TestDispatchPicksTheRightNeighbour(t *testing.T) {
	b := NewBus("pio")
	lo, hi := &probe{name: "lo"}, &probe{name: "hi"}
	require.NoError(t, b.Insert(hi, 0x64, 1))
	require.NoError(t, b.Insert(lo, 0x60, 1))
	assert.True(t, b.Write(0x64, []byte{0xfe}))
	assert.True(t, b.Write(0x60, []byte{0xf4}))
	assert.False(t, b.Write(0x61, []byte{0}))
	require.Len(t, hi.log, 1)
	require.Len(t, lo.log, 1)
	assert.Equal(t, []byte{0xfe}, hi.log[0].data)
	assert.Equal(t, []byte{0xf4}, lo.log[0].data)
}

func TestLookup(t *testing.T) {
	b := NewBus("mmio")
	dev := &probe{name: "rtc"}
	require.NoError(t, b.Insert(dev, 0x1000, 0x100))
	got, off, ok := b.Lookup(0x1080)
	require.True(t, ok)
	assert.Same(t, dev, got.(*probe))
	assert.Equal(t, uint64(0x80), off)
	_, _, ok = b.Lookup(0x1100)
	assert.False(t, ok)
}

func TestRemove(t *testing.T) {
	b := NewBus("pio")
	require.NoError(t, b.Insert(&probe{name: "a"}, 0x10, 4))
	require.NoError(t, b.Insert(&probe{name: "b"}, 0x20, 4))
	assert.False(t, b.Remove(0x12), "only a base removes a device")
	assert.False(t, b.Remove(0x30))
	assert.True(t, b.Remove(0x10))
	assert.False(t, b.Remove(0x10), "already gone")
	assert.False(t, b.Read(0x10, make([]byte, 1)))
	assert.True(t, b.Read(0x20, make([]byte, 1)))
	require.NoError(t, b.Insert(&probe{name: "c"}, 0x10, 0x10), "the space is free again")
}

func TestMappings(t *testing.T) {
	b := NewBus("pio")
	require.NoError(t, b.Insert(&probe{name: "uart"}, 0x3f8, 8))
	require.NoError(t, b.Insert(unnamed{}, 0x70, 2))
	b.Read(0x3f8, make([]byte, 1))
	b.Write(0x3fd, make([]byte, 1))
	b.Write(0x71, make([]byte, 1))
	b.Read(0x500, make([]byte, 1)) // unmapped: counted nowhere
	want := []Mapping{
		{Name: "devices.unnamed", Base: 0x70, Size: 2, Accesses: 1},
		{Name: "uart", Base: 0x3f8, Size: 8, Accesses: 2},
	}
	assert.Equal(t, want, b.Mappings())
	assert.Empty(t, NewBus("empty").Mappings())
}

func TestInterruptFunc(t *testing.T) {
	var got []bool
	var line InterruptLine = InterruptFunc(func(high bool) { got = append(got, high) })
	line.SetLevel(true)
	line.SetLevel(false)
	assert.Equal(t, []bool{true, false}, got)
}

// TestConcurrentReadsDuringInsert hammers lookups while the bus is being
// rebuilt; run it with -race. Readers of a device that stays mapped must
// always reach it.
func TestConcurrentReadsDuringInsert(t *testing.T) {
	b := NewBus("pio")
	stable := &probe{name: "stable"}
	require.NoError(t, b.Insert(stable, 0x1000, 0x10))
	var stop atomic.Bool
	var misses atomic.Int64
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for !stop.Load() {
				if !b.Read(0x1004, buf) {
					misses.Add(1)
				}
				b.Read(0x2000, buf) // may or may not be mapped right now
			}
		}()
	}
	for i := 0; i < 500; i++ {
		base := uint64(0x2000 + (i%16)*0x10)
		require.NoError(t, b.Insert(&probe{name: "churn"}, base, 0x10))
		require.True(t, b.Remove(base))
	}
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, misses.Load(), "a mapped device was missed during updates")
	assert.Len(t, b.Mappings(), 1)
}
