package guestmem

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoRegions is RAM at [0x1000, 0x2000) and [0x3000, 0x3800) with a hole
// between, filled with each byte's low address bits.
func twoRegions(t *testing.T) *Memory {
	t.Helper()
	a := make([]byte, 0x1000)
	b := make([]byte, 0x800)
	for i := range a {
		a[i] = byte(i)
	}
	for i := range b {
		b[i] = byte(i)
	}
	m, err := New(Region{GPA: 0x3000, Data: b}, Region{GPA: 0x1000, Data: a})
	require.NoError(t, err)
	return m
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		regions []Region
		wantErr string
	}{
		{"one region", []Region{{0, make([]byte, 16)}}, ""},
		{"adjacent regions", []Region{{0, make([]byte, 16)}, {16, make([]byte, 16)}}, ""},
		{"empty region", []Region{{0, nil}}, "empty"},
		{"overlap", []Region{{0, make([]byte, 16)}, {8, make([]byte, 16)}}, "overlap"},
		{"overlap given out of order", []Region{{8, make([]byte, 16)}, {0, make([]byte, 16)}}, "overlap"},
		{"ends exactly at 2^64", []Region{{^uint64(0) - 15, make([]byte, 16)}}, "overflows"},
		{"ends just below 2^64", []Region{{^uint64(0) - 16, make([]byte, 16)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.regions...)
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, m)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestRegionsSizeAndOrder(t *testing.T) {
	m := twoRegions(t)
	rs := m.Regions()
	require.Len(t, rs, 2)
	assert.Equal(t, uint64(0x1000), rs[0].GPA, "sorted by address")
	assert.Equal(t, uint64(0x2000), rs[0].End())
	assert.Equal(t, uint64(0x1800), m.Size())
}

func TestSlice(t *testing.T) {
	tests := []struct {
		name  string
		addr  uint64
		n     uint64
		ok    bool
		first byte // expected first byte when n > 0
	}{
		{"inside the first region", 0x1010, 0x10, true, 0x10},
		{"whole first region", 0x1000, 0x1000, true, 0x00},
		{"last byte of a region", 0x1fff, 1, true, 0xff},
		{"inside the second region", 0x3100, 4, true, 0x00},
		{"crossing a region's end", 0x1ff0, 0x20, false, 0},
		{"from one region across the hole into the next", 0x1f00, 0x1200, false, 0},
		{"in the hole", 0x2800, 1, false, 0},
		{"before all RAM", 0, 1, false, 0},
		{"after all RAM", 0x3800, 1, false, 0},
		{"length overflows uint64", 0x1000, ^uint64(0), false, 0},
		{"address near 2^64", ^uint64(0) - 1, 4, false, 0},
		{"huge length", 0x1000, 1 << 63, false, 0},
		{"zero length inside", 0x1800, 0, true, 0},
		{"zero length at a region's end", 0x2000, 0, true, 0},
		{"zero length at the last region's end", 0x3800, 0, true, 0},
		{"zero length in the hole", 0x2800, 0, false, 0},
		{"zero length before RAM", 0x10, 0, false, 0},
	}
	m := twoRegions(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := m.Slice(tt.addr, tt.n)
			assert.Equal(t, tt.ok, m.Contains(tt.addr, tt.n))
			if !tt.ok {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrOutOfRange)
				assert.Nil(t, b)
				return
			}
			require.NoError(t, err)
			require.Len(t, b, int(tt.n))
			assert.Equal(t, int(tt.n), cap(b), "capacity is capped so append cannot reach past the range")
			if tt.n > 0 {
				assert.Equal(t, tt.first, b[0])
			}
		})
	}
}

func TestSliceAliasesGuestMemory(t *testing.T) {
	backing := make([]byte, 64)
	m := FromBytes(0x100, backing)
	b, err := m.Slice(0x110, 4)
	require.NoError(t, err)
	copy(b, "abcd")
	assert.Equal(t, []byte("abcd"), backing[0x10:0x14])
}

func TestReadAtWriteAt(t *testing.T) {
	tests := []struct {
		name string
		off  int64
		n    int
		ok   bool
	}{
		{"inside", 0x1100, 8, true},
		{"up to the end", 0x1ff8, 8, true},
		{"short: crosses the end", 0x1ffc, 8, false},
		{"negative offset", -1, 1, false},
		{"in the hole", 0x2000, 1, false},
		{"empty", 0x1000, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := twoRegions(t)
			in := bytes.Repeat([]byte{0xee}, tt.n)
			n, err := m.WriteAt(in, tt.off)
			if !tt.ok {
				assert.Zero(t, n)
				assert.ErrorIs(t, err, ErrOutOfRange)
				// Nothing was written, not even the part that fits.
				if tt.off > 0 && tt.off < 0x2000 {
					b, _ := m.Slice(uint64(tt.off), 0x2000-uint64(tt.off))
					assert.NotContains(t, b, byte(0xee))
				}
				out := make([]byte, tt.n)
				n, err = m.ReadAt(out, tt.off)
				assert.Zero(t, n)
				assert.ErrorIs(t, err, ErrOutOfRange)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, n)
			out := make([]byte, tt.n)
			n, err = m.ReadAt(out, tt.off)
			require.NoError(t, err)
			assert.Equal(t, tt.n, n)
			assert.Equal(t, in, out)
		})
	}
}

