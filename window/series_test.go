package window

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/machine"
)

// TestSeriesSamplesDifferences: each sample holds what changed since the
// one before it, and the series keeps them in order.
func TestSeriesSamplesDifferences(t *testing.T) {
	f := &fakeCounters{step: 2}
	s := NewSeries(f.read, 50*time.Millisecond) // base: n=2
	a := s.Sample(150 * time.Millisecond)       // n=4
	b := s.Sample(400 * time.Millisecond)       // n=6
	assert.Equal(t, 150.0, a.AtMs)
	assert.Equal(t, 100.0, a.DurationMs)
	assert.Equal(t, 250.0, b.DurationMs)
	assert.Equal(t, map[string]int64{"KVM_EXIT_IO": 2}, a.Exits)
	assert.Equal(t, int64(2), a.UserspaceTotal())
	assert.True(t, a.KVM.Available)
	assert.Equal(t, int64(20), a.KVM.VCPUTotal("exits"))
	assert.Zero(t, a.KVM.VCPUTotal("halt_exits"), "an unchanged counter is left out")
	assert.Equal(t, int64(-2), a.KVM.VM["pages_2m"], "an instant counter can go down")
	assert.Equal(t, []Sample{a, b}, s.Samples())
}

// TestSeriesRows: the rows line up under the header, and a run without
// KVM's statistics prints "-" in their columns.
func TestSeriesRows(t *testing.T) {
	var b strings.Builder
	WriteSeriesHeader(&b)
	f := &fakeCounters{step: 1}
	s := NewSeries(f.read, 0)
	smp := s.Sample(time.Second)
	WriteSeriesRow(&b, &smp)
	none := NewSeries(func() machine.Counters {
		return machine.Counters{KVM: machine.KVMStats{Reason: "host KVM has no KVM_CAP_BINARY_STATS_FD"}}
	}, 0)
	smp = none.Sample(2 * time.Second)
	WriteSeriesRow(&b, &smp)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "      at_s userspace    exits io_exits mmio_exits halt_exits irq_exits pf_taken insn_emulation nested_run", lines[0])
	assert.Equal(t, "     1.000         1       10        0          0          0         0        0              0          0", lines[1])
	assert.Equal(t, "     2.000         0        -        -          -          -         -        -              -          -", lines[2])
	for _, l := range lines[1:] {
		assert.Len(t, l, len(lines[0]), "a row as wide as the header")
	}
}
