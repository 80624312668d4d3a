package scenario

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// writeAnatomyTable prints the experiment: one summary line per workload,
// then each workload's detail.
func writeAnatomyTable(w io.Writer, set anatomySettings, rows []anatomyRow) {
	fmt.Fprintf(w, "\n== exit multiplication: n=%d, %d run(s) per loop and level, medians\n", set.n, set.runs)
	fmt.Fprintln(w, "   L0 is H's KVM; G1's own exits are L0's exits outside G2 (kvm_exit - kvm_nested_vmexit); ns are H's clock")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\titerations\tG2 exits/iter\thandled by L0\treflected\tsynthesized\tG1 exits per exit given\tns/iter in G2\tns/iter as H's guest\tratio\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t%.1f\t\n", r.w.name, r.n, r.perIter(r.g2Exits),
			r.handled, r.reflected, r.synthesized, r.l1PerInjected, r.nsPerIter(r.nestedMs), r.nsPerIter(r.baseMs), r.slowdown())
	}
	tw.Flush()
	for _, r := range rows {
		r.writeDetail(w)
	}
	fmt.Fprintln(w)
}

// writeDetail prints what each level saw of one workload.
func (r anatomyRow) writeDetail(w io.Writer) {
	fmt.Fprintf(w, "\n-- %s: %s, %d iterations\n", r.w.name, r.w.what, r.n)
	if r.traceWhy != "" {
		fmt.Fprintf(w, "L0's exit tracepoints: unavailable: %s (figures from them read 0)\n", r.traceWhy)
	}
	fmt.Fprintf(w, "G2 (as L0 saw it): %.0f exits, %.2f per iteration: %s\n", r.g2Exits, r.perIter(r.g2Exits), r.g2Reasons.top(6, 0))
	fmt.Fprintf(w, "L0: handled %.0f itself, reflected %.0f into G1, and synthesized %.0f more for G1; G1 entered G2 %.0f times\n",
		r.handled, r.reflected, r.synthesized, r.entries)
	fmt.Fprintf(w, "G1's KVM took %.0f exits of G2 (its counters: %s); %.0f reached G1's gonest\n", r.g1KVMExits, r.g1Counters, r.g1UserExits)
	fmt.Fprintf(w, "G1's own exits at L0: %.0f, %.1f per exit given to G1: %s\n", r.l1Exits, r.l1PerInjected, r.l1Reasons.top(10, 2))
	if len(r.msrs) > 0 {
		fmt.Fprintf(w, "MSRs L0 emulated per exit given to G1: %s\n", r.msrs.top(6, 2))
	}
	fmt.Fprintf(w, "H's KVM counters over the window: %s\n", r.hCounters.top(12, 0))
	if r.g1Pages4K != 0 || r.g1Pages2M != 0 {
		fmt.Fprintf(w, "G1's KVM mapped G2's memory: %+.0f pages of 4 KiB, %+.0f of 2 MiB\n", r.g1Pages4K, r.g1Pages2M)
	}
	fmt.Fprintf(w, "time: %.0f ns per iteration in G2 (H's window %.1f ms, G1's %.1f ms); %.0f as H's own guest, in G1's place (%.1f ms, %.0f exits at L0: %s)\n",
		r.nsPerIter(r.nestedMs), r.nestedMs, r.g1Ms, r.nsPerIter(r.baseMs), r.baseMs, r.baseExits, r.baseReasons.top(4, 0))
}

func (r anatomyRow) perIter(x float64) float64 { return x / float64(r.n) }

func (r anatomyRow) nsPerIter(ms float64) float64 { return ms * 1e6 / float64(r.n) }

// slowdown is G2's time per iteration over the baseline's, the loop as H's own guest (0 when the
// baseline took no time).
func (r anatomyRow) slowdown() float64 {
	if r.baseMs <= 0 {
		return 0
	}
	return r.nestedMs / r.baseMs
}

// summary is the row in one line, for the result message.
func (r anatomyRow) summary() string {
	return fmt.Sprintf("%s: G2 %.2f exits per iteration; L0 handled %.0f, reflected %.0f (+%.0f synthesized); "+
		"G1 %.1f exits of its own per exit given (%s); %.0f ns per iteration in G2, %.0f as H's guest",
		r.w.name, r.perIter(r.g2Exits), r.handled, r.reflected, r.synthesized, r.l1PerInjected, r.l1Reasons.top(6, 2),
		r.nsPerIter(r.nestedMs), r.nsPerIter(r.baseMs))
}

// Metric names of a row (ResultAnatomyRow), which the lab test reads.
const (
	RowN             = "n"
	RowRuns          = "runs"
	RowG2Exits       = "g2_exits"
	RowHandled       = "l0_handled"
	RowReflected     = "reflected"
	RowSynthesized   = "synthesized"
	RowInjected      = "injected"
	RowL1Exits       = "g1_own_exits"
	RowL1PerInjected = "g1_exits_per_exit_given"
	RowEntries       = "g1_entries"
	RowOwnExits      = "g2_own_reason_exits" // G2's exits of the reasons its loop causes
	RowReasons       = "own_reasons"         // how many reasons the workload names (0: none)
	RowG1KVMExits    = "g1_kvm_exits"
	RowG1UserExits   = "g1_user_exits"
	RowG1Pages4K     = "g1_pages_4k"
	RowG1Pages2M     = "g1_pages_2m"
	RowHPages4K      = "h_pages_4k"
	RowHPages2M      = "h_pages_2m"
	RowHPFFixed      = "h_pf_fixed"
	RowHPFTaken      = "h_pf_taken"
	RowBaseExits     = "base_l0_exits"
	RowNestedNs      = "nested_ns_per_iter"
	RowBaseNs        = "base_ns_per_iter"
	RowG1Ns          = "g1_ns_per_iter"
	RowTraceOK       = "trace_ok"
)

