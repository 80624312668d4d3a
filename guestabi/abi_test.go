package guestabi

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestVerdictString(t *testing.T) {
	tests := []struct {
		v    Verdict
		want string
	}{
		{Pass, "pass"},
		{Fail, "fail"},
		{SetupError, "setup error"},
		{UnknownScenario, "unknown scenario"},
		{NothingToRun, "nothing to run"},
		{NoKVM, "no kvm"},
		{Verdict(77), "verdict(77)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.v.String())
		})
	}
}

func TestVerdictsFitQEMUExitStatus(t *testing.T) {
	// isa-debug-exit turns v into (v<<1)|1, and an exit status is 8 bits.
	for _, v := range []Verdict{Pass, Fail, SetupError, UnknownScenario, NothingToRun, NoKVM} {
		assert.Less(t, int(v)<<1|1, 256, "verdict %v", v)
	}
}

func TestMarkerString(t *testing.T) {
	tests := []struct {
		m    Marker
		want string
	}{
		{MarkerInitStarted, "init started"},
		{MarkerModulesLoaded, "modules loaded"},
		{MarkerScenarioStart, "scenario start"},
		{MarkerScenarioEnd, "scenario end"},
		{MarkerMeasureStart, "measure start"},
		{MarkerMeasureEnd, "measure end"},
		{Marker(9), "marker(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.m.String())
		})
	}
}

func TestNextLevel(t *testing.T) {
	tests := []struct{ level, want string }{
		{"H", "G1"},
		{"G1", "G2"},
		{"G2", "G3"},
		{"G1a", "G2a"},
		{"G2crash", "G3crash"},
		{"G", "G+1"},
		{"Gx", "Gx+1"},
		{"G99999999999999999999", "G99999999999999999999+1"},
		{"X", "X+1"},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			assert.Equal(t, tt.want, NextLevel(tt.level))
		})
	}
}

func TestMarkerByte(t *testing.T) {
	for _, tt := range []struct {
		depth int
		m     Marker
		want  uint8
	}{{0, MarkerInitStarted, 0x01}, {1, MarkerMeasureStart, 0x45}, {2, MarkerScenarioEnd, 0x84}, {9, MarkerMeasureEnd, 0xc6}, {-1, MarkerInitStarted, 0x01}} {
		b := MarkerByte(tt.depth, tt.m)
		assert.Equal(t, tt.want, b, "depth %d marker %s", tt.depth, tt.m)
		depth, m := SplitMarker(b)
		assert.Equal(t, tt.m, m)
		assert.Equal(t, min(max(tt.depth, 0), MaxMarkerDepth), depth)
	}
}

func TestForwardMarker(t *testing.T) {
	b := uint8(MarkerInitStarted)
	depth, m := SplitMarker(b)
	assert.Equal(t, 0, depth)
	assert.Equal(t, MarkerInitStarted, m)
	assert.Equal(t, "init started", DescribeMarker(b))
	b = ForwardMarker(b)
	depth, m = SplitMarker(b)
	assert.Equal(t, 1, depth)
	assert.Equal(t, MarkerInitStarted, m)
	assert.Equal(t, "+1 init started", DescribeMarker(b))
	b = ForwardMarker(ForwardMarker(ForwardMarker(b)))
	depth, _ = SplitMarker(b)
	assert.Equal(t, MaxMarkerDepth, depth, "depth saturates")
	assert.Equal(t, uint8(0x40|4), ForwardMarker(uint8(MarkerScenarioEnd)))
}
