package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

// The boot benchmark: inside the same H, gonest and QEMU microvm
// (-M microvm -enable-kvm -cpu host) each boot G1 (the same kernel,
// initramfs, 512 MiB, one vCPU and command line: boot.DefaultCmdline plus
// scenario boot) from the start of the VMM's process to G1's first marker
// (init started), alternating, several times.

const (
	bootMemory = 512 << 20
	bootRunMax = 4*time.Minute + 30*time.Second // one boot, before it counts as failed
)

// runBenchBoot times gonest and QEMU booting G1 and reports two rows:
// the boot times and gonest's memory overhead.
func runBenchBoot(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	if v, ok := scenario.NeedNextLevel(ctx, env); !ok {
		return v
	}
	runs, ok := need(env, "bench-boot")
	if !ok {
		return guestabi.SetupError
	}
	// Both VMMs read the same kernel and initramfs from H's disk: read them
	// once first, so that the first run does not pay for the page cache.
	for _, f := range []string{guestabi.NextKernel, guestabi.NextInitrd} {
		if _, err := os.ReadFile(f); err != nil {
			env.Log.Error("read G1's images", "err", err)
			return guestabi.SetupError
		}
	}
	var overhead, own []float64
	gonest := g1Spec(env, gonestVMM, "boot", bootMemory, bootRunMax)
	gonest.StatsJSON = true
	initMarker := func(res launch.Result) (float64, error) {
		at, ok := res.Mark(guestabi.MarkerInitStarted)
		if !ok {
			return 0, fmt.Errorf("G1's %q marker never arrived", guestabi.MarkerInitStarted)
		}
		return at.Seconds(), nil
	}
	times, perRun, err := alternate(ctx, env, runs, [2]contender{
		{name: "gonest", spec: gonest, measure: func(res launch.Result) ([]float64, []any, error) {
			s, err := initMarker(res)
			if err != nil || res.Stats == nil {
				return nil, nil, fmt.Errorf("marker or statistics missing: %v", err)
			}
			ms, ok := res.Stats.Event("guest: " + guestabi.MarkerInitStarted.String())
			if !ok {
				return nil, nil, fmt.Errorf("no %q in gonest's timeline", guestabi.MarkerInitStarted)
			}
			overhead = append(overhead, float64(res.Stats.Memory.Overhead)/(1<<20))
			own = append(own, ms/1000)
			return []float64{s}, []any{"start_to_marker1_s", s, "vmm_start_to_marker1_ms", ms}, nil
		}},
		{name: "qemu", spec: g1Spec(env, qemuVMM, "boot", bootMemory, bootRunMax), measure: func(res launch.Result) ([]float64, []any, error) {
			s, err := initMarker(res)
			return []float64{s}, []any{"start_to_marker1_s", s}, err
		}},
	})
	v := compare(env, err, row{title: "lab G1 boot (start → init marker)", gonest: "gonest", qemu: "QEMU microvm",
		perRun: "per run", unit: "s", prec: 2}, times, perRun, runs)
	if v != guestabi.Pass {
		return v
	}
	report(env, fmt.Sprintf("VMM overhead at G1 boot (RSS − resident guest RAM): gonest %.1f MiB (min %.1f, max %.1f; median of %d)",
		median(overhead), slices.Min(overhead), slices.Max(overhead), len(overhead)),
		map[string]float64{"gonest_mib": median(overhead)})
	// gonest's own timeline starts at its VMM start, after its exec and Go
	// runtime start-up; the difference to the figure above is their cost.
	env.Log.Info("bench cross-check (gonest's own timeline: VMM start → init marker)", "gonest", spread(own, 2, "s"))
	return guestabi.Pass
}
