package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/internal/exitloop"
	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/window"
)

// nestedStateCap is KVM_CAP_NESTED_STATE here (0 without nesting).
func nestedStateCap(t *testing.T) int {
	sys := kvmtest.Open(t)
	n, err := sys.CheckExtension(kvm.CapNestedState)
	require.NoError(t, err)
	return n
}

// TestNestedStateSignal: SIGUSR1 reads the vCPUs' nested state while the
// guest runs, says what it found, and the run goes on until SIGTERM.
func TestNestedStateSignal(t *testing.T) {
	size := nestedStateCap(t)
	dir := t.TempDir()
	p := start(t, dir, nil, "run", "-kernel", readyThenSpin(t, dir))
	waitFor(t, "stdout", p.stdout.String, "ready")
	p.signal(t, syscall.SIGUSR1)
	waitFor(t, "stderr", p.stderr.String, "nested state at ")
	waitFor(t, "stderr", p.stderr.String, "nested state vcpu 0: ")
	if size == 0 {
		assert.Contains(t, p.stderr.String(), "nested state vcpu 0: unavailable: host KVM has no nested state")
	} else {
		// This guest runs no guest of its own.
		waitFor(t, "stderr", p.stderr.String, "no vCPU was in guest mode")
	}
	p.signal(t, syscall.SIGUSR1) // a second reading works too
	time.Sleep(50 * time.Millisecond)
	p.signal(t, syscall.SIGTERM)
	assert.Equal(t, 143, p.wait(t, guestLimit), "the guest ran on until SIGTERM; stderr: %s", p.stderr)
}

// TestNestedStateAt: -nested-state-at reads the state at a time, and the
// reading goes into -stats-json.
func TestNestedStateAt(t *testing.T) {
	nestedStateCap(t)
	var doc struct {
		NestedStates []stateCapture `json:"nested_states"`
	}
	r := spinForASecond(t, &doc, "-nested-state-at", "100ms")
	assert.Contains(t, r.stderr, "(-nested-state-at):")
	require.Len(t, doc.NestedStates, 1)
	c := doc.NestedStates[0]
	assert.Equal(t, "-nested-state-at", c.Trigger)
	assert.GreaterOrEqual(t, c.AtMs, 100.0)
	require.Len(t, c.VCPUs, 1)
	assert.False(t, c.VCPUs[0].GuestMode)
}

// TestStatsInterval: -stats-interval prints a row per interval while the
// guest runs and keeps the series in -stats-json; the series covers the
// whole run, so its userspace exits add up to the run's.
func TestStatsInterval(t *testing.T) {
	needKVM(t)
	var doc struct {
		Exits struct {
			ByReason map[string]int64 `json:"by_reason"`
		} `json:"exits"`
		Series []window.Sample `json:"series"`
	}
	r := spinForASecond(t, &doc, "-stats-interval", "100ms")
	assert.Contains(t, r.stderr, "gonest: counts per 100ms (KVM's counters summed over the vCPUs):\n      at_s userspace    exits")
	require.GreaterOrEqual(t, len(doc.Series), 2, "a row at least every 100ms of a 1s run, and the last partial one")
	var userspace, want int64
	last := 0.0
	for i, s := range doc.Series {
		assert.Greater(t, s.AtMs, last, "sample %d comes after the one before", i)
		last = s.AtMs
		userspace += s.UserspaceTotal()
	}
	for _, n := range doc.Exits.ByReason {
		want += n
	}
	assert.Equal(t, want, userspace, "the series covers every exit of the run")
	assert.Positive(t, userspace, "the guest printed \"ready\" through port I/O")
	rows := regexp.MustCompile(`(?m)^ +[0-9]+\.[0-9]{3} +[0-9]+( +[0-9-]+){8}$`).FindAllString(r.stderr, -1)
	assert.Len(t, rows, len(doc.Series), "one row on stderr per sample")
}

// spinForASecond runs a guest that spins until -timeout 1s ends it, with
// -stats-json and the flags given, and decodes the JSON into doc.
func spinForASecond(t *testing.T, doc any, flags ...string) result {
	dir := t.TempDir()
	out := filepath.Join(dir, "s.json")
	args := append([]string{"run", "-kernel", readyThenSpin(t, dir), "-timeout", "1s", "-stats-json", out}, flags...)
	r := runBinary(t, dir, guestLimit, args...)
	require.Equal(t, 124, r.code, "stderr: %s", r.stderr)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, doc))
	return r
}

