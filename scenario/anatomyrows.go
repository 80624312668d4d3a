package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/launch"
)

// anatomySample is one run of one workload at every level.
type anatomySample struct {
	n      uint32
	base   launch.Window // H's window of the loop as its own guest
	nested launch.Window // H's window while G2 ran the loop
	g1     g1Figures     // G1's window of the loop as its guest
}

// anatomyRow is one workload: the medians of its samples.
type anatomyRow struct {
	w       anatomyWorkload
	n       uint32
	samples []anatomySample

	// traceWhy says why L0's tracepoints are missing from a sample of
	// the nested run or the baseline; the figures that need them are 0.
	traceWhy string

	// L0, while G2 ran the loop (ktrace.Attribution, medians).
	g2Exits, handled, reflected, synthesized, injected, l1Exits, entries float64
	l1PerInjected                                                        float64
	ownExits                                                             float64     // G2's exits of the workload's own reasons
	g2Reasons                                                            reasonStats // G2's exits by reason
	l1Reasons                                                            reasonStats // G1's own exits by reason, per exit given to G1
	msrs                                                                 reasonStats // MSRs L0 emulated, per exit given to G1
	hCounters                                                            reasonStats // H's KVM counters that changed

	// G1, for its guest G2.
	g1KVMExits, g1UserExits, g1Pages4K, g1Pages2M float64
	g1Counters                                    string

	// Time: H's windows (the nested run and the baseline) and G1's.
	nestedMs, baseMs, g1Ms float64
	// The baseline's exits at L0, and by reason.
	baseExits   float64
	baseReasons reasonStats
}

// reasonStats are medians by name.
type reasonStats map[string]float64

// buildAnatomyRows puts the baseline windows, H's windows of G1's run
// and G1's results side by side, in the order both levels ran the plan.
func buildAnatomyRows(set anatomySettings, base []launchWindowOf, res launch.Result) ([]anatomyRow, error) {
	order := set.order()
	if res.Stats == nil {
		return nil, fmt.Errorf("no statistics from H's gonest for G1's run")
	}
	nested := res.Stats.Windows
	msgs := res.Results(0, ResultAnatomyG1)
	if len(base) != len(order) || len(nested) != len(order) || len(msgs) != len(order) {
		return nil, fmt.Errorf("%d loops planned, %d measured as H's guest, %d windows in H while G1 ran them, %d results from G1",
			len(order), len(base), len(nested), len(msgs))
	}
	rows := make([]anatomyRow, len(set.plan))
	for i, w := range set.plan {
		rows[i] = anatomyRow{w: w, n: set.iterations(w)}
	}
	for i, w := range order {
		g1, err := parseG1Figures(msgs[i])
		if err != nil {
			return nil, fmt.Errorf("G1's result %d: %w", i+1, err)
		}
		switch {
		case base[i].workload != w.name || g1.workload != w.name || g1.index != i:
			return nil, fmt.Errorf("loop %d is %s, but the baseline ran %s and G1 reported %s (its loop %d)",
				i+1, w.name, base[i].workload, g1.workload, g1.index+1)
		case !nested[i].Complete:
			return nil, fmt.Errorf("loop %d (%s): H's window never closed", i+1, w.name)
		}
		r := &rows[i%len(set.plan)]
		r.samples = append(r.samples, anatomySample{n: g1.n, base: base[i].window, nested: nested[i], g1: g1})
	}
	for i := range rows {
		rows[i].summarize()
	}
	return rows, nil
}

// summarize computes the medians of the row's samples.
func (r *anatomyRow) summarize() {
	med := func(f func(s anatomySample) float64) float64 {
		xs := make([]float64, len(r.samples))
		for i, s := range r.samples {
			xs[i] = f(s)
		}
		return Median(xs)
	}
	attr := func(s anatomySample) ktrace.Attribution {
		if s.nested.Trace == nil {
			return ktrace.Attribution{}
		}
		return s.nested.Trace.Attribute()
	}
	for _, s := range r.samples {
		for _, w := range []launch.Window{s.nested, s.base} {
			if why := traceMissing(w); why != "" && r.traceWhy == "" {
				r.traceWhy = why
			}
		}
	}
	r.g2Exits = med(func(s anatomySample) float64 { return float64(attr(s).NestedExits) })
	r.handled = med(func(s anatomySample) float64 { return float64(attr(s).HandledByL0) })
	r.reflected = med(func(s anatomySample) float64 { return float64(attr(s).Reflected) })
	r.synthesized = med(func(s anatomySample) float64 { return float64(attr(s).Synthesized) })
	r.injected = med(func(s anatomySample) float64 { return float64(attr(s).Injected) })
	r.l1Exits = med(func(s anatomySample) float64 { return float64(attr(s).L1Exits) })
	r.entries = med(func(s anatomySample) float64 { return float64(attr(s).Entries) })
	r.l1PerInjected = med(func(s anatomySample) float64 { return attr(s).L1ExitsPerInjected })
	r.ownExits = med(func(s anatomySample) float64 {
		by := eventByName(s.nested, "kvm_nested_vmexit")
		var n uint64
		for _, name := range r.w.reasons {
			n += by[name]
		}
		return float64(n)
	})
	r.g2Reasons = medianBy(r.samples, func(s anatomySample) map[string]float64 {
		return toFloat(eventByName(s.nested, "kvm_nested_vmexit"), 1)
	})
	r.l1Reasons = medianBy(r.samples, func(s anatomySample) map[string]float64 {
		return perExit(ownExitsOfG1(s.nested), attr(s).Injected)
	})
	r.msrs = medianBy(r.samples, func(s anatomySample) map[string]float64 {
		return perExit(eventByName(s.nested, ktrace.MSREvent), attr(s).Injected)
	})
	r.hCounters = medianBy(r.samples, func(s anatomySample) map[string]float64 { return kvmCounters(s.nested) })
	r.g1KVMExits = med(func(s anatomySample) float64 { return float64(s.g1.kvmExits) })
	r.g1UserExits = med(func(s anatomySample) float64 { return float64(s.g1.userExits) })
	r.g1Pages4K = med(func(s anatomySample) float64 { return float64(s.g1.pages4K) })
	r.g1Pages2M = med(func(s anatomySample) float64 { return float64(s.g1.pages2M) })
	r.g1Counters = r.samples[len(r.samples)/2].g1.counters
	r.nestedMs = med(func(s anatomySample) float64 { return s.nested.DurationMs })
	r.baseMs = med(func(s anatomySample) float64 { return s.base.DurationMs })
	r.g1Ms = med(func(s anatomySample) float64 { return s.g1.durationMs })
	r.baseExits = med(func(s anatomySample) float64 {
		if ec := traceEvent(s.base, "kvm_exit"); ec != nil {
			return float64(ec.Total)
		}
		return float64(s.base.VCPUDelta("exits"))
	})
	r.baseReasons = medianBy(r.samples, func(s anatomySample) map[string]float64 {
		return toFloat(eventByName(s.base, "kvm_exit"), 1)
	})
}

