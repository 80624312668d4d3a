package doctor

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMeasure(t *testing.T) {
	const window = 25 * time.Millisecond
	tests := []struct {
		name      string
		nsPerIter float64
		wait      time.Duration
		noCPU     bool
		want      float64
	}{
		{name: "emulated ring 0 (kvm_pvm CPL 0)", nsPerIter: 1000, want: 1000},
		{name: "the lab", nsPerIter: 2, want: 2},
		{name: "hardware", nsPerIter: 0.3, want: 0.3},
		{name: "kvm_pvm CPL 3", nsPerIter: 0.24, want: 0.24},
		{name: "a very slow host still finishes in the window", nsPerIter: 1e6, want: 1e6},
		{name: "a busy host: waiting for a CPU does not count", nsPerIter: 1000, wait: 600 * time.Millisecond, want: 1000},
		{name: "no CPU time: the wall time is used", nsPerIter: 1000, wait: 25 * time.Millisecond, noCPU: true, want: 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKVM{nsPerIter: map[int]float64{0: tt.nsPerIter}, loopWait: tt.wait, noCPUTime: tt.noCPU}
			got, err := measure(k, 0, window)
			require.NoError(t, err)
			assert.Equal(t, []loopCall{{0, probeWarmUp}, {0, window}}, k.loopCalls, "a warm-up, then the window")
			assert.InEpsilon(t, tt.want, got.NsPerIter, 1e-6) // integer iteration counts round
			assert.Equal(t, uint64(float64(window.Nanoseconds())/tt.nsPerIter), got.Iterations)
			assert.Equal(t, (window + tt.wait).Nanoseconds(), got.WallNs)
			if tt.noCPU {
				assert.Zero(t, got.CPUNs)
			} else {
				assert.Equal(t, window.Nanoseconds(), got.CPUNs)
			}
		})
	}
}

func TestMeasureNoIteration(t *testing.T) {
	// Slower than one iteration per window: no figure, and no division by
	// zero (an infinite ns_per_iter would not even encode as JSON).
	k := &fakeKVM{nsPerIter: map[int]float64{0: 1e9}}
	_, err := measure(k, 0, 25*time.Millisecond)
	assert.EqualError(t, err, "timing guest at CPL 0: no iteration in 1.023s of warm-up")
	assert.Len(t, k.loopCalls, 10, "warm-ups of 1, 2, 4 ... 512 ms, then it gives up")
}

func TestMeasureWarmsUpUntilProgress(t *testing.T) {
	// Nested KVM: the first entries only fault pages in.
	k := &fakeKVM{nsPerIter: map[int]float64{0: 2}, stallCalls: 3}
	got, err := measure(k, 0, 25*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []loopCall{{0, probeWarmUp}, {0, 2 * probeWarmUp}, {0, 4 * probeWarmUp}, {0, 8 * probeWarmUp}, {0, 25 * time.Millisecond}}, k.loopCalls)
	assert.InEpsilon(t, 2, got.NsPerIter, 1e-6)
}

func TestMeasureError(t *testing.T) {
	k := &fakeKVM{loopErr: errors.New("timing guest: KVM_CREATE_VM: cannot allocate memory")}
	_, err := measure(k, 0, time.Second)
	assert.EqualError(t, err, "timing guest: KVM_CREATE_VM: cannot allocate memory")
}

func TestProbeSplitsTheBudget(t *testing.T) {
	k := &fakeKVM{nsPerIter: map[int]float64{0: 1000, 3: 0.24}}
	_, err := probe(k, 0)
	require.NoError(t, err)
	half := DefaultProbeBudget / 2
	assert.Equal(t, []loopCall{{0, probeWarmUp}, {0, half}, {3, probeWarmUp}, {3, half}}, k.loopCalls)

	k = &fakeKVM{nsPerIter: map[int]float64{0: 1, 3: 1}}
	_, err = probe(k, 10*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, []loopCall{{0, probeWarmUp}, {0, 5 * time.Millisecond}, {3, probeWarmUp}, {3, 5 * time.Millisecond}}, k.loopCalls)
}

func TestProbeAndRate(t *testing.T) {
	tests := []struct {
		name         string
		ns           map[int]float64
		wantEmulated bool
		wantStatus   Status
		wantEvidence string
	}{
		{
			name:         "kvm_pvm: ring 0 emulated",
			ns:           map[int]float64{0: 1000, 3: 0.24},
			wantEmulated: true,
			wantStatus:   StatusWarn,
			wantEvidence: "CPL 0 1000 ns, CPL 3 0.24 ns per dec/jnz iteration: ring 0 is emulated in software, 4167x slower than CPL 3 (where KVM runs guest code directly, both take about as long); a guest kernel crawls here",
		},
		{
			name:         "hardware",
			ns:           map[int]float64{0: 0.3, 3: 0.3},
			wantStatus:   StatusOK,
			wantEvidence: "CPL 0 0.30 ns, CPL 3 0.30 ns per dec/jnz iteration: ring 0 runs like ring 3: KVM runs the guest's code directly",
		},
		{
			name:         "the lab",
			ns:           map[int]float64{0: 4.23, 3: 4.85},
			wantStatus:   StatusOK,
			wantEvidence: "CPL 0 4.23 ns, CPL 3 4.85 ns per dec/jnz iteration: ring 0 runs like ring 3: KVM runs the guest's code directly",
		},
		{
			name:         "slow at every level",
			ns:           map[int]float64{0: 200, 3: 150},
			wantStatus:   StatusWarn,
			wantEvidence: "CPL 0 200 ns, CPL 3 150 ns per dec/jnz iteration: guest code runs slowly at both levels (a busy host, or a host that is itself emulated or nested)",
		},
		{
			name:         "CPL 3 fails: slow CPL 0 is not called emulated",
			ns:           map[int]float64{0: 1000},
			wantStatus:   StatusWarn,
			wantEvidence: "CPL 0 1000 ns, CPL 3 not measured (fake: no timing for this CPL) per dec/jnz iteration: guest code runs slowly at both levels (a busy host, or a host that is itself emulated or nested)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, err := probe(&fakeKVM{nsPerIter: tt.ns}, 0)
			require.NoError(t, err)
			assert.Equal(t, tt.wantEmulated, tm.Ring0Emulated)
			s, ev := tm.rate()
			assert.Equal(t, tt.wantStatus, s)
			assert.Equal(t, tt.wantEvidence, ev)
		})
	}
}

func TestProbeCPL0Error(t *testing.T) {
	tm, err := probe(&fakeKVM{nsPerIter: map[int]float64{3: 1}}, 0)
	assert.Nil(t, tm)
	assert.ErrorIs(t, err, errFakeNoLoop)
}

func TestFormatNs(t *testing.T) {
	for _, tt := range []struct {
		ns   float64
		want string
	}{{0.244, "0.24 ns"}, {9.999, "10.00 ns"}, {10, "10 ns"}, {1012.4, "1012 ns"}} {
		assert.Equal(t, tt.want, formatNs(tt.ns), "%v", tt.ns)
	}
}
