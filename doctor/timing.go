package doctor

import (
	"fmt"
	"time"
)

// LoopTiming is the timing probe's result at one privilege level.
type LoopTiming struct {
	// Iterations is the loop count of the run the figure comes from.
	Iterations uint64 `json:"iterations"`
	// ElapsedNs is how long that run took, in nanoseconds.
	ElapsedNs int64 `json:"elapsed_ns"`
	// NsPerIter is ElapsedNs / Iterations: one "dec rcx; jnz" round.
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

// Timing thresholds. A "dec; jnz" round takes one cycle or less on hardware
// (about 0.3 ns); in the lab (KVM inside QEMU TCG) about 2 ns; under
// kvm_pvm at CPL 0, where each instruction is emulated, about 1000 ns.
const (
	// slowNsPerIter: a CPL 0 round slower than this is not hardware speed.
	slowNsPerIter = 50
	// emulatedRatio: CPL 0 this many times slower than CPL 3 means CPL 0 is
	// emulated rather than the whole host being slow.
	emulatedRatio = 20
)

// Probe tuning: each figure comes from a run of at least probeTarget, grown
// from probeFirstN iterations, after one warm-up iteration that pays for
// first-touch page faults.
const (
	probeTarget = 10 * time.Millisecond
	probeFirstN = 100
	probeMaxN   = 1 << 40
	probeRuns   = 8 // timed runs per privilege level, at most
	probeGrowth = 1000
)

// measure times the loop at cpl, growing the iteration count until one run
// lasts probeTarget, spending at most budget of guest time (the sum of the
// runs' durations, so fakes make it deterministic).
func measure(k KVM, cpl int, budget time.Duration) (LoopTiming, error) {
	spent, err := k.LoopTime(cpl, 1)
	if err != nil {
		return LoopTiming{}, err
	}
	n := uint64(probeFirstN)
	for run := 1; ; run++ {
		d, err := k.LoopTime(cpl, n)
		if err != nil {
			return LoopTiming{}, err
		}
		spent += d
		res := LoopTiming{Iterations: n, ElapsedNs: d.Nanoseconds(), NsPerIter: float64(d.Nanoseconds()) / float64(n)}
		if d >= probeTarget || run == probeRuns || n >= probeMaxN {
			return res, nil
		}
		// Aim the next run at the target, scaled from this one.
		per := float64(max(d, time.Microsecond)) / float64(n)
		next := float64(probeTarget) * 1.2 / per
		next = min(max(next, 2*float64(n)), probeGrowth*float64(n), probeMaxN)
		if left := budget - spent; time.Duration(next*per) > left {
			next = float64(left) / per
		}
		if next <= float64(n) {
			return res, nil // the budget is spent
		}
		n = uint64(next)
	}
}

// probe runs the timing probe at CPL 0, then CPL 3, each with half the
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
		return StatusWarn, fmt.Sprintf("%s: ring 0 is emulated in software, %.0fx slower than CPL 3 (hardware runs both near 1 ns); a guest kernel crawls here",
			figures, r0/t.CPL3.NsPerIter)
	case r0 >= slowNsPerIter:
		return StatusWarn, figures + ": guest code runs far below hardware speed (a busy host, or KVM itself running nested)"
	}
	return StatusOK, figures + ": guest code runs at hardware speed"
}

// formatNs prints a per-iteration time with sensible precision.
func formatNs(ns float64) string {
	if ns < 10 {
		return fmt.Sprintf("%.2f ns", ns)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
