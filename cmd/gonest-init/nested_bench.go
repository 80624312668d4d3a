package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bootproto "github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// The G2-launch benchmark (issue 5, `make bench-nested`): in the bench
// image of H (QEMU inside), G1 boots once under gonest and once under QEMU
// microvm, alternating, and each time G1 launches G2 Linux with gonest
// (scenario nested, G2 runs boot). What differs is G1's VMM; what is timed
// is "G1 init → G2 verdict": from G1's "init started" marker to its
// "scenario end" marker, which G1's init writes as soon as G2's verdict
// is back. H timestamps both markers (gonest: its -stats-json timeline;
// QEMU: its isa-debugcon socket), so both VMMs are timed on H's clock.

const (
	// benchNestedMemory is G1's memory under both VMMs: room for G2's.
	benchNestedMemory = "1G"
	benchNestedRunMax = 6 * time.Minute
	benchNestedStats  = "/tmp/bench-nested-g1.json"
	benchNestedSock   = "/tmp/bench-nested-markers.sock"
)

// benchNestedAppend is G1's scenario under both VMMs: boot G2, which passes.
func benchNestedAppend(level string, timeout time.Duration) string {
	return "quiet " + guestabi.ParamScenario + "=nested " + guestabi.ParamLevel + "=" + guestabi.NextLevel(level) +
		" " + ParamNext + "=boot " + guestabi.ParamTimeout + "=" + timeout.String()
}

// launchTiming is one G1 boot: when G1's and G2's markers arrived,
// counted from the VMM's start.
type launchTiming struct {
	g1Init, g1Start, g2Init, g1End time.Duration
}

// launch is the benchmark's figure: G1 init → G2 verdict.
func (l launchTiming) launch() time.Duration { return l.g1End - l.g1Init }

func (l launchTiming) logAttrs() []any {
	return []any{
		"g1_init_to_g2_verdict", l.launch().Round(time.Millisecond),
		"g1_init_to_scenario", (l.g1Start - l.g1Init).Round(time.Millisecond),
		"scenario_to_g2_init", (l.g2Init - l.g1Start).Round(time.Millisecond),
		"g2_init_to_verdict", (l.g1End - l.g2Init).Round(time.Millisecond),
	}
}

// runBenchNested times the G2 launch under both VMMs and logs the row.
func runBenchNested(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := needNextLevel(ctx, env); !ok {
		return v
	}
	for _, p := range []string{guestabi.NextDisk, qemuBinary} {
		if _, err := os.Stat(p); err != nil {
			env.Log.Error("the bench needs G1's next-images disk and QEMU: boot H with images/out/h-bench.cpio.gz (make bench-nested)", "err", err)
			return guestabi.SetupError
		}
	}
	runs, ok := benchRunCount(env)
	if !ok {
		return guestabi.SetupError
	}
	times := map[string][]float64{}
	for i := range runs {
		for _, vmm := range []string{"gonest", "qemu"} {
			boot := benchNestedGonest
			if vmm == "qemu" {
				boot = benchNestedQEMU
			}
			sampler := sampleKVMStats(500 * time.Millisecond)
			lt, err := boot(ctx, env)
			counters := sampler.stop()
			if err != nil {
				env.Log.Error("bench nested boot failed", "vmm", vmm, "run", i+1, "err", err)
				return guestabi.Fail
			}
			env.Log.Info("bench nested", append([]any{"vmm", vmm, "run", i + 1}, lt.logAttrs()...)...)
			// KVM's own counters for G1, whichever VMM runs it.
			env.Log.Info("bench nested: H's KVM counters for G1", append([]any{"vmm", vmm},
				pickStats(counters, benchNestedCounters)...)...)
			times[vmm] = append(times[vmm], lt.launch().Seconds())
		}
	}
	g, q := times["gonest"], times["qemu"]
	// The lab machine's load drifts between runs; each pair ran back to
	// back, so each pair's own ratio goes into the row.
	ratios := make([]string, len(g))
	for i := range g {
		ratios[i] = fmt.Sprintf("%.2f", g[i]/q[i])
	}
	row := fmt.Sprintf("G2 launch (G1 init → G2 verdict): gonest-as-G1-VMM %s, QEMU-as-G1-VMM %s, ratio %.2f (median of %d; per run %s)",
		secondsSpread(g), secondsSpread(q), medianOf(g)/medianOf(q), runs, strings.Join(ratios, " "))
	env.Log.Info(benchResultMsg, "row", row)
	return guestabi.Pass
}

