package window

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/machine"
)

// Spec names the markers that open and close a window, as marker bytes
// (depth in bits 6-7, see guestabi.SplitMarker).
type Spec struct {
	Open, Close uint8
}

// ParseSpec parses "OPEN..CLOSE", each marker named as gonest's timeline
// names it ("scenario start", "+1 scenario start") or given as a number
// (3, 0x43).
func ParseSpec(s string) (Spec, error) {
	open, closing, ok := strings.Cut(s, "..")
	if !ok {
		return Spec{}, fmt.Errorf("window %q: want OPEN..CLOSE, such as '+1 scenario start..+1 scenario end'", s)
	}
	o, err := parseMarker(open)
	if err != nil {
		return Spec{}, fmt.Errorf("window %q: %w", s, err)
	}
	c, err := parseMarker(closing)
	if err != nil {
		return Spec{}, fmt.Errorf("window %q: %w", s, err)
	}
	if o == c {
		return Spec{}, fmt.Errorf("window %q: opens and closes at the same marker", s)
	}
	return Spec{Open: o, Close: c}, nil
}

func parseMarker(s string) (uint8, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 0, 8); err == nil {
		return uint8(n), nil
	}
	for b := 0; b < 256; b++ {
		if guestabi.DescribeMarker(uint8(b)) == s {
			return uint8(b), nil
		}
	}
	return 0, fmt.Errorf("no marker is called %q (names: %q, %q, ... with +N for deeper levels)",
		s, guestabi.MarkerScenarioStart.String(), guestabi.MarkerScenarioEnd.String())
}

// String renders the spec the way ParseSpec reads it.
func (s Spec) String() string {
	return guestabi.DescribeMarker(s.Open) + ".." + guestabi.DescribeMarker(s.Close)
}

// Tracer is what a window needs of a trace: *ktrace.Session.
type Tracer interface {
	Start() error
	Stop() error
	Snapshot() (*ktrace.Counts, error)
}

// Recorder opens and closes windows as markers arrive.
type Recorder struct {
	spec     Spec
	label    string // what a Result's Spec says
	markers  bool   // windows follow markers (false: OpenNow and Finish)
	read     func() machine.Counters
	trace    Tracer
	traceWhy string

	mu      sync.Mutex
	open    *openWindow
	results []Result
}

type openWindow struct {
	at       time.Duration
	before   machine.Counters
	traceErr error
}

// New returns a recorder for spec. read reads the counters (a
// *machine.Machine's Counters); trace, if not nil, is started and stopped
// with each window, and traceWhy says why there is none.
func New(spec Spec, read func() machine.Counters, trace Tracer, traceWhy string) *Recorder {
	return &Recorder{spec: spec, label: spec.String(), markers: true, read: read, trace: trace, traceWhy: traceWhy}
}

// NewWholeRun returns a recorder whose one window OpenNow opens and Finish
// closes, whatever the guest writes: a trace of the whole run.
func NewWholeRun(read func() machine.Counters, trace Tracer, traceWhy string) *Recorder {
	return &Recorder{label: "the whole run", read: read, trace: trace, traceWhy: traceWhy}
}

// OpenNow opens a window at time at (since the VMM started), unless one
// is open.
func (r *Recorder) OpenNow(at time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open == nil {
		r.openAt(at)
	}
}

func (r *Recorder) openAt(at time.Duration) {
	w := &openWindow{at: at, before: r.read()}
	if r.trace != nil {
		w.traceErr = r.trace.Start()
	}
	r.open = w
}

// OnMarker opens or closes a window; other markers are ignored, and so is
// a close with no window open or an open with one already open.
func (r *Recorder) OnMarker(mk machine.Marker) {
	if !r.markers {
		return
	}
	b := uint8(mk.Value)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case b == r.spec.Open && r.open == nil:
		r.openAt(mk.At)
	case b == r.spec.Close && r.open != nil:
		r.closeAt(mk.At, true)
	}
}

// Finish closes a window still open when the run ended (Complete false).
func (r *Recorder) Finish(at time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open != nil {
		r.closeAt(at, false)
	}
}

func (r *Recorder) closeAt(at time.Duration, complete bool) {
	w := r.open
	r.open = nil
	res := Result{
		Index:    len(r.results) + 1,
		Spec:     r.label,
		OpenMs:   ms(w.at),
		CloseMs:  ms(at),
		Complete: complete,
	}
	res.DurationMs = res.CloseMs - res.OpenMs
	if r.trace != nil {
		err := w.traceErr
		if err == nil {
			err = r.trace.Stop()
		}
		if err == nil {
			res.Trace, err = r.trace.Snapshot()
		}
		if err != nil {
			res.Trace, res.TraceUnavailable = nil, "unavailable: "+err.Error()
		}
	} else {
		res.TraceUnavailable = "unavailable: " + r.traceWhy
	}
	after := r.read()
	res.Exits = diff(w.before.Exits.Exits, after.Exits.Exits)
	res.KVM = kvmDiff(w.before.KVM, after.KVM)
	r.results = append(r.results, res)
}

