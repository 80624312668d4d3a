package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
	"golang.org/x/sys/unix"
)

// The G2-launch benchmark: in the bench image of H, G1 boots once under
// gonest and once under QEMU microvm, alternating, and each time G1
// launches G2 Linux with gonest (scenario nested, G2 runs boot). What
// differs is G1's VMM; what is timed is "G1 init → G2 verdict": from G1's
// "init started" marker to its "scenario end" marker, which G1's init
// writes as soon as G2's verdict is back. launch timestamps both as they
// reach H, so both VMMs are timed on H's clock.

const (
	// nestedMemory is G1's memory under both VMMs: room for G2's.
	nestedMemory = 1 << 30
	nestedRunMax = 6*time.Minute + 30*time.Second
)

// launchMarks are the markers a G2 launch is timed by: depth (0 G1, 1
// G2) and marker.
var launchMarks = [4]struct {
	depth  int
	marker guestabi.Marker
	attr   string
}{
	{0, guestabi.MarkerInitStarted, ""},
	{0, guestabi.MarkerScenarioStart, "g1_init_to_scenario"},
	{1, guestabi.MarkerInitStarted, "scenario_to_g2_init"},
	{0, guestabi.MarkerScenarioEnd, "g2_init_to_verdict"},
}

// launchTime measures one boot: G1 init → G2 verdict, with its steps for
// the log.
func launchTime(res launch.Result) ([]float64, []any, error) {
	var at [4]time.Duration
	attrs := []any{}
	for i, m := range launchMarks {
		t, ok := res.MarkAt(m.depth, m.marker)
		if !ok {
			return nil, nil, fmt.Errorf("marker %q at depth %d never arrived", m.marker, m.depth)
		}
		at[i] = t
		if i > 0 {
			attrs = append(attrs, m.attr, (at[i] - at[i-1]).Round(time.Millisecond))
		}
	}
	total := at[3] - at[0]
	return []float64{total.Seconds()}, append([]any{"g1_init_to_g2_verdict", total.Round(time.Millisecond)}, attrs...), nil
}

// runBenchNested times the G2 launch under both VMMs and reports the row.
func runBenchNested(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	if v, ok := scenario.NeedNextLevel(ctx, env); !ok {
		return v
	}
	runs, ok := need(env, "bench-nested", guestabi.NextDisk)
	if !ok {
		return guestabi.SetupError
	}
	specFor := func(vmm launch.VMM) launch.Spec {
		s := g1Spec(env, vmm, "nested", nestedMemory, nestedRunMax)
		s.Params = map[string]string{guestabi.ParamNext: "boot"}
		s.GuestTimeout = nestedRunMax - time.Minute
		s.Disks = []launch.Disk{{Path: guestabi.NextDisk, ReadOnly: true}}
		return s
	}
	gonest := specFor(gonestVMM)
	gonest.Stats = true // the exit counts behind each figure go into the log
	// KVM's own counters for G1, whichever VMM runs it.
	sample := func() func() []any {
		s := sampleKVMStats(500 * time.Millisecond)
		return func() []any { return pickStats(s.stop(), nestedCounters) }
	}
	times, perRun, err := alternate(ctx, env, runs, [2]contender{
		{name: "gonest", spec: gonest, measure: launchTime, during: sample},
		{name: "qemu", spec: specFor(launch.QEMU{Binary: qemuBinary, Machine: "microvm,pcie=on"}), measure: launchTime, during: sample},
	})
	return compare(env, err, row{title: "G2 launch (G1 init → G2 verdict)", gonest: "gonest-as-G1-VMM", qemu: "QEMU-as-G1-VMM",
		perRun: "per run", unit: "s", prec: 1}, times, perRun, runs)
}

// kvmDebugfs holds KVM's counters summed over every VM of this level.
const kvmDebugfs = "/sys/kernel/debug/kvm"

// nestedCounters are the KVM counters the bench compares between the two
// VMMs of G1 (debugfs names).
var nestedCounters = []string{"exits", "insn_emulation", "nested_run", "io_exits", "mmio_exits",
	"irq_exits", "irq_window_exits", "irq_injections", "halt_exits", "req_event", "tlb_flush", "pf_fixed"}

// kvmGlobalStats reads KVM's debugfs counters (mounting debugfs when
// needed); empty when unavailable.
func kvmGlobalStats() map[string]uint64 {
	if _, err := os.Stat(kvmDebugfs); err != nil {
		_ = unix.Mount("debugfs", "/sys/kernel/debug", "debugfs", 0, "") // absent debugfs: no counters
	}
	out := map[string]uint64{}
	entries, err := os.ReadDir(kvmDebugfs)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(kvmDebugfs, e.Name()))
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			out[e.Name()] = n
		}
	}
	return out
}

// pickStats returns name, value pairs for a log line.
func pickStats(stats map[string]uint64, names []string) []any {
	var out []any
	for _, n := range names {
		if v, ok := stats[n]; ok {
			out = append(out, n, v)
		}
	}
	return out
}

// statsSampler polls KVM's debugfs counters while a VM runs: they sum
// over the VMs alive, so a VM's counts vanish when it exits, and the last
// sample (at most one period before the end) stands for the whole run.
type statsSampler struct {
	quit chan struct{}
	done chan map[string]uint64
}

func sampleKVMStats(period time.Duration) *statsSampler {
	s := &statsSampler{quit: make(chan struct{}), done: make(chan map[string]uint64, 1)}
	go func() {
		last := map[string]uint64{}
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			if cur := kvmGlobalStats(); cur["exits"] >= last["exits"] && cur["exits"] > 0 {
				last = cur
			}
			select {
			case <-s.quit:
				s.done <- last
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *statsSampler) stop() map[string]uint64 {
	close(s.quit)
	return <-s.done
}
