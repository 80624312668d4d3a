package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gonest/gonest/internal/exitloop"
)

// The exit-multiplication experiment: H runs each loop of package
// exitloop as its own guest (the baseline), then boots G1, which runs the
// same loops as G2. H's gonest measures a window per G2 loop
// (-window '+1 scenario start..+1 scenario end' -trace-exits), G1's gonest
// one per loop of its own guest; the rows put the levels side by side.

// Parameters of the experiment, on H's kernel command line (G1 inherits
// them).
const (
	// ParamAnatomyN is the iterations of each exit loop (pf touches 4n
	// pages, spin loops n<<19 times).
	ParamAnatomyN = "gonest.anatomy.n"
	// ParamAnatomyRuns is how many times each loop runs at each level;
	// the rows hold the medians.
	ParamAnatomyRuns = "gonest.anatomy.runs"
	// ParamAnatomyOnly restricts the experiment to the workloads named,
	// comma-separated ("pio,pf-4k").
	ParamAnatomyOnly = "gonest.anatomy.only"
)

// Result names of the experiment's messages.
const (
	// ResultAnatomyG1 is G1's measurement of one loop of G2, to H.
	ResultAnatomyG1 = "anatomy-g1"
	// ResultAnatomyRow is one workload's row, from H to the lab.
	ResultAnatomyRow = "anatomy-row"
	// ResultAnatomyState sums up H's live nested-state readings.
	ResultAnatomyState = "anatomy-nested-state"
)

// Defaults of the parameters.
const (
	defaultAnatomyN    = 200
	defaultAnatomyRuns = 1
	maxAnatomyRuns     = 25
	// maxAnatomyN keeps every loop within exitloop's bounds: spin's
	// n<<19 iterations within exitloop.MaxIterations, pf's 4n pages
	// within its own.
	maxAnatomyN = exitloop.MaxIterations >> 19
)

// anatomyWorkload is one workload of the experiment.
type anatomyWorkload struct {
	name  string
	kind  exitloop.Kind
	scale uint32 // iterations are n*scale
	// thp is what the level whose memory backs the loop writes to
	// transparent_hugepage/enabled while it runs ("" leaves it): gonest
	// asks for huge pages (MADV_HUGEPAGE), so "never" maps the loop's
	// memory with 4 KiB pages and "always" with 2 MiB ones.
	thp string
	// reasons are the exit reasons one iteration causes, SVM's and VMX's
	// names (ktrace.ReasonName): each iteration takes at least one.
	reasons []string
	what    string // what one iteration does, for the table
}

// anatomyPlan is every workload, in the order both levels run them.
var anatomyPlan = []anatomyWorkload{
	{name: "pio", kind: exitloop.PIO, scale: 1, reasons: []string{"io", "IO_INSTRUCTION"}, what: "out to port 0x80"},
	{name: "mmio", kind: exitloop.MMIO, scale: 1, reasons: []string{"npf", "EPT_MISCONFIG", "EPT_VIOLATION"},
		what: "store to an unbacked MMIO address"},
	{name: "cpuid", kind: exitloop.CPUID, scale: 1, reasons: []string{"cpuid", "CPUID"}, what: "cpuid"},
	{name: "msr", kind: exitloop.MSR, scale: 1, reasons: []string{"msr", "MSR_WRITE"}, what: "wrmsr 0x8b"},
	{name: "hlt", kind: exitloop.HLT, scale: 1, reasons: []string{"hlt", "HLT"}, what: "hlt, woken by the LAPIC timer"},
	{name: "pf-4k", kind: exitloop.PF, scale: 4, thp: "never", what: "store to a fresh 4 KiB page, memory in 4 KiB pages"},
	{name: "pf-2m", kind: exitloop.PF, scale: 4, thp: "always", what: "store to a fresh 4 KiB page, memory in 2 MiB pages"},
	// spin runs long enough (1 to 2 s in the lab) for H to catch G1 in
	// guest mode.
	{name: "spin", kind: exitloop.Spin, scale: 1 << 19, what: "nop: no exit (the control)"},
}

// anatomySettings are the experiment's parameters, read from the command
// line.
type anatomySettings struct {
	n    uint32
	runs int
	plan []anatomyWorkload
}

// readAnatomySettings reads gonest.anatomy.*.
func readAnatomySettings(env *Env) (anatomySettings, error) {
	s := anatomySettings{plan: anatomyPlan}
	n, err := strconv.ParseUint(env.Param(ParamAnatomyN, strconv.Itoa(defaultAnatomyN)), 10, 32)
	if err != nil || n < 1 || n > maxAnatomyN {
		return s, fmt.Errorf("%s=%q: want 1 to %d", ParamAnatomyN, env.Param(ParamAnatomyN, ""), maxAnatomyN)
	}
	s.n = uint32(n)
	runs, err := strconv.Atoi(env.Param(ParamAnatomyRuns, strconv.Itoa(defaultAnatomyRuns)))
	if err != nil || runs < 1 || runs > maxAnatomyRuns {
		return s, fmt.Errorf("%s=%q: want 1 to %d", ParamAnatomyRuns, env.Param(ParamAnatomyRuns, ""), maxAnatomyRuns)
	}
	s.runs = runs
	if only := env.Param(ParamAnatomyOnly, ""); only != "" {
		s.plan = nil
		for _, name := range splitList(only) {
			w, ok := anatomyWorkloadNamed(name)
			if !ok {
				return s, fmt.Errorf("%s: no workload %q (workloads: %s)", ParamAnatomyOnly, name, anatomyNames())
			}
			s.plan = append(s.plan, w)
		}
	}
	return s, nil
}

// iterations is how many times w's loop runs.
func (s anatomySettings) iterations(w anatomyWorkload) uint32 { return s.n * w.scale }

func anatomyWorkloadNamed(name string) (anatomyWorkload, bool) {
	for _, w := range anatomyPlan {
		if w.name == name {
			return w, true
		}
	}
	return anatomyWorkload{}, false
}

func anatomyNames() string {
	s := ""
	for i, w := range anatomyPlan {
		if i > 0 {
			s += ","
		}
		s += w.name
	}
	return s
}

// order is the order in which a level runs the loops: each run
// goes through the whole plan, so the load of the machine weighs on every
// workload alike.
func (s anatomySettings) order() []anatomyWorkload {
	var out []anatomyWorkload
	for range s.runs {
		out = append(out, s.plan...)
	}
	return out
}

// AnatomyWorkloads names the experiment's workloads, in the order it runs
// them (each is one row of its table).
func AnatomyWorkloads() []string { return strings.Split(anatomyNames(), ",") }
