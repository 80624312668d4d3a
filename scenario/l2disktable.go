package scenario

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/gonest/gonest/launch"
)

// The disk-bus experiment's figures. Each read of G2 (ResultDiskRead) is
// one window at every level above it, in the same order: G1's gonest
// windows 'measure start..measure end' and reports each as a
// ResultDiskWindow; H's gonest windows '+1 measure start..+1 measure
// end' with its exit tracepoints. H pairs the three lists read by read.

const (
	// ResultDiskWindow is G1's result for one read's window: Text the bus,
	// metrics run, bytes, kvm_exits (what G1's KVM counted for G2's vCPU),
	// userspace_exits (what reached G1's gonest) and io_exits.
	ResultDiskWindow = "disk-window"
	// ResultDiskBus is H's result, one per bus: Text the table row,
	// metrics the medians over the runs.
	ResultDiskBus = "disk-bus"
)

// diskRun is one read of one bus as every level counted it.
type diskRun struct {
	bus   string
	bytes float64
	mbps  float64 // G2's rate
	// G1: its KVM's exits for G2's vCPU, the exits that reached its
	// gonest, and its KVM's io_exits.
	g1Exits, g1User, g1IO int64
	// H: its KVM's exits and nested_run for G1's vCPUs, and from its
	// tracepoints the exits it reflected into G1 (-1: no trace) and the
	// exits G1 took per reflected exit.
	hExits, hNestedRun, hReflected int64
	l1PerReflected                 float64
}

// mib is the run's size in MiB.
func (r diskRun) mib() float64 { return r.bytes / (1 << 20) }

// g1DiskWindows pairs G2's reads (depth 0 at G1) with G1's windows, one
// each, in order, as the ResultDiskWindow metrics G1 reports.
func g1DiskWindows(reads []launch.Message, wins []launch.Window) ([]map[string]float64, error) {
	if len(reads) != len(wins) {
		return nil, fmt.Errorf("G2 reported %d reads but G1's gonest measured %d windows", len(reads), len(wins))
	}
	var out []map[string]float64
	for i, w := range wins {
		if !w.Complete {
			return nil, fmt.Errorf("window %d (%s) closed with the run, not at its marker", w.Index, w.Spec)
		}
		exits, ok := w.VCPUSum("exits")
		if !ok {
			return nil, fmt.Errorf("window %d: no KVM counters: %s", w.Index, w.KVM.Reason)
		}
		io, _ := w.VCPUSum("io_exits")
		m := reads[i].Result.Metrics
		out = append(out, map[string]float64{"run": m["run"], "bytes": m["bytes"], "kvm_exits": float64(exits),
			"userspace_exits": float64(w.UserspaceExits()), "io_exits": float64(io)})
	}
	return out, nil
}

