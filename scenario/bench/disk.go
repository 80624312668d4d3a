package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/scenario"
)

// The disk-bus benchmark (bench-disk): the l2-disk experiment with
// gonest.bench.runs reads of each bus (at least minDiskRuns), alternating
// IDE and virtio-blk within one boot of G2, benchDiskMiB each. Every read
// is windowed at G1 and H as in the lab test; the rows give each figure's
// median for each bus with its range, and the ratio IDE / virtio-blk per
// run.

const (
	// minDiskRuns is the fewest reads per bus a bench row is made of.
	minDiskRuns = 5
	// benchDiskMiB is each read's size, the lab test's: an IDE read of
	// 4 MiB took the loaded lab 67 to 108 s, so five of each bus would
	// hold a lab slot for ten minutes.
	benchDiskMiB = 2
	// DiskRowPrefix starts each row; tools/bench.sh puts these rows in a
	// table of their own.
	DiskRowPrefix = "disk bus in G2"
)

// diskRows are the figures a row is made for, and how they print.
var diskRows = []struct {
	metric, what, prec string
}{
	{scenario.MetricG2MBps, "G2 read MB/s", "%.2f"},
	{scenario.MetricG1Exits, "G1 exits per MiB (G1's KVM, for G2's vCPU)", "%.0f"},
	{scenario.MetricG1User, "G1 userspace exits per MiB (G1's gonest)", "%.0f"},
	{scenario.MetricHExits, "H exits per MiB (H's KVM, for G1's vCPU)", "%.0f"},
	{scenario.MetricHNestedRun, "H nested_run per MiB", "%.0f"},
	{scenario.MetricHReflected, "exits H reflected into G1 per MiB", "%.0f"},
	{scenario.MetricG1PerReflected, "G1 exits per reflected exit", "%.1f"},
}

func runBenchDisk(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	runs, ok := runCount(env)
	if !ok {
		return guestabi.SetupError
	}
	runs = max(runs, minDiskRuns)
	if env.Params == nil {
		env.Params = map[string]string{}
	}
	env.Params[guestabi.ParamDiskRuns] = strconv.Itoa(runs)
	if _, set := env.Params[guestabi.ParamDiskMiB]; !set {
		env.Params[guestabi.ParamDiskMiB] = strconv.Itoa(benchDiskMiB)
	}
	v, buses := scenario.L2Disk(ctx, env, false)
	if v != guestabi.Pass {
		return v
	}
	rows, err := diskBenchRows(buses)
	if err != nil {
		env.Log.Error("bench disk", "err", err)
		return guestabi.Fail
	}
	for _, r := range rows {
		report(env, r.text, r.metrics)
	}
	return guestabi.Pass
}

// benchRow is one row and its numbers.
type benchRow struct {
	text    string
	metrics map[string]float64
}

// diskBenchRows makes a row per figure: IDE's median and range,
// virtio-blk's, and the ratio of the medians with each run's own ratio.
func diskBenchRows(buses []scenario.DiskBus) ([]benchRow, error) {
	if len(buses) != 2 || buses[0].Bus != scenario.BusIDE || buses[1].Bus != scenario.BusVirtio {
		return nil, fmt.Errorf("want the buses %s then %s, got %d", scenario.BusIDE, scenario.BusVirtio, len(buses))
	}
	ide, vd := buses[0], buses[1]
	var rows []benchRow
	for _, r := range diskRows {
		a, z := ide.Runs[r.metric], vd.Runs[r.metric]
		if len(a) == 0 || len(a) != len(z) {
			continue // no trace: its figures are missing
		}
		per := make([]float64, len(a))
		for i := range a {
			per[i] = a[i] / z[i]
		}
		mib, _ := ide.Median(scenario.MetricMiB)
		ratio := median(a) / median(z)
		text := fmt.Sprintf("%s, %s: IDE %s, virtio-blk %s, ratio %.3g (median of %d reads of %.0f MiB per bus; per run %s)",
			DiskRowPrefix, r.what, spreadf(a, r.prec), spreadf(z, r.prec), ratio, len(a), mib, ratios3(per))
		rows = append(rows, benchRow{text: text, metrics: map[string]float64{"ratio": ratio, "ide": median(a), "virtio": median(z)}})
	}
	return rows, nil
}

// spreadf is "MEDIAN (min MIN, max MAX)" in format f.
func spreadf(xs []float64, f string) string {
	return fmt.Sprintf(f+" (min "+f+", max "+f+")", median(xs), slices.Min(xs), slices.Max(xs))
}

// ratios3 formats per-run ratios with three significant digits.
func ratios3(rs []float64) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += strconv.FormatFloat(r, 'g', 3, 64)
	}
	return s
}
