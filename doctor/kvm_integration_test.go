package doctor

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// TestExamineRealKVM runs the doctor on this machine's /dev/kvm. It does
// not assume a backend (CI, this project's kvm_pvm hosts and the lab
// differ); it checks that the report agrees with itself and with what KVM
// says directly.
func TestExamineRealKVM(t *testing.T) {
	sys := kvmtest.Open(t)
	supported, err := sys.GetSupportedCPUID()
	require.NoError(t, err)
	root := hostinfo.Root()

	start := time.Now()
	r := Examine(Host{FS: root, OpenKVM: func() (KVM, error) { return WrapSystem(sys), nil }})
	elapsed := time.Since(start)

	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	t.Logf("gonest doctor here (%v):\n%s", elapsed, text.String())

	lines := strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n")
	require.Len(t, lines, 1+len(allChecks))
	assert.True(t, strings.HasPrefix(lines[0], "verdict: nested virtualization "), lines[0])

	assert.Equal(t, hostinfo.DetectBackend(root), r.Backend)
	st := statuses(r)
	assert.Equal(t, StatusOK, st[CheckDevice])
	assert.Equal(t, StatusOK, st[CheckAPIVersion])

	// The verdict follows KVM_GET_SUPPORTED_CPUID.
	virt := vcpu.HasSVM(supported) || vcpu.HasVMX(supported)
	if !virt {
		assert.False(t, r.CanNest, "no SVM or VMX in the supported CPUID")
		assert.Equal(t, 1, r.ExitCode())
		assert.Equal(t, StatusFail, st[CheckSupportedCPUID])
		assert.Contains(t, r.Verdict, "NOT possible")
	} else {
		assert.Equal(t, StatusOK, st[CheckSupportedCPUID])
	}
	if r.Backend == hostinfo.BackendPVM {
		assert.False(t, r.CanNest, "kvm_pvm never nests")
	}
	if r.CanNest {
		assert.True(t, virt)
		assert.Equal(t, 0, r.ExitCode())
		assert.True(t, r.SVM != nil || r.VMX != nil, "a host that nests shows what it offers")
	}

	// The timing probe ran and gave positive figures.
	require.NotNil(t, r.Timing, "timing: %v", r.Checks)
	require.NotNil(t, r.Timing.CPL0)
	assert.Positive(t, r.Timing.CPL0.NsPerIter)
	if assert.NotNil(t, r.Timing.CPL3, r.Timing.CPL3Error) {
		assert.Positive(t, r.Timing.CPL3.NsPerIter)
	}
	// The guest ran for its window: the vCPU thread's CPU time cannot
	// exceed the run's wall time.
	for _, lt := range []*LoopTiming{r.Timing.CPL0, r.Timing.CPL3} {
		if lt != nil {
			assert.Positive(t, lt.CPUNs)
			assertCPUWithinWall(t, time.Duration(lt.CPUNs), time.Duration(lt.WallNs), "probe")
			assert.GreaterOrEqual(t, time.Duration(lt.WallNs), DefaultProbeBudget/2)
		}
	}
	assert.Equal(t, r.Timing.Ring0Emulated, statuses(r)[CheckTiming] == StatusWarn && strings.Contains(mustCheck(t, r, CheckTiming).Evidence, "emulated"))
	// Not a speed goal (those are benchmarks): a bound far above the probe
	// budget that only an examination that hangs would pass.
	assert.Less(t, elapsed, 30*time.Second, "the examination does not hang")
}

func TestLoopVMRejectsBadRuns(t *testing.T) {
	sys := kvmtest.Open(t)
	l, err := newLoopVM(sys)
	require.NoError(t, err)
	defer func() { assert.NoError(t, l.close()) }()

	_, err = l.run(0, 0)
	assert.EqualError(t, err, "timing guest: window 0s is not positive")
	_, err = l.run(1, time.Millisecond)
	assert.EqualError(t, err, "timing guest: CPL 1: want 0 or 3")

	// Both levels run repeatedly on the same VM, for their window.
	for _, cpl := range []int{0, 3, 0} {
		r, err := l.run(cpl, 5*time.Millisecond)
		require.NoError(t, err, "CPL %d", cpl)
		assert.Positive(t, r.Iterations, "CPL %d", cpl)
		assert.GreaterOrEqual(t, r.Wall, 5*time.Millisecond, "CPL %d", cpl)
		assert.Positive(t, r.CPU, "CPL %d", cpl)
		assertCPUWithinWall(t, r.CPU, r.Wall, fmt.Sprintf("CPL %d", cpl))
	}
}

// assertCPUWithinWall checks that a CPU figure is the vCPU thread's own
// time over the run, which cannot exceed the run's wall time. The two come
// from different clocks (the scheduler's and CLOCK_MONOTONIC), which inside
// a VM need not tick at exactly the same rate, so the check allows 2 %:
// far less than a figure that counted another thread, or the setup around
// the run, would add.
func assertCPUWithinWall(t *testing.T, cpu, wall time.Duration, what string) {
	t.Helper()
	assert.LessOrEqual(t, cpu, wall+wall/50, "%s: CPU %v against wall %v", what, cpu, wall)
}

func mustCheck(t *testing.T, r *Report, name string) Check {
	t.Helper()
	c, ok := r.Check(name)
	require.True(t, ok, name)
	return c
}
