package doctor

import (
	"fmt"
	"time"
)

// LoopTiming is the timing probe's result at one privilege level.
type LoopTiming struct {
	// Iterations is how many rounds of the loop the guest did.
	Iterations uint64 `json:"iterations"`
	// CPUNs is the vCPU thread's CPU time over the run, in nanoseconds.
	CPUNs int64 `json:"cpu_ns"`
	// WallNs is the run's wall-clock time, in nanoseconds. On a busy host
	// it exceeds CPUNs by the time the vCPU waited for a CPU.
	WallNs int64 `json:"wall_ns"`
	// NsPerIter is CPUNs (WallNs where the CPU time is unknown) divided by
	// Iterations: the time of one "dec rcx; jnz" round.
	NsPerIter float64 `json:"ns_per_iter"`
}

// Timing is what the probe measured. CPL3 is nil, and CPL3Error says why,
// when the CPL 3 run could not be made.
type Timing struct {
	CPL0      *LoopTiming `json:"cpl0"`
	CPL3      *LoopTiming `json:"cpl3"`
	CPL3Error string      `json:"cpl3_error,omitempty"`
	// Ring0Emulated says CPL 0 runs far slower than hardware and than CPL 3:
	// the host's KVM interprets kernel-mode guest code (kvm_pvm does).
	Ring0Emulated bool `json:"ring0_emulated"`
}

// Timing thresholds, from gonest doctor's own output. A "dec; jnz" round
// run directly by the CPU takes 0.24 to 0.51 ns on this project's
// development machines (CPL 3 under kvm_pvm, which runs ring 3 natively);
// in the lab's H (KVM inside QEMU TCG, so the "CPU" is QEMU's) 4 to 26 ns
// at both levels, depending on the load of the machine running QEMU
// (docs/nested.md quotes a 4.2 ns run); under kvm_pvm at CPL 0, where
// each instruction is emulated, 1000 to 2300 ns. The probe tells direct
// execution from emulation by KVM; it cannot tell real hardware from a
// CPU that is itself emulated.
const (
	// slowNsPerIter: a CPL 0 round slower than this is slow even for the
	// lab.
	slowNsPerIter = 50
	// emulatedRatio: CPL 0 this many times slower than CPL 3 means CPL 0 is
	// emulated rather than the whole host being slow.
	emulatedRatio = 20
)

// probeWarmUp is the first, uncounted run at each privilege level: it pays
// for first-touch page faults and the host's shadow page tables. Until the
// guest makes progress, each further warm-up run is twice as long, up to
// maxWarmUp in all: under nested KVM (gonest doctor inside G1) the first
// entries into the timing guest fault in its pages through two levels of
// nested paging and can take tens of milliseconds before one iteration runs.
const (
	probeWarmUp = time.Millisecond
	maxWarmUp   = time.Second
)

// measure runs the loop at cpl for window and works out the time per
// iteration. The window, not an iteration count, bounds the run, so a host
// that is slow or busy still finishes the probe on time: the guest's own
// counter says how far it got, and the vCPU thread's CPU time how long it
// really ran.
func measure(k KVM, cpl int, window time.Duration) (LoopTiming, error) {
	for warm, spent := probeWarmUp, time.Duration(0); ; warm *= 2 {
		r, err := k.LoopFor(cpl, warm)
		if err != nil {
			return LoopTiming{}, err
		}
		spent += warm
		if r.Iterations > 0 {
			break
		}
		if spent >= maxWarmUp {
			return LoopTiming{}, fmt.Errorf("timing guest at CPL %d: no iteration in %v of warm-up", cpl, spent)
		}
	}
	r, err := k.LoopFor(cpl, window)
	if err != nil {
		return LoopTiming{}, err
	}
	d := r.CPU
	if d <= 0 {
		d = r.Wall
	}
	if r.Iterations == 0 || d <= 0 {
		return LoopTiming{}, fmt.Errorf("timing guest at CPL %d: %d iterations in %v", cpl, r.Iterations, d)
	}
	return LoopTiming{
		Iterations: r.Iterations,
		CPUNs:      r.CPU.Nanoseconds(),
		WallNs:     r.Wall.Nanoseconds(),
		NsPerIter:  float64(d.Nanoseconds()) / float64(r.Iterations),
	}, nil
}

// probe runs the timing probe at CPL 0, then CPL 3, each for half the
// budget. An error at CPL 0 is returned; one at CPL 3 is kept in CPL3Error.
func probe(k KVM, budget time.Duration) (*Timing, error) {
	if budget <= 0 {
		budget = DefaultProbeBudget
	}
	t := &Timing{}
	r0, err := measure(k, 0, budget/2)
	if err != nil {
		return nil, err
	}
	t.CPL0 = &r0
	if r3, err := measure(k, 3, budget/2); err != nil {
		t.CPL3Error = err.Error()
	} else {
		t.CPL3 = &r3
	}
	t.Ring0Emulated = r0.NsPerIter >= slowNsPerIter &&
		t.CPL3 != nil && r0.NsPerIter >= emulatedRatio*t.CPL3.NsPerIter
	return t, nil
}

// rate turns a Timing into a check's status and evidence.
func (t *Timing) rate() (Status, string) {
	r0 := t.CPL0.NsPerIter
	cpl3 := "CPL 3 not measured (" + t.CPL3Error + ")"
	if t.CPL3 != nil {
		cpl3 = "CPL 3 " + formatNs(t.CPL3.NsPerIter)
	}
	figures := fmt.Sprintf("CPL 0 %s, %s per dec/jnz iteration", formatNs(r0), cpl3)
	switch {
	case t.Ring0Emulated:
		return StatusWarn, fmt.Sprintf("%s: ring 0 is emulated in software, %.0fx slower than CPL 3 (where KVM runs guest code directly, both take about as long); a guest kernel crawls here",
			figures, r0/t.CPL3.NsPerIter)
	case r0 >= slowNsPerIter:
		return StatusWarn, figures + ": guest code runs slowly at both levels (a busy host, or a host that is itself emulated or nested)"
	}
	return StatusOK, figures + ": ring 0 runs like ring 3: KVM runs the guest's code directly"
}

// formatNs prints a per-iteration time with sensible precision.
func formatNs(ns float64) string {
	if ns < 10 {
		return fmt.Sprintf("%.2f ns", ns)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
