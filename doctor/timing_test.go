package doctor

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guestTime sums the durations the fake returned for one CPL.
func guestTime(k *fakeKVM, cpl int) time.Duration {
	var d time.Duration
	for _, c := range k.loopCalls {
		if c.cpl == cpl {
			d += c.d
		}
	}
	return d
}

func TestMeasureAdapts(t *testing.T) {
	const budget = 75 * time.Millisecond
	tests := []struct {
		name      string
		nsPerIter float64
		overhead  time.Duration
	}{
		{"emulated ring 0 (kvm_pvm CPL 0)", 1000, 50 * time.Microsecond},
		{"the lab", 2, 20 * time.Microsecond},
		{"hardware", 0.3, 5 * time.Microsecond},
		{"kvm_pvm CPL 3", 0.24, 30 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKVM{nsPerIter: map[int]float64{0: tt.nsPerIter}, loopOverhead: tt.overhead}
			got, err := measure(k, 0, budget)
			require.NoError(t, err)

			require.NotEmpty(t, k.loopCalls)
			assert.Equal(t, uint64(1), k.loopCalls[0].n, "a one-iteration warm-up comes first")
			assert.LessOrEqual(t, len(k.loopCalls), 1+probeRuns)
			assert.LessOrEqual(t, guestTime(k, 0), budget+probeTarget, "stays near the budget")
			// The figure is within 1% of the truth: the fixed overhead is
			// spread over a run of about probeTarget.
			assert.InEpsilon(t, tt.nsPerIter, got.NsPerIter, 0.01)
			assert.Equal(t, got.Iterations, k.loopCalls[len(k.loopCalls)-1].n, "the figure is the last run's")
			assert.Equal(t, float64(got.ElapsedNs)/float64(got.Iterations), got.NsPerIter)
		})
	}
}

func TestMeasureBudgetCapsLongRuns(t *testing.T) {
	// At 1 ms an iteration, the first 100 iterations already take 100 ms:
	// the probe stops there rather than growing past its budget.
	k := &fakeKVM{nsPerIter: map[int]float64{0: 1e6}}
	got, err := measure(k, 0, 75*time.Millisecond)
	require.NoError(t, err)
	assert.Len(t, k.loopCalls, 2, "warm-up and one run")
	assert.Equal(t, uint64(probeFirstN), got.Iterations)
}

func TestMeasureError(t *testing.T) {
	k := &fakeKVM{loopErr: errors.New("timing guest: KVM_CREATE_VM: cannot allocate memory")}
	_, err := measure(k, 0, time.Second)
	assert.EqualError(t, err, "timing guest: KVM_CREATE_VM: cannot allocate memory")
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
			wantEvidence: "CPL 0 1000 ns, CPL 3 0.24 ns per dec/jnz iteration: ring 0 is emulated in software, 4167x slower than CPL 3 (hardware runs both near 1 ns); a guest kernel crawls here",
		},
		{
			name:         "hardware",
			ns:           map[int]float64{0: 0.3, 3: 0.3},
			wantStatus:   StatusOK,
			wantEvidence: "CPL 0 0.30 ns, CPL 3 0.30 ns per dec/jnz iteration: guest code runs at hardware speed",
		},
		{
			name:         "the lab",
			ns:           map[int]float64{0: 2, 3: 2},
			wantStatus:   StatusOK,
			wantEvidence: "CPL 0 2.00 ns, CPL 3 2.00 ns per dec/jnz iteration: guest code runs at hardware speed",
		},
		{
			name:         "slow at every level",
			ns:           map[int]float64{0: 200, 3: 150},
			wantStatus:   StatusWarn,
			wantEvidence: "CPL 0 200 ns, CPL 3 150 ns per dec/jnz iteration: guest code runs far below hardware speed (a busy host, or KVM itself running nested)",
		},
		{
			name:         "CPL 3 fails: slow CPL 0 is not called emulated",
			ns:           map[int]float64{0: 1000},
			wantStatus:   StatusWarn,
			wantEvidence: "CPL 0 1000 ns, CPL 3 not measured (fake: no timing for this CPL) per dec/jnz iteration: guest code runs far below hardware speed (a busy host, or KVM itself running nested)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKVM{nsPerIter: tt.ns}
			tm, err := probe(k, 0)
			require.NoError(t, err)
			assert.Equal(t, tt.wantEmulated, tm.Ring0Emulated)
			assert.LessOrEqual(t, guestTime(k, 0)+guestTime(k, 3), DefaultProbeBudget+2*probeTarget)
			s, ev := tm.rate()
			assert.Equal(t, tt.wantStatus, s)
			assert.Equal(t, tt.wantEvidence, ev)
		})
	}
}

func TestProbeCPL0Error(t *testing.T) {
	k := &fakeKVM{nsPerIter: map[int]float64{3: 1}}
	tm, err := probe(k, 0)
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
