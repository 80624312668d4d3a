package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

// Scenarios are the benchmark scenarios, for gonest-init's table.
func Scenarios() []scenario.Scenario {
	return []scenario.Scenario{
		{Name: "bench-boot", Doc: "H: time gonest and QEMU microvm booting G1 to its init marker, alternating, and report a table row", Run: runBenchBoot},
		{Name: "bench-blk", Doc: "bench image: G1 reads a 256 MiB disk behind gonest's virtio-blk and QEMU's, alternating; reports the table row", Run: runBenchBlk},
		{Name: "bench-disk", Doc: "H: l2-disk with gonest.bench.runs reads of each bus (at least 5) in one G2; reports a row per figure, IDE against virtio-blk", Run: runBenchDisk},
		{Name: "bench-nested", Doc: "H (bench image): time G1 init → G2 verdict with gonest and with QEMU microvm as G1's VMM, and report a table row", Run: runBenchNested},
		{Name: "bench-exec", Doc: "H (bench image): gonest exec against QEMU microvm with 9p: /bin/true wall time and its parts, find+stat of gonest.bench.files files, a gonest.bench.mib MiB read; five table rows", Run: runBenchExec},
	}
}

const (
	// defaultRuns is a benchmark's runs per VMM without gonest.bench.runs.
	defaultRuns = 3
	// qemuBinary is where the bench image puts QEMU.
	qemuBinary = "/usr/bin/qemu-system-x86_64"
)

// contender is one VMM of a benchmark: the spec of one boot, and what a
// boot that passed measures.
type contender struct {
	name string
	spec launch.Spec
	// measure returns the boot's figures and what to log about them.
	measure func(res launch.Result) ([]float64, []any, error)
	// during, if set, starts watching when a boot starts; its stop gives
	// more to log.
	during func() (stop func() []any)
}

// alternate boots cs[0] then cs[1], runs times, and returns each one's
// figures (in boot order) and each pair's ratio of medians.
func alternate(ctx context.Context, env *scenario.Env, runs int, cs [2]contender) ([2][]float64, []float64, error) {
	var all [2][]float64
	var ratios []float64
	for i := range runs {
		var pair [2]float64
		for j, c := range cs {
			var stop func() []any
			if c.during != nil {
				stop = c.during()
			}
			env.Log.Info("bench boot", "vmm", c.name, "run", i+1)
			res, err := env.Launch(ctx, c.spec, &launch.Observer{Line: func(l string) bool {
				return !strings.HasPrefix(l, "init: ") // one boot's first lines and verdict are enough
			}})
			var more []any
			if stop != nil {
				more = stop()
			}
			if err != nil || res.Verdict != guestabi.Pass {
				env.PrintTails(res)
				return all, nil, fmt.Errorf("%s run %d: verdict %s: %v", c.name, i+1, res.Verdict, err)
			}
			got, attrs, err := c.measure(res)
			if err != nil {
				return all, nil, fmt.Errorf("%s run %d: %w", c.name, i+1, err)
			}
			env.Log.Info("bench", append(append([]any{"vmm", c.name, "run", i + 1}, attrs...), more...)...)
			all[j] = append(all[j], got...)
			pair[j] = median(got)
		}
		// Each pair ran back to back: its own ratio shows how much the
		// shared machine's load drifted between pairs.
		ratios = append(ratios, pair[0]/pair[1])
	}
	return all, ratios, nil
}

// row is how a comparison is written: "TITLE: GONEST 8.00 s (min ..),
// QEMU 9.00 s (min ..), ratio 0.89 (median of N OF; PERRUN 0.85 0.92)".
// tools/bench.sh reads the ratio and the per-run ratios back.
type row struct {
	title, gonest, qemu, of, perRun, unit string
	prec                                  int
}

// compare ends a benchmark: Fail when alternate failed, else the row of
// gonest's figures g against QEMU's q, reported, and Pass.
func compare(env *scenario.Env, err error, r row, figures [2][]float64, perRun []float64, runs int) guestabi.Verdict {
	if err != nil {
		env.Log.Error("bench boot failed", "err", err)
		return guestabi.Fail
	}
	g, q := figures[0], figures[1]
	n := runs
	if r.of != "" {
		n = len(g)
	}
	ratio := median(g) / median(q)
	report(env, fmt.Sprintf("%s: %s %s, %s %s, ratio %.2f (median of %d%s; %s %s)", r.title, r.gonest, spread(g, r.prec, r.unit),
		r.qemu, spread(q, r.prec, r.unit), ratio, n, r.of, r.perRun, ratios(perRun)),
		map[string]float64{"ratio": ratio, "gonest": median(g), "qemu": median(q)})
	return guestabi.Pass
}

// report logs a table row and sends it to the level above, where
// lab/cmd/gonest-bench prints it.
func report(env *scenario.Env, row string, metrics map[string]float64) {
	env.Log.Info("bench result", "row", row)
	env.Result(guestabi.ResultBenchRow, row, metrics)
}

// runCount reads gonest.bench.runs; it logs why a bad value is bad.
func runCount(env *scenario.Env) (int, bool) {
	runs, err := strconv.Atoi(env.Param(guestabi.ParamBenchRuns, strconv.Itoa(defaultRuns)))
	if err != nil || runs < 1 {
		env.Log.Error("bad "+guestabi.ParamBenchRuns+"; want a count of runs", "value", env.Param(guestabi.ParamBenchRuns, ""))
		return 0, false
	}
	return runs, true
}

// need checks what every benchmark needs in H: QEMU (only in the bench
// image) and the files listed, and the run count.
func need(env *scenario.Env, target string, files ...string) (int, bool) {
	for _, f := range append([]string{qemuBinary}, files...) {
		if _, err := os.Stat(f); err != nil {
			env.Log.Error("the bench needs QEMU and G1's images: boot H with images/out/h-bench.cpio.gz (make "+target+")", "err", err)
			return 0, false
		}
	}
	return runCount(env)
}

// gonestVMM and qemuVMM are the two contenders' VMMs.
var (
	gonestVMM = launch.Gonest{Binary: guestabi.GonestBinary}
	qemuVMM   = launch.QEMU{Binary: qemuBinary}
)

// g1Spec is G1 booted by vmm for a benchmark: gonest-init running
// scenario, 512 MiB unless memory says otherwise, one vCPU, quiet.
func g1Spec(env *scenario.Env, vmm launch.VMM, scenario string, memory uint64, timeout time.Duration) launch.Spec {
	return launch.Spec{VMM: vmm, Kernel: guestabi.NextKernel, Initrd: guestabi.NextInitrd, Memory: memory,
		Level: guestabi.NextLevel(env.Level), Scenario: scenario, Append: "quiet", Timeout: timeout,
		GuestReports: true, Console: env.Console}
}

// median is scenario.Median: the mean of the two middle values for an
// even count, 0 for none.
func median(xs []float64) float64 { return scenario.Median(xs) }

// spread formats xs as "8.00 s (min 7.00, max 9.00)": the median, then
// the extremes, with prec decimals.
func spread(xs []float64, prec int, unit string) string {
	f := "%." + strconv.Itoa(prec) + "f"
	return fmt.Sprintf(f+" %s (min "+f+", max "+f+")", median(xs), unit, slices.Min(xs), slices.Max(xs))
}

// ratios formats per-run ratios: "0.69 0.53 0.63".
func ratios(rs []float64) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, " ")
}