// Results returns the closed windows, in order.
func (r *Recorder) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Result is one window.
type Result struct {
	Index int    `json:"index"`
	Spec  string `json:"spec"`
	// OpenMs and CloseMs are when the markers arrived, in ms since the
	// VMM started.
	OpenMs     float64 `json:"open_ms"`
	CloseMs    float64 `json:"close_ms"`
	DurationMs float64 `json:"duration_ms"`
	// Complete is false for a window the end of the run closed.
	Complete bool `json:"complete"`
	// Exits is what reached userspace in the window, by reason.
	Exits map[string]int64 `json:"exits"`
	// KVM holds the change of each in-kernel counter over the window
	// (counters that did not change are left out).
	KVM KVMDelta `json:"kvm"`
	// Trace holds L0's tracepoint counts, when a trace was asked for and
	// tracefs allowed it; TraceUnavailable says why not otherwise.
	Trace            *ktrace.Counts `json:"trace,omitempty"`
	TraceUnavailable string         `json:"trace_unavailable,omitempty"`
}

// KVMDelta is the change of KVM's counters over a window.
type KVMDelta struct {
	Available bool               `json:"available"`
	Reason    string             `json:"reason,omitempty"`
	VM        map[string]int64   `json:"vm,omitempty"`
	VCPUs     []map[string]int64 `json:"vcpus,omitempty"`
}

// VCPUTotal sums a counter over the vCPUs.
func (d KVMDelta) VCPUTotal(name string) int64 {
	var n int64
	for _, v := range d.VCPUs {
		n += v[name]
	}
	return n
}

func kvmDiff(before, after machine.KVMStats) KVMDelta {
	if !before.Available || !after.Available {
		why := before.Reason
		if why == "" {
			why = after.Reason
		}
		return KVMDelta{Reason: why}
	}
	d := KVMDelta{Available: true, VM: diff(before.VM, after.VM)}
	for i := range after.VCPUs {
		var b map[string]uint64
		if i < len(before.VCPUs) {
			b = before.VCPUs[i]
		}
		d.VCPUs = append(d.VCPUs, diff(b, after.VCPUs[i]))
	}
	return d
}

// diff returns after-before for each counter that changed. Instant and
// peak counters (pages_2m, halt_poll_fail_hist...) can go down; their
// change is shown signed like the rest.
func diff(before, after map[string]uint64) map[string]int64 {
	out := map[string]int64{}
	for k, a := range after {
		if d := int64(a - before[k]); d != 0 {
			out[k] = d
		}
	}
	for k, b := range before {
		if _, ok := after[k]; !ok && b != 0 {
			out[k] = -int64(b)
		}
	}
	return out
}

// WriteText prints the window for a person.
func (res *Result) WriteText(w io.Writer) {
	state := ""
	if !res.Complete {
		state = " (the run ended before the closing marker)"
	}
	fmt.Fprintf(w, "\n-- window %d: %s, %.1f ms (%.1f to %.1f ms since VMM start)%s\n",
		res.Index, res.Spec, res.DurationMs, res.OpenMs, res.CloseMs, state)
	fmt.Fprintf(w, "userspace exits: %s\n", joinCounts(res.Exits))
	if !res.KVM.Available {
		fmt.Fprintf(w, "KVM counters: %s\n", res.KVM.Reason)
	} else {
		fmt.Fprintln(w, "KVM counters that changed:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		header := "counter\tvm"
		for i := range res.KVM.VCPUs {
			header += fmt.Sprintf("\tvcpu%d", i)
		}
		fmt.Fprintln(tw, header)
		for _, k := range changedKeys(res.KVM) {
			row := k + "\t" + cell(res.KVM.VM, k)
			for _, v := range res.KVM.VCPUs {
				row += "\t" + cell(v, k)
			}
			fmt.Fprintln(tw, row)
		}
		tw.Flush()
	}
	if res.Trace != nil {
		res.Trace.WriteTable(w)
		if ev := res.Trace.Event("kvm_exit"); ev != nil && ev.Unavailable == "" && ev.Total == 0 && res.KVM.VCPUTotal("exits") > 0 {
			fmt.Fprintf(w, "kvm_exit never fired while KVM counted %d exits: this KVM does not trace its exits through it (kvm_pvm has an exit path of its own)\n",
				res.KVM.VCPUTotal("exits"))
		}
	} else {
		fmt.Fprintf(w, "L0 exits by reason (kvm tracepoints): %s\n", res.TraceUnavailable)
	}
}

func changedKeys(d KVMDelta) []string {
	seen := maps.Clone(d.VM)
	if seen == nil {
		seen = map[string]int64{}
	}
	for _, v := range d.VCPUs {
		maps.Copy(seen, v)
	}
	return slices.Sorted(maps.Keys(seen))
}

func cell(m map[string]int64, k string) string {
	if v, ok := m[k]; ok {
		return strconv.FormatInt(v, 10)
	}
	return "-"
}

func joinCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
