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