// kvmDebugfs holds KVM's counters summed over every VM of this level.
const kvmDebugfs = "/sys/kernel/debug/kvm"

// benchNestedCounters are the KVM counters the bench compares between
// the two VMMs of G1 (debugfs names).
var benchNestedCounters = []string{"exits", "insn_emulation", "nested_run", "io_exits", "mmio_exits",
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

// secondsSpread formats durations in seconds as "41.2 s (min 40.1, max 45.0)".
func secondsSpread(xs []float64) string {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf("%.1f s (min %.1f, max %.1f)", medianOf(xs), lo, hi)
}

// benchNestedGonest boots G1 with gonest; the markers' times come from
// gonest's -stats-json timeline ("guest: init started", "guest: +1 init
// started", ...). -stats puts the exit counts behind each figure in the log.
func benchNestedGonest(ctx context.Context, env *Env) (launchTiming, error) {
	_ = os.Remove(benchNestedStats)
	args := []string{"run", "-m", benchNestedMemory, "-smp", "1",
		"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd,
		"-disk", guestabi.NextDisk + ",ro",
		"-stats", "-stats-json", benchNestedStats, "-timeout", benchNestedRunMax.String(),
		"-append", benchNestedAppend(env.Level, benchNestedRunMax-30*time.Second)}
	if err := benchNestedRun(ctx, env, "gonest", guestabi.GonestBinary, args, 0); err != nil {
		return launchTiming{}, err
	}
	s, err := readVMMStatsTimeline(benchNestedStats)
	if err != nil {
		return launchTiming{}, err
	}
	var lt launchTiming
	for _, e := range []struct {
		event string
		into  *time.Duration
	}{
		{"guest: " + guestabi.DescribeMarker(uint8(guestabi.MarkerInitStarted)), &lt.g1Init},
		{"guest: " + guestabi.DescribeMarker(uint8(guestabi.MarkerScenarioStart)), &lt.g1Start},
		{"guest: " + guestabi.DescribeMarker(guestabi.ForwardMarker(uint8(guestabi.MarkerInitStarted))), &lt.g2Init},
		{"guest: " + guestabi.DescribeMarker(uint8(guestabi.MarkerScenarioEnd)), &lt.g1End},
	} {
		ms, ok := s[e.event]
		if !ok {
			return launchTiming{}, fmt.Errorf("gonest's timeline has no %q", e.event)
		}
		*e.into = time.Duration(ms * float64(time.Millisecond))
	}
	return lt, nil
}

// benchNestedQEMU boots G1 with QEMU microvm (pcie=on, so G1 sees its
// next-images disk on virtio-blk-pci as under gonest); the markers are
// timed as they arrive on QEMU's isa-debugcon socket.
func benchNestedQEMU(ctx context.Context, env *Env) (launchTiming, error) {
	_ = os.Remove(benchNestedSock)
	ln, err := net.Listen("unix", benchNestedSock)
	if err != nil {
		return launchTiming{}, fmt.Errorf("marker socket: %w", err)
	}
	defer ln.Close()
	clock := newMarkerClock(time.Now())
	go clock.serve(ln)
	args := microvmArgs("microvm,pcie=on", benchNestedMemory,
		bootproto.DefaultCmdline+" "+benchNestedAppend(env.Level, benchNestedRunMax-30*time.Second))
	args = append(args, qemuMarkerArgs(benchNestedSock)...)
	args = append(args, "-drive", "file="+guestabi.NextDisk+",if=none,id=next,format=raw,readonly=on",
		"-device", "virtio-blk-pci,drive=next")
	// isa-debug-exit: QEMU exits (verdict<<1)|1, so 1 is a pass.
	runErr := benchNestedRun(ctx, env, "qemu", qemuBinary, args, 1)
	marks := clock.close(ln)
	if runErr != nil {
		return launchTiming{}, runErr
	}
	var lt launchTiming
	for _, e := range []struct {
		depth int
		m     guestabi.Marker
		into  *time.Duration
	}{
		{0, guestabi.MarkerInitStarted, &lt.g1Init},
		{0, guestabi.MarkerScenarioStart, &lt.g1Start},
		{1, guestabi.MarkerInitStarted, &lt.g2Init},
		{0, guestabi.MarkerScenarioEnd, &lt.g1End},
	} {
		at, ok := marks[markerKey{e.depth, e.m}]
		if !ok {
			return launchTiming{}, fmt.Errorf("marker %q at depth %d never arrived on QEMU's debugcon", e.m, e.depth)
		}
		*e.into = at
	}
	return lt, nil
}

// benchNestedRun runs one VMM to its end with its console prefixed
// "[G1 vmm] ", and checks its exit status.
func benchNestedRun(ctx context.Context, env *Env, vmm, bin string, args []string, wantStatus int) error {
	ctx, cancel := context.WithTimeout(ctx, benchNestedRunMax+30*time.Second)
	defer cancel()
	out := newLineWriter(env.Console, "["+guestabi.NextLevel(env.Level)+" "+vmm+"] ", tailLines)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	env.Log.Info("bench nested: starting G1", "vmm", vmm, "cmd", strings.Join(cmd.Args, " "))
	err := cmd.Run()
	if ferr := out.Flush(); ferr != nil {
		env.Log.Warn("console write", "err", ferr)
	}
	status := exitStatus(err)
	if status < 0 {
		return fmt.Errorf("%s: %w", vmm, err)
	}
	if status != wantStatus {
		env.printTail(vmm+" console", out.Tail())
		return fmt.Errorf("%s exited %d, want %d (G1's nested scenario passes)", vmm, status, wantStatus)
	}
	return nil
}

// readVMMStatsTimeline reads a gonest -stats-json file's timeline as
// event → ms since VMM start.
func readVMMStatsTimeline(path string) (map[string]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gonest statistics: %w", err)
	}
	return parseTimeline(data, filepath.Base(path))
}