// diskRuns pairs, read by read, G2's reads (ResultDiskRead), G1's windows
// (ResultDiskWindow) and H's own windows.
func diskRuns(reads, g1 []launch.Message, h []launch.Window) ([]diskRun, error) {
	if len(reads) == 0 {
		return nil, fmt.Errorf("G2 reported no read")
	}
	if len(g1) != len(reads) || len(h) != len(reads) {
		return nil, fmt.Errorf("%d reads of G2, %d windows of G1, %d windows of H: each read must be one window at each level",
			len(reads), len(g1), len(h))
	}
	var runs []diskRun
	for i, rd := range reads {
		g, w := g1[i].Result, h[i]
		if g.Text != rd.Result.Text {
			return nil, fmt.Errorf("read %d: G2 read %s but G1's window %d says %s", i+1, rd.Result.Text, i+1, g.Text)
		}
		if !w.Complete {
			return nil, fmt.Errorf("window %d of H's gonest (%s) closed with the run, not at its marker", w.Index, w.Spec)
		}
		exits, ok := w.VCPUSum("exits")
		if !ok {
			return nil, fmt.Errorf("window %d of H's gonest: no KVM counters: %s", w.Index, w.KVM.Reason)
		}
		nested, _ := w.VCPUSum("nested_run")
		r := diskRun{bus: rd.Result.Text, bytes: rd.Result.Metrics["bytes"], mbps: rd.Result.Metrics["MBps"],
			g1Exits: int64(g.Metrics["kvm_exits"]), g1User: int64(g.Metrics["userspace_exits"]), g1IO: int64(g.Metrics["io_exits"]),
			hExits: exits, hNestedRun: nested, hReflected: -1}
		if r.bytes <= 0 {
			return nil, fmt.Errorf("read %d of %s: %v bytes", i+1, r.bus, r.bytes)
		}
		if w.Trace != nil {
			a := w.Trace.Attribute()
			if len(a.Missing) == 0 {
				r.hReflected, r.l1PerReflected = int64(a.Reflected), a.L1ExitsPerReflected
			}
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// The figures of a bus, per read and per MiB read where they say so.
const (
	MetricG2MBps         = "g2_MBps"                    // G2's read rate
	MetricG1Exits        = "g1_exits_per_mib"           // G1's KVM's exits for G2's vCPU
	MetricG1User         = "g1_userspace_exits_per_mib" // exits that reached G1's gonest
	MetricG1IO           = "g1_io_exits_per_mib"        // G1's KVM's io_exits
	MetricHExits         = "h_exits_per_mib"            // H's KVM's exits for G1's vCPUs
	MetricHNestedRun     = "h_nested_run_per_mib"       // VMRUNs of G1 that H's KVM ran
	MetricHReflected     = "h_reflected_per_mib"        // G2's exits H reflected into G1 (tracepoints)
	MetricG1PerReflected = "g1_exits_per_reflected"     // G1's own exits per reflected exit (tracepoints)
	MetricMiB            = "mib"
)

// DiskBus is one bus's figures: each metric's value in every run.
type DiskBus struct {
	Bus  string
	Runs map[string][]float64
}

// Median is a metric's median over the runs; ok is false when the runs
// lack it (no trace).
func (b DiskBus) Median(metric string) (float64, bool) {
	xs := b.Runs[metric]
	return Median(xs), len(xs) > 0
}

// summarize gives each bus's figures, buses in the order of runs.
func summarize(runs []diskRun) []DiskBus {
	var out []DiskBus
	index := map[string]int{}
	for _, r := range runs {
		i, ok := index[r.bus]
		if !ok {
			i = len(out)
			index[r.bus] = i
			out = append(out, DiskBus{Bus: r.bus, Runs: map[string][]float64{}})
		}
		add := func(metric string, v float64) { out[i].Runs[metric] = append(out[i].Runs[metric], v) }
		mib := r.mib()
		add(MetricMiB, mib)
		add(MetricG2MBps, r.mbps)
		add(MetricG1Exits, float64(r.g1Exits)/mib)
		add(MetricG1User, float64(r.g1User)/mib)
		add(MetricG1IO, float64(r.g1IO)/mib)
		add(MetricHExits, float64(r.hExits)/mib)
		add(MetricHNestedRun, float64(r.hNestedRun)/mib)
		if r.hReflected >= 0 {
			add(MetricHReflected, float64(r.hReflected)/mib)
			add(MetricG1PerReflected, r.l1PerReflected)
		}
	}
	// A metric some run lacks is no median.
	for _, b := range out {
		n := len(b.Runs[MetricMiB])
		for k, xs := range b.Runs {
			if len(xs) != n {
				delete(b.Runs, k)
			}
		}
	}
	return out
}

// metrics are a bus's medians for its ResultDiskBus.
func (b DiskBus) metrics() map[string]float64 {
	m := map[string]float64{"runs": float64(len(b.Runs[MetricMiB]))}
	for k := range b.Runs {
		m[k], _ = b.Median(k)
	}
	return m
}

// line says a bus's medians in one line, for its ResultDiskBus.
func (b DiskBus) line() string {
	var parts []string
	for _, c := range diskColumns {
		if v, ok := b.Median(c.metric); ok {
			parts = append(parts, c.head+" "+fmt.Sprintf(c.format, v))
		}
	}
	mib, _ := b.Median(MetricMiB)
	return fmt.Sprintf("%s, %d runs of %.0f MiB: %s", b.Bus, len(b.Runs[MetricMiB]), mib, strings.Join(parts, ", "))
}

// diskColumns are the table's columns after the bus.
var diskColumns = []struct {
	metric, head, format string
}{
	{MetricG2MBps, "G2 MB/s", "%.2f"},
	{MetricG1Exits, "G1 exits/MiB", "%.0f"},
	{MetricG1User, "G1 userspace exits/MiB", "%.0f"},
	{MetricHExits, "H exits/MiB", "%.0f"},
	{MetricHNestedRun, "H nested_run/MiB", "%.0f"},
	{MetricHReflected, "H reflected/MiB", "%.0f"},
	{MetricG1PerReflected, "G1 exits per reflected", "%.1f"},
}

// diskTable renders the medians, one row per bus, then the ratio of the
// first bus to the second (IDE against virtio-blk).
func diskTable(buses []DiskBus) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "bus\truns × MiB\t"
	for _, c := range diskColumns {
		head += c.head + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, bus := range buses {
		mib, _ := bus.Median(MetricMiB)
		row := fmt.Sprintf("%s\t%d × %.0f\t", bus.Bus, len(bus.Runs[MetricMiB]), mib)
		for _, c := range diskColumns {
			if v, ok := bus.Median(c.metric); ok {
				row += fmt.Sprintf(c.format, v) + "\t"
			} else {
				row += "n/a\t"
			}
		}
		fmt.Fprintln(tw, row)
	}
	if len(buses) == 2 {
		row := buses[0].Bus + " / " + buses[1].Bus + "\t\t"
		for _, c := range diskColumns {
			a, okA := buses[0].Median(c.metric)
			z, okZ := buses[1].Median(c.metric)
			if okA && okZ {
				row += ratio(a, z) + "\t"
			} else {
				row += "n/a\t"
			}
		}
		fmt.Fprintln(tw, row)
	}
	tw.Flush()
	return b.String()
}

// ratio formats a/b, or "n/a" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3g", a/b)
}
