package kvmtest

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that records how a test was ended instead of
// ending the real one.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f on its own goroutine, as the testing package does, so
// Goexit ends only f.
func run(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestUnavailableSkipsWithReason(t *testing.T) {
	t.Setenv(RequireEnv, "")
	r := run(func(tb testing.TB) { Unavailable(tb, "/dev/kvm does not exist") })
	assert.Equal(t, "skipping: KVM unavailable: /dev/kvm does not exist (set GONEST_REQUIRE_KVM=1 to make this a failure)", r.skipped)
	assert.Empty(t, r.failed)
}

func TestUnavailableFailsWhenRequired(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	r := run(func(tb testing.TB) { Unavailable(tb, "/dev/kvm does not exist") })
	assert.Equal(t, "KVM required (GONEST_REQUIRE_KVM=1) but unavailable: /dev/kvm does not exist", r.failed)
	assert.Empty(t, r.skipped)
}

func TestNestedUnavailable(t *testing.T) {
	t.Setenv(RequireEnv, "1") // KVM being required does not make nesting required
	t.Setenv(RequireNestedEnv, "")
	r := run(func(tb testing.TB) { NestedUnavailable(tb, "no SVM") })
	assert.Contains(t, r.skipped, "nested virtualization unavailable: no SVM")

	t.Setenv(RequireNestedEnv, "1")
	r = run(func(tb testing.TB) { NestedUnavailable(tb, "no SVM") })
	assert.Contains(t, r.failed, "nested virtualization required (GONEST_REQUIRE_NESTED=1)")
}

func TestJudgeSpinStop(t *testing.T) {
	stopped := SpinRun{Stopped: true, Took: time.Millisecond, Outer: 1, Exits: map[string]uint64{"exits": 3, "signal_exits": 1, "irq_exits": 0}}
	ran := SpinRun{Took: 0, Outer: 835, Exits: map[string]uint64{"exits": 2, "halt_exits": 1}}

	r := run(func(tb testing.TB) { judgeSpinStop(tb, SpinStop{IFSet: stopped, IFClear: stopped}, nil) })
	assert.Empty(t, r.skipped+r.failed, "both stopped: the test goes on")

	r = run(func(tb testing.TB) { judgeSpinStop(tb, SpinStop{IFSet: stopped, IFClear: ran}, nil) })
	assert.Equal(t, "skipping: this platform does not interrupt a guest spinning with RFLAGS.IF=0, so no VMM can stop it "+
		"(with IF=1: stopped 1ms after the cancel, 1 outer iterations, KVM exits +3 signal_exits +1; "+
		"with IF=0: ran to its deadline 0s after the cancel, 835 outer iterations, KVM exits +2 halt_exits +1); "+
		"Bochs 2.7's VMX masks external interrupts for such a guest", r.skipped)

	r = run(func(tb testing.TB) { judgeSpinStop(tb, SpinStop{IFSet: ran, IFClear: ran}, nil) })
	assert.Contains(t, r.failed, "did not stop a guest spinning with IF=1")
	assert.Contains(t, r.failed, "gonest's vCPU kick is broken")

	r = run(func(tb testing.TB) { judgeSpinStop(tb, SpinStop{}, errors.New("KVM_RUN: bad address")) })
	assert.Equal(t, "spin-stop probe: KVM_RUN: bad address", r.failed)
}

// TestProbeSpinStopHere runs the probe on this host's KVM: stopping a
// spinning guest must work with IF=1 on every platform.
func TestProbeSpinStopHere(t *testing.T) {
	Open(t)
	res, err := ProbeSpinStop()
	require.NoError(t, err)
	t.Logf("with IF=1 %v; with IF=0 %v", res.IFSet, res.IFClear)
	assert.True(t, res.IFSet.Stopped)
}