// TestWindowAndTraceFlags: -window measures between the guest's markers;
// -trace-exits without a usable tracefs says so, and the rest prints.
func TestWindowAndTraceFlags(t *testing.T) {
	nestedStateCap(t)
	dir := t.TempDir()
	elf, err := exitloop.ELF(exitloop.PIO, 50)
	require.NoError(t, err)
	k := filepath.Join(dir, "pio.elf")
	require.NoError(t, os.WriteFile(k, elf, 0o644))
	out := filepath.Join(dir, "s.json")
	t.Setenv(tracefsEnv, filepath.Join(dir, "no-tracefs"))
	r := runBinary(t, dir, guestLimit, "run", "-kernel", k, "-m", "16M", "-window", "scenario start..scenario end",
		"-trace-exits", "-stats-json", out)
	assert.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Contains(t, r.stderr, "gonest: -trace-exits: no tracefs at ")
	assert.Contains(t, r.stderr, "-- window 1: scenario start..scenario end")
	assert.Contains(t, r.stderr, "KVM_EXIT_IO 51", "50 OUTs and the closing marker")
	assert.Contains(t, r.stderr, "L0 exits by reason (kvm tracepoints): unavailable: tracefs unusable (see above)")
	var doc struct {
		Windows []struct {
			Complete bool             `json:"complete"`
			Exits    map[string]int64 `json:"exits"`
		} `json:"windows"`
		Outcome string `json:"outcome"`
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.NotEmpty(t, doc.Outcome, "the statistics are still there")
	require.Len(t, doc.Windows, 1)
	assert.True(t, doc.Windows[0].Complete)
	assert.Equal(t, int64(51), doc.Windows[0].Exits["KVM_EXIT_IO"])
}

// TestStatsJSONReadByLaunch keeps launch.Stats, which the lab's scenarios
// read, in step with the windows and live readings -stats-json writes.
func TestStatsJSONReadByLaunch(t *testing.T) {
	res := window.Result{Index: 2, DurationMs: 12.5, Complete: true, Exits: map[string]int64{"KVM_EXIT_IO": 3},
		KVM: window.KVMDelta{Available: true, VM: map[string]int64{"pages_2m": 1},
			VCPUs: []map[string]int64{{"exits": 40, "io_exits": 3}, {"exits": 2}}},
		Trace: &ktrace.Counts{Method: ktrace.MethodHist, Events: []ktrace.EventCount{
			{Event: "kvm_exit", Total: 7, ByReason: []ktrace.ReasonCount{{ISA: ktrace.ISASVM, Code: 0x7b, HasCode: true, Name: "io", Count: 7}}}}}}
	capture := stateCapture{AtMs: 10, Trigger: "SIGUSR1", VCPUs: []vcpuState{{VCPU: 0, Text: "flags=0x101 guest mode",
		GuestMode: true, Raw: "AQ=="}}}
	smp := window.Sample{AtMs: 200, DurationMs: 100, Exits: map[string]int64{"KVM_EXIT_MMIO": 5},
		KVM: window.KVMDelta{Available: true, VCPUs: []map[string]int64{{"exits": 9}, {"exits": 1}}}}
	data, err := json.Marshal(statsReport{Windows: []window.Result{res}, Series: []window.Sample{smp}, NestedStates: []stateCapture{capture}})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "s.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	st, err := launch.ReadStats(path)
	require.NoError(t, err)
	require.Len(t, st.Windows, 1)
	w := st.Windows[0]
	assert.Equal(t, 2, w.Index)
	assert.Equal(t, 12.5, w.DurationMs)
	assert.True(t, w.Complete)
	assert.Equal(t, int64(3), w.Exits["KVM_EXIT_IO"])
	assert.True(t, w.KVM.Available)
	assert.Equal(t, int64(42), w.VCPUDelta("exits"))
	assert.Equal(t, int64(1), w.KVM.VM["pages_2m"])
	require.NotNil(t, w.Trace)
	assert.Equal(t, *res.Trace, *w.Trace)
	require.Len(t, st.Series, 1)
	assert.Equal(t, 200.0, st.Series[0].AtMs)
	assert.Equal(t, 100.0, st.Series[0].DurationMs)
	assert.Equal(t, int64(5), st.Series[0].Exits["KVM_EXIT_MMIO"])
	assert.True(t, st.Series[0].KVM.Available)
	assert.Equal(t, int64(10), st.Series[0].VCPUDelta("exits"))
	require.Len(t, st.NestedStates, 1)
	c := st.NestedStates[0]
	assert.Equal(t, "SIGUSR1", c.Trigger)
	require.Len(t, c.VCPUs, 1)
	assert.True(t, c.VCPUs[0].GuestMode)
	assert.Equal(t, "AQ==", c.VCPUs[0].Raw)
	assert.Equal(t, "flags=0x101 guest mode", c.VCPUs[0].Text)
}