func TestReaderAtWriterAtContracts(t *testing.T) {
	var _ io.ReaderAt = (*Memory)(nil)
	var _ io.WriterAt = (*Memory)(nil)
	m := twoRegions(t)
	// io.SectionReader over the first region reads it back exactly.
	got, err := io.ReadAll(io.NewSectionReader(m, 0x1000, 0x1000))
	require.NoError(t, err)
	assert.Len(t, got, 0x1000)
	assert.Equal(t, byte(0x34), got[0x34])
}

func TestIntegers(t *testing.T) {
	m := FromBytes(0x1000, make([]byte, 16))
	require.NoError(t, m.PutUint16(0x1000, 0xbeef))
	require.NoError(t, m.PutUint32(0x1002, 0xdeadbeef))
	require.NoError(t, m.PutUint64(0x1008, 0x0123456789abcdef))
	v16, err := m.Uint16(0x1000)
	require.NoError(t, err)
	v32, err := m.Uint32(0x1002)
	require.NoError(t, err)
	v64, err := m.Uint64(0x1008)
	require.NoError(t, err)
	assert.Equal(t, uint16(0xbeef), v16)
	assert.Equal(t, uint32(0xdeadbeef), v32)
	assert.Equal(t, uint64(0x0123456789abcdef), v64)
	raw, err := m.Slice(0x1000, 2)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xef, 0xbe}, raw, "little-endian")

	// Each width, one byte too far.
	_, err = m.Uint16(0x100f)
	assert.ErrorIs(t, err, ErrOutOfRange)
	_, err = m.Uint32(0x100d)
	assert.ErrorIs(t, err, ErrOutOfRange)
	_, err = m.Uint64(0x1009)
	assert.ErrorIs(t, err, ErrOutOfRange)
	assert.ErrorIs(t, m.PutUint16(0x100f, 1), ErrOutOfRange)
	assert.ErrorIs(t, m.PutUint32(0x100d, 1), ErrOutOfRange)
	assert.ErrorIs(t, m.PutUint64(0x1009, 1), ErrOutOfRange)
	assert.ErrorIs(t, m.PutUint64(^uint64(0)-3, 1), ErrOutOfRange)
}

func TestFill(t *testing.T) {
	boom := errors.New("disk on fire")
	tests := []struct {
		name    string
		src     io.Reader
		addr, n uint64
		wantErr error
	}{
		{"exact", strings.NewReader("kernel"), 0x10, 6, nil},
		{"longer source", strings.NewReader("kernel image"), 0x10, 6, nil},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader("kernel")), 0x10, 6, nil},
		{"short source", strings.NewReader("ker"), 0x10, 6, io.ErrUnexpectedEOF},
		{"empty source", strings.NewReader(""), 0x10, 6, io.ErrUnexpectedEOF},
		{"read error", iotest.ErrReader(boom), 0x10, 6, boom},
		{"out of range", strings.NewReader("kernel"), 0x3e, 6, ErrOutOfRange},
		{"zero length", strings.NewReader(""), 0x40, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := FromBytes(0, make([]byte, 0x40))
			err := m.Fill(tt.src, tt.addr, tt.n)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			b, err := m.Slice(tt.addr, tt.n)
			require.NoError(t, err)
			assert.Equal(t, "kernel"[:tt.n], string(b))
		})
	}
}

func TestFillOutOfRangeDoesNotConsumeTheSource(t *testing.T) {
	m := FromBytes(0, make([]byte, 8))
	src := strings.NewReader("abc")
	assert.ErrorIs(t, m.Fill(src, 6, 3), ErrOutOfRange)
	assert.Equal(t, 3, src.Len())
}

func TestFromBytesPanicsOnlyOnEmpty(t *testing.T) {
	assert.Panics(t, func() { FromBytes(0, nil) })
	assert.NotPanics(t, func() { FromBytes(0, []byte{0}) })
}

func TestResident(t *testing.T) {
	m, err := Map(Range{GPA: 0, Size: 64 << 20})
	require.NoError(t, err)
	defer m.Close()
	before, err := m.Resident()
	require.NoError(t, err)
	b, err := m.Slice(0, 8<<20)
	require.NoError(t, err)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	after, err := m.Resident()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after-before, uint64(8<<20), "touched 8 MiB")
	assert.LessOrEqual(t, after, uint64(64<<20))
}
