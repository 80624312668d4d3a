package kvm

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeStat struct {
	name     string
	flags    uint32
	exponent int16
	values   []uint64
	bucket   uint32
}

// statsBlob lays out a binary stats file the way KVM does: header, id,
// descriptors (each followed by a NUL-padded name), then the data block.
func statsBlob(t *testing.T, id string, nameSize int, stats []fakeStat) []byte {
	t.Helper()
	const headerSize = 24
	idOffset := headerSize
	descOffset := idOffset + nameSize
	descSize := 16 + nameSize
	dataOffset := descOffset + len(stats)*descSize
	var buf bytes.Buffer
	w := func(v any) { require.NoError(t, binary.Write(&buf, binary.LittleEndian, v)) }
	w([]uint32{0, uint32(nameSize), uint32(len(stats)), uint32(idOffset), uint32(descOffset), uint32(dataOffset)})
	pad := func(s string) { b := make([]byte, nameSize); copy(b, s); buf.Write(b) }
	pad(id)
	off := uint32(0)
	for _, s := range stats {
		w(s.flags)
		w(s.exponent)
		w(uint16(len(s.values)))
		w(off)
		w(s.bucket)
		pad(s.name)
		off += 8 * uint32(len(s.values))
	}
	for _, s := range stats {
		w(s.values)
	}
	return buf.Bytes()
}

func TestParseStatsSyntheticBlob(t *testing.T) {
	stats := []fakeStat{
		{name: "exits", flags: uint32(StatsTypeCumulative) | uint32(StatsUnitNone), values: []uint64{1234}},
		{name: "halt_poll_success_ns", flags: uint32(StatsTypeCumulative) | uint32(StatsUnitSeconds), exponent: -9, values: []uint64{55}},
		{name: "pages_4k", flags: uint32(StatsTypeInstant), values: []uint64{7}},
		{name: "halt_wait_hist", flags: uint32(StatsTypeLogHist) | uint32(StatsUnitSeconds) | uint32(StatsBasePow2), exponent: -9, values: []uint64{1, 2, 3, 4}},
		{name: "lin", flags: uint32(StatsTypeLinearHist), values: []uint64{9, 8}, bucket: 16},
	}
	blob := statsBlob(t, "kvm-4242/vcpu-0", 48, stats)
	s, err := ParseStats(bytes.NewReader(blob))
	require.NoError(t, err)

	assert.Equal(t, "kvm-4242/vcpu-0", s.ID())
	descs := s.Descriptors()
	require.Len(t, descs, 5)
	assert.Equal(t, "halt_poll_success_ns", descs[1].Name)
	assert.Equal(t, StatsUnitSeconds, descs[1].Unit())
	assert.Equal(t, int16(-9), descs[1].Exponent)
	assert.Equal(t, StatsTypeInstant, descs[2].Type())
	assert.Equal(t, StatsTypeLogHist, descs[3].Type())
	assert.Equal(t, StatsBasePow2, descs[3].Base())
	assert.Equal(t, uint16(4), descs[3].Size)
	assert.Equal(t, uint32(16), descs[4].BucketSize)

	values, err := s.Read()
	require.NoError(t, err)
	assert.Equal(t, map[string][]uint64{
		"exits":                {1234},
		"halt_poll_success_ns": {55},
		"pages_4k":             {7},
		"halt_wait_hist":       {1, 2, 3, 4},
		"lin":                  {9, 8},
	}, values)
}

func TestParseStatsRejectsCorruptFiles(t *testing.T) {
	good := statsBlob(t, "kvm-1", 48, []fakeStat{{name: "a", values: []uint64{1}}})
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
	}{
		{"truncated header", func(b []byte) []byte { return b[:10] }},
		{"zero name size", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 0); return b }},
		{"huge name size", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 1<<30); return b }},
		{"huge descriptor count", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], 1<<30); return b }},
		{"descriptors past the end", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<20); return b }},
		{"values far past the limit", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[24+48+8:], 0xfffffff0) // descriptor 0 offset
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), good...))
			_, err := ParseStats(bytes.NewReader(b))
			assert.Error(t, err)
		})
	}
}

func TestParseStatsDataReadFails(t *testing.T) {
	blob := statsBlob(t, "kvm-1", 48, []fakeStat{{name: "a", values: []uint64{1, 2}}})
	s, err := ParseStats(bytes.NewReader(blob[:len(blob)-8])) // data block cut short
	require.NoError(t, err)
	_, err = s.Read()
	assert.ErrorContains(t, err, "stats data")
}
