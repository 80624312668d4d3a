package window

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vcpu"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"scenario start..scenario end", Spec{Open: 3, Close: 4}, ""},
		{"+1 scenario start..+1 scenario end", Spec{Open: 0x43, Close: 0x44}, ""},
		{" +2 init started .. +2 scenario end ", Spec{Open: 0x81, Close: 0x84}, ""},
		{"3..0x44", Spec{Open: 3, Close: 0x44}, ""},
		{"scenario start", Spec{}, "want OPEN..CLOSE"},
		{"scenario start..scenario start", Spec{}, "same marker"},
		{"lunch..scenario end", Spec{}, `no marker is called "lunch"`},
		{"3..256", Spec{}, `no marker is called "256"`},
		{"", Spec{}, "want OPEN..CLOSE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String reads back")
		})
	}
}

// fakeCounters counts up by step each time it is read.
type fakeCounters struct {
	n    uint64
	step uint64
}

func (f *fakeCounters) read() machine.Counters {
	f.n += f.step
	return machine.Counters{
		Exits: vcpu.StatsSnapshot{Exits: map[string]uint64{"KVM_EXIT_IO": f.n}},
		KVM: machine.KVMStats{Available: true, VM: map[string]uint64{"pages_2m": 100 - f.n},
			VCPUs: []map[string]uint64{{"exits": 10 * f.n, "halt_exits": 7}}},
	}
}

type fakeTracer struct {
	calls    []string
	startErr error
	counts   *ktrace.Counts
}

func (f *fakeTracer) Start() error { f.calls = append(f.calls, "start"); return f.startErr }
func (f *fakeTracer) Stop() error  { f.calls = append(f.calls, "stop"); return nil }
func (f *fakeTracer) Snapshot() (*ktrace.Counts, error) {
	f.calls = append(f.calls, "snapshot")
	return f.counts, nil
}

func mark(v uint8, ms int) machine.Marker {
	return machine.Marker{Value: uint32(v), At: time.Duration(ms) * time.Millisecond}
}

func TestRecorderWindows(t *testing.T) {
	c := &fakeCounters{step: 5}
	tr := &fakeTracer{counts: &ktrace.Counts{Method: ktrace.MethodHist}}
	r := New(Spec{Open: 0x43, Close: 0x44}, c.read, tr, "")
	r.OnMarker(mark(0x44, 1))  // a close with nothing open: ignored
	r.OnMarker(mark(0x43, 10)) // open
	r.OnMarker(mark(0x03, 15)) // G1's own scenario start: another marker
	r.OnMarker(mark(0x43, 20)) // open while open: ignored
	r.OnMarker(mark(0x44, 30)) // close
	r.OnMarker(mark(0x43, 40)) // a second window
	r.Finish(50 * time.Millisecond)
	res := r.Results()
	require.Len(t, res, 2)
	assert.Equal(t, 1, res[0].Index)
	assert.Equal(t, "+1 scenario start..+1 scenario end", res[0].Spec)
	assert.True(t, res[0].Complete)
	assert.InDelta(t, 20.0, res[0].DurationMs, 1e-9)
	assert.Equal(t, map[string]int64{"KVM_EXIT_IO": 5}, res[0].Exits)
	assert.Equal(t, map[string]int64{"exits": 50}, res[0].KVM.VCPUs[0], "unchanged counters are left out")
	assert.Equal(t, map[string]int64{"pages_2m": -5}, res[0].KVM.VM, "a counter that went down shows signed")
	assert.Equal(t, int64(50), res[0].KVM.VCPUTotal("exits"))
	assert.Same(t, tr.counts, res[0].Trace)
	assert.False(t, res[1].Complete, "closed by Finish")
	assert.Equal(t, []string{"start", "stop", "snapshot", "start", "stop", "snapshot"}, tr.calls)
}

func TestRecorderTraceProblems(t *testing.T) {
	c := &fakeCounters{step: 1}
	r := New(Spec{Open: 3, Close: 4}, c.read, nil, "no -trace-exits")
	r.OnMarker(mark(3, 0))
	r.OnMarker(mark(4, 1))
	assert.Equal(t, "unavailable: no -trace-exits", r.Results()[0].TraceUnavailable)

	tr := &fakeTracer{startErr: errors.New("tracefs: permission denied")}
	r = New(Spec{Open: 3, Close: 4}, c.read, tr, "")
	r.OnMarker(mark(3, 0))
	r.OnMarker(mark(4, 1))
	res := r.Results()[0]
	assert.Nil(t, res.Trace)
	assert.Equal(t, "unavailable: tracefs: permission denied", res.TraceUnavailable)
	assert.Equal(t, map[string]int64{"KVM_EXIT_IO": 1}, res.Exits, "the counters still count")
	var b strings.Builder
	res.WriteText(&b)
	assert.Contains(t, b.String(), "L0 exits by reason (kvm tracepoints): unavailable: tracefs: permission denied")
	assert.Contains(t, b.String(), "userspace exits: KVM_EXIT_IO 1")
}

func TestRecorderWholeRun(t *testing.T) {
	c := &fakeCounters{step: 2}
	r := NewWholeRun(c.read, nil, "no tracefs")
	r.OnMarker(mark(3, 1)) // markers do nothing here
	r.OnMarker(mark(4, 2))
	assert.Empty(t, r.Results())
	r.OpenNow(0)
	r.Finish(5 * time.Millisecond)
	res := r.Results()
	require.Len(t, res, 1)
	assert.Equal(t, "the whole run", res[0].Spec)
}

func TestKVMUnavailable(t *testing.T) {
	read := func() machine.Counters {
		return machine.Counters{KVM: machine.KVMStats{Reason: "unavailable: host KVM has no KVM_CAP_BINARY_STATS_FD (Linux 5.14+)"}}
	}
	r := New(Spec{Open: 3, Close: 4}, read, nil, "x")
	r.OnMarker(mark(3, 0))
	r.OnMarker(mark(4, 1))
	res := r.Results()[0]
	assert.False(t, res.KVM.Available)
	var b strings.Builder
	res.WriteText(&b)
	assert.Contains(t, b.String(), "KVM counters: unavailable: host KVM has no KVM_CAP_BINARY_STATS_FD")
}

func TestSilentTracepoints(t *testing.T) {
	c := &fakeCounters{step: 3}
	tr := &fakeTracer{counts: &ktrace.Counts{Method: ktrace.MethodBuffer, Events: []ktrace.EventCount{{Event: "kvm_exit"}}}}
	r := New(Spec{Open: 3, Close: 4}, c.read, tr, "")
	r.OnMarker(mark(3, 0))
	r.OnMarker(mark(4, 1))
	var b strings.Builder
	res := r.Results()[0]
	res.WriteText(&b)
	assert.Contains(t, b.String(), "kvm_exit never fired while KVM counted 30 exits")
}