// ownExitsOfG1 is kvm_exit minus kvm_nested_vmexit, reason by reason: the
// exits G1 itself took in the window.
func ownExitsOfG1(w launch.Window) map[string]uint64 {
	all, nested := eventByName(w, "kvm_exit"), eventByName(w, "kvm_nested_vmexit")
	out := map[string]uint64{}
	for name, n := range all {
		if n > nested[name] {
			out[name] = n - nested[name]
		}
	}
	return out
}

// kvmCounters are the KVM counters of a window that tell who paged what:
// the vCPUs' page-fault and exit counters summed, and the VM's mappings by
// size.
func kvmCounters(w launch.Window) map[string]float64 {
	out := map[string]float64{}
	if !w.KVM.Available {
		return out
	}
	for _, v := range w.KVM.VCPUs {
		for k, n := range v {
			if strings.HasPrefix(k, "pf_") || k == "exits" || k == "nested_run" {
				out[k] += float64(n)
			}
		}
	}
	for k, n := range w.KVM.VM {
		if strings.HasPrefix(k, "pages_") || k == "mmu_cache_miss" {
			out[k] += float64(n)
		}
	}
	return out
}

// traceEvent returns a window's counts of event, or nil when the trace or
// the event was unavailable.
func traceEvent(w launch.Window, event string) *ktrace.EventCount {
	if w.Trace == nil {
		return nil
	}
	ec := w.Trace.Event(event)
	if ec == nil || ec.Unavailable != "" {
		return nil
	}
	return ec
}

// traceMissing says why a window lacks one of the nested events; "" when
// it has them all.
func traceMissing(w launch.Window) string {
	if w.Trace == nil {
		if w.TraceUnavailable != "" {
			return w.TraceUnavailable
		}
		return "no trace"
	}
	for _, ev := range ktrace.NestedEvents {
		ec := w.Trace.Event(ev)
		switch {
		case ec == nil:
			return ev + ": not counted"
		case ec.Unavailable != "":
			return ev + ": " + ec.Unavailable
		}
	}
	return ""
}

func eventByName(w launch.Window, event string) map[string]uint64 {
	if ec := traceEvent(w, event); ec != nil {
		return ec.ByName()
	}
	return nil
}

func toFloat(m map[string]uint64, div float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v) / div
	}
	return out
}

// perExit divides counts by the exits given to G1 (none: left as 0).
func perExit(m map[string]uint64, injected uint64) map[string]float64 {
	if injected == 0 {
		return map[string]float64{}
	}
	return toFloat(m, float64(injected))
}

// medianBy takes the median of each name over the samples (a name a
// sample lacks counts as 0 there).
func medianBy(samples []anatomySample, f func(anatomySample) map[string]float64) reasonStats {
	maps := make([]map[string]float64, len(samples))
	names := map[string]bool{}
	for i, s := range samples {
		maps[i] = f(s)
		for k := range maps[i] {
			names[k] = true
		}
	}
	out := reasonStats{}
	for k := range names {
		xs := make([]float64, len(maps))
		for i, m := range maps {
			xs[i] = m[k]
		}
		if v := Median(xs); v != 0 {
			out[k] = v
		}
	}
	return out
}

// top renders the largest entries: "vmrun 1.00, vmload 2.00", largest
// first, at most max of them, each with prec decimals.
func (rs reasonStats) top(max, prec int) string {
	names := slices.Collect(maps.Keys(rs))
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case rs[a] > rs[b]:
			return -1
		case rs[a] < rs[b]:
			return 1
		}
		return strings.Compare(a, b)
	})
	if len(names) > max {
		names = names[:max]
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.*f", n, prec, rs[n])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// joinReasons renders counts by reason, largest first: "io 1001, interrupt 3".
func joinReasons(m map[string]uint64, div float64, max int) string {
	return reasonStats(toFloat(m, div)).top(max, 0)
}

// Median returns the median of xs (the mean of the middle two for an even
// count; 0 for none). The benchmark scenarios use it too.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
