package guestmem

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMap(t *testing.T) {
	m, err := Map(Range{GPA: 0, Size: 1 << 20}, Range{GPA: 4 << 30, Size: 2 << 20})
	require.NoError(t, err)
	assert.Equal(t, uint64(3<<20), m.Size())
	require.NoError(t, m.PutUint64(4<<30+8, 42), "above 4 GiB")
	v, err := m.Uint64(4<<30 + 8)
	require.NoError(t, err)
	assert.Equal(t, uint64(42), v)
	for _, r := range m.Regions() {
		assert.NotZero(t, r.HostAddr())
	}
	require.NoError(t, m.Close())
	assert.Empty(t, m.Regions(), "closed memory has no regions")
	_, err = m.Slice(0, 1)
	assert.ErrorIs(t, err, ErrOutOfRange, "closed memory is never touched")
	assert.NoError(t, m.Close(), "Close is idempotent")
}

func TestMapRejects(t *testing.T) {
	tests := []struct {
		name   string
		ranges []Range
	}{
		{"zero size", []Range{{GPA: 0, Size: 0}}},
		{"absurd size", []Range{{GPA: 0, Size: 1 << 60}}},
		{"overlap", []Range{{GPA: 0, Size: 1 << 20}, {GPA: 1 << 19, Size: 1 << 20}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Map(tt.ranges...)
			require.Error(t, err)
			assert.Nil(t, m)
		})
	}
}

func TestHostAddr(t *testing.T) {
	b := make([]byte, 8)
	assert.NotZero(t, Region{Data: b}.HostAddr())
	assert.Zero(t, Region{}.HostAddr())
	assert.NoError(t, FromBytes(0, b).Close(), "Close of test memory is a no-op")
}

// TestMapAlignsForHugePages: KVM maps guest RAM with 2 MiB pages only when
// the host and guest addresses agree modulo 2 MiB.
func TestMapAlignsForHugePages(t *testing.T) {
	ranges := []Range{{GPA: 0, Size: 8 << 20}, {GPA: 4<<30 + 1<<20, Size: 2 << 20}, {GPA: 1 << 40, Size: 1 << 20}}
	m, err := Map(ranges...)
	require.NoError(t, err)
	regions := m.Regions()
	require.Len(t, regions, 3)
	for i, r := range regions[:2] {
		assert.Equal(t, ranges[i].Size, uint64(len(r.Data)))
		assert.Equal(t, r.GPA%HugePageSize, uint64(r.HostAddr())%HugePageSize, "region at %#x", r.GPA)
	}
	assert.Equal(t, uint64(1<<20), uint64(len(regions[2].Data)), "a small region is mapped as it is")
	for _, r := range regions {
		r.Data[0], r.Data[len(r.Data)-1] = 1, 2 // the whole region is mapped
	}
	require.NoError(t, m.Close(), "every mapping is released")
}

func TestHugeOffset(t *testing.T) {
	tests := []struct {
		addr uintptr
		gpa  uint64
		want uint64
	}{
		{0x7f0000200000, 0, 0},
		{0x7f0000201000, 0, HugePageSize - 0x1000},
		{0x7f0000200000, 0x100000, 0x100000},
		{0x7f00002ff000, 0x100000, 0x1000},
		{0x7f0000300000, 0x100000, 0},
	}
	for _, tt := range tests {
		got := hugeOffset(tt.addr, tt.gpa)
		assert.Equal(t, tt.want, got, "addr %#x gpa %#x", tt.addr, tt.gpa)
		assert.Equal(t, tt.gpa%HugePageSize, (uint64(tt.addr)+got)%HugePageSize)
	}
}