// parseTimeline reads the "timeline" of gonest's -stats-json output
// (machine.Stats) as event → ms since VMM start.
func parseTimeline(data []byte, name string) (map[string]float64, error) {
	var s struct {
		Timeline []struct {
			Event string  `json:"event"`
			Ms    float64 `json:"ms"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("gonest statistics %s: %w", name, err)
	}
	out := make(map[string]float64, len(s.Timeline))
	for _, p := range s.Timeline {
		if _, seen := out[p.Event]; !seen {
			out[p.Event] = p.Ms
		}
	}
	return out, nil
}

// markerKey is a marker of the level depth below the VMM's guest.
type markerKey struct {
	depth  int
	marker guestabi.Marker
}

// markerClock timestamps the marker bytes a VMM writes to a socket, the
// first arrival of each (depth, marker).
type markerClock struct {
	start time.Time
	mu    sync.Mutex
	at    map[markerKey]time.Duration
	done  chan struct{}
}

func newMarkerClock(start time.Time) *markerClock {
	return &markerClock{start: start, at: map[markerKey]time.Duration{}, done: make(chan struct{})}
}

func (c *markerClock) serve(ln net.Listener) {
	defer close(c.done)
	conn, err := ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for {
		n, err := conn.Read(buf)
		at := time.Since(c.start)
		c.mu.Lock()
		for _, b := range buf[:n] {
			depth, m := guestabi.SplitMarker(b)
			if _, seen := c.at[markerKey{depth, m}]; !seen {
				c.at[markerKey{depth, m}] = at
			}
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// close waits for the reader (the VMM has exited, so its connection is at
// EOF; one still in the accept queue is taken first) and returns the times.
func (c *markerClock) close(ln net.Listener) map[markerKey]time.Duration {
	if ul, ok := ln.(*net.UnixListener); ok {
		_ = ul.SetDeadline(time.Now().Add(time.Second)) // an error: closed already
	}
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[markerKey]time.Duration, len(c.at))
	for k, v := range c.at {
		out[k] = v
	}
	return out
}