// metrics are the row's figures for the result message.
func (r anatomyRow) metrics() map[string]float64 {
	ok := 0.0
	if r.traceWhy == "" {
		ok = 1
	}
	return map[string]float64{
		RowN: float64(r.n), RowRuns: float64(len(r.samples)), RowTraceOK: ok,
		RowG2Exits: r.g2Exits, RowHandled: r.handled, RowReflected: r.reflected, RowSynthesized: r.synthesized,
		RowInjected: r.injected, RowL1Exits: r.l1Exits, RowL1PerInjected: r.l1PerInjected, RowEntries: r.entries,
		RowOwnExits: r.ownExits, RowReasons: float64(len(r.w.reasons)),
		RowG1KVMExits: r.g1KVMExits, RowG1UserExits: r.g1UserExits, RowG1Pages4K: r.g1Pages4K, RowG1Pages2M: r.g1Pages2M,
		RowHPages4K: r.hCounters["pages_4k"], RowHPages2M: r.hCounters["pages_2m"],
		RowHPFFixed: r.hCounters["pf_fixed"], RowHPFTaken: r.hCounters["pf_taken"],
		RowBaseExits: r.baseExits, RowNestedNs: r.nsPerIter(r.nestedMs), RowBaseNs: r.nsPerIter(r.baseMs),
		RowG1Ns: r.nsPerIter(r.g1Ms),
	}
}

// benchRow is the row as make bench's table prints it: cells separated by
// " | " after "exit anatomy" (tools/bench.sh copies it into
// bench/results.md).
func (r anatomyRow) benchRow() string {
	return fmt.Sprintf("exit anatomy | %s | %d | %d | %.2f | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.1f",
		r.w.name, r.n, len(r.samples), r.perIter(r.g2Exits), r.handled, r.reflected, r.synthesized, r.l1PerInjected,
		r.nsPerIter(r.nestedMs), r.nsPerIter(r.baseMs), r.slowdown())
}

// checkAnatomy lists what the result lacks of its structure: every
// workload measured the planned number of times at every level, L0's
// tracepoints there, L0's handled and reflected exits adding up to G2's
// in every run, every exit given to G1 costing it more than one exit of
// its own, and each loop's own exit reason taken at least once per
// iteration. No speed is checked.
func checkAnatomy(set anatomySettings, rows []anatomyRow) []string {
	var p []string
	if len(rows) != len(set.plan) {
		p = append(p, fmt.Sprintf("%d rows for %d workloads", len(rows), len(set.plan)))
	}
	for _, r := range rows {
		name := r.w.name
		if len(r.samples) != set.runs {
			p = append(p, fmt.Sprintf("%s: %d runs measured, %d planned", name, len(r.samples), set.runs))
		}
		if r.traceWhy != "" {
			p = append(p, fmt.Sprintf("%s: L0's exit tracepoints unavailable: %s", name, r.traceWhy))
			continue
		}
		for i, s := range r.samples {
			a := s.nested.Trace.Attribute()
			if a.Reflected+a.HandledByL0 != a.NestedExits {
				p = append(p, fmt.Sprintf("%s run %d: reflected %d + handled %d != G2's %d exits", name, i+1, a.Reflected, a.HandledByL0, a.NestedExits))
			}
			if a.Injected > 0 && a.L1ExitsPerInjected <= 1 {
				p = append(p, fmt.Sprintf("%s run %d: %.2f exits of G1 per exit given to it, want more than 1", name, i+1, a.L1ExitsPerInjected))
			}
			if a.NestedExits == 0 || a.Injected == 0 || a.L1Exits == 0 {
				p = append(p, fmt.Sprintf("%s run %d: a level has no counts: G2 %d exits, %d given to G1, G1 %d of its own",
					name, i+1, a.NestedExits, a.Injected, a.L1Exits))
			}
			// Both windows open after the loop's opening marker and close
			// after its closing one (G1's gonest forwards each marker to H,
			// then reads its own counters), while G2 waits on the marker's
			// exit: every exit L0 gave G1 is one G1's KVM counted.
			if s.g1.kvmExits != int64(a.Injected) {
				p = append(p, fmt.Sprintf("%s run %d: L0 gave G1 %d exits, G1's KVM counted %d", name, i+1, a.Injected, s.g1.kvmExits))
			}
			if traceEvent(s.base, "kvm_exit") == nil || traceEvent(s.base, "kvm_exit").Total == 0 {
				p = append(p, fmt.Sprintf("%s run %d: no L0 exit counted for the loop as H's own guest", name, i+1))
			}
		}
		if len(r.w.reasons) > 0 && r.ownExits < float64(r.n) {
			p = append(p, fmt.Sprintf("%s: %.0f exits of reasons %v in %d iterations, want one at least per iteration", name, r.ownExits, r.w.reasons, r.n))
		}
	}
	return p
}
