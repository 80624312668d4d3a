package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/exitloop"
	"github.com/gonest/gonest/launch"
)

// loopWindow is what every level measures of its own guest: from the loop's
// "scenario start" marker to its "scenario end".
const loopWindow = "scenario start..scenario end"

// loopTimeout bounds one loop's run (a tiny guest: 0.3 to 2 s nested
// under QEMU's software SVM at the default n, 4 s with the machine's
// cores shared).
const loopTimeout = 90 * time.Second

// thpEnabled says when Linux backs anonymous memory with transparent huge
// pages: "always", "madvise" (regions that ask, as gonest's guest RAM
// does with MADV_HUGEPAGE) or "never" (Documentation/admin-guide/mm/transhuge.rst).
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// runLoop runs workload w's loop of n iterations as this level's guest,
// under gonest with a window between the loop's markers, and returns the
// window. trace adds this level's exit tracepoints to it; forward passes
// the loop's markers up, for the windows of the levels above. vmmLog gets
// gonest's own output (the window's table).
//
// G1 runs its loops without tracing: a window opens on the marker G1's
// gonest has just forwarded, inside H's window, and starting a trace
// (writing the hist triggers) would cost G1 hundreds of exits there.
func runLoop(ctx context.Context, env *Env, dir string, w anatomyWorkload, n uint32, trace, forward bool, vmmLog io.Writer) (launch.Window, error) {
	elf, err := exitloop.ELF(w.kind, n)
	if err != nil {
		return launch.Window{}, err
	}
	path := filepath.Join(dir, w.name+".elf")
	if err := os.WriteFile(path, elf, 0o644); err != nil {
		return launch.Window{}, fmt.Errorf("write the loop: %w", err)
	}
	if w.thp != "" {
		restore, err := setTHP(thpEnabled, w.thp)
		if err != nil {
			return launch.Window{}, err
		}
		defer restore()
	}
	spec := launch.Spec{VMM: launch.Gonest{Binary: guestabi.GonestBinary, Forward: forward}, Kernel: path,
		Memory: exitloop.MemorySize(w.kind, n), Level: guestabi.NextLevel(env.Level),
		Window: loopWindow, TraceExits: trace, StatsJSON: true,
		Timeout: min(loopTimeout, env.Budget(ctx, 1, loopTimeout)), Console: env.Console, VMMLog: vmmLog}
	res, err := launch.Run(ctx, spec, nil)
	if err == nil && res.Verdict != guestabi.Pass {
		err = fmt.Errorf("the loop exited with %d", uint8(res.Verdict))
	}
	if err != nil {
		env.PrintTails(res)
		return launch.Window{}, fmt.Errorf("%s loop: %w", w.name, err)
	}
	if res.Stats == nil || len(res.Stats.Windows) != 1 || !res.Stats.Windows[0].Complete {
		return launch.Window{}, fmt.Errorf("%s loop: gonest measured no complete window between its markers", w.name)
	}
	return res.Stats.Windows[0], nil
}

// setTHP writes mode to the THP setting at path and returns what puts the
// previous mode back.
func setTHP(path, mode string) (restore func(), err error) {
	prev, err := readTHP(path)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(mode), 0); err != nil {
		return nil, fmt.Errorf("transparent huge pages: %w", err)
	}
	return func() { _ = os.WriteFile(path, []byte(prev), 0) }, nil
}

// readTHP reads the mode in brackets: "always [madvise] never" is madvise.
func readTHP(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("transparent huge pages: %w", err)
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return "", fmt.Errorf("transparent huge pages: %s says %q, with no mode in brackets", path, strings.TrimSpace(s))
	}
	return s[i+1 : j], nil
}

// g1Figures are what G1's gonest measured of one loop of G2, sent up in
// a result (ResultAnatomyG1).
type g1Figures struct {
	workload   string
	index      int // the loop's place in G1's order
	n          uint32
	durationMs float64
	kvmExits   int64 // G1's KVM counter: exits of G2 it handled
	userExits  int64 // of which reached G1's gonest
	// pages4K and pages2M are the change of G1's KVM's mappings of G2's
	// memory by size (its pages_4k and pages_2m counters).
	pages4K, pages2M int64
	counters         string // G1's KVM counters of G2's exits by kind: "io_exits 201, irq_exits 65"
}

// g1FiguresOf reads the figures from G1's window.
func g1FiguresOf(workload string, index int, n uint32, w launch.Window) g1Figures {
	kinds := map[string]uint64{}
	for _, v := range w.KVM.VCPUs {
		for k, d := range v {
			if d > 0 && (strings.HasSuffix(k, "_exits") || k == "insn_emulation" || k == "halt_wakeup") {
				kinds[k] += uint64(d)
			}
		}
	}
	return g1Figures{workload: workload, index: index, n: n, durationMs: w.DurationMs,
		kvmExits: w.VCPUDelta("exits"), userExits: sumCounts(w.Exits),
		pages4K: w.KVM.VM["pages_4k"], pages2M: w.KVM.VM["pages_2m"], counters: joinReasons(kinds, 1, 6)}
}

// Metric names of a G1 result.
const (
	g1Index      = "index"
	g1N          = "n"
	g1DurationMs = "duration_ms"
	g1KVMExits   = "kvm_exits"
	g1UserExits  = "user_exits"
	g1Pages4K    = "pages_4k"
	g1Pages2M    = "pages_2m"
)

// message is the result G1 sends up: the figures in the metrics; the
// workload's name, then G1's counters by kind, in the text.
func (f g1Figures) message() (text string, metrics map[string]float64) {
	metrics = map[string]float64{
		g1Index: float64(f.index), g1N: float64(f.n), g1DurationMs: f.durationMs,
		g1KVMExits: float64(f.kvmExits), g1UserExits: float64(f.userExits),
		g1Pages4K: float64(f.pages4K), g1Pages2M: float64(f.pages2M),
	}
	return fmt.Sprintf("%s: G1's KVM took %d exits of G2 (%s)", f.workload, f.kvmExits, f.counters), metrics
}

// parseG1Figures reads G1's result back.
func parseG1Figures(m launch.Message) (g1Figures, error) {
	if m.Result == nil {
		return g1Figures{}, errors.New("not a result")
	}
	name, rest, ok := strings.Cut(m.Result.Text, ": ")
	if !ok {
		return g1Figures{}, fmt.Errorf("result %q names no workload", m.Result.Text)
	}
	mt := m.Result.Metrics
	for _, k := range []string{g1Index, g1N, g1DurationMs, g1KVMExits, g1UserExits, g1Pages4K, g1Pages2M} {
		if _, ok := mt[k]; !ok {
			return g1Figures{}, fmt.Errorf("result %q has no %s", m.Result.Text, k)
		}
	}
	f := g1Figures{workload: name, index: int(mt[g1Index]), n: uint32(mt[g1N]), durationMs: mt[g1DurationMs],
		kvmExits: int64(mt[g1KVMExits]), userExits: int64(mt[g1UserExits]),
		pages4K: int64(mt[g1Pages4K]), pages2M: int64(mt[g1Pages2M])}
	if _, c, ok := strings.Cut(rest, " ("); ok {
		f.counters = strings.TrimSuffix(c, ")")
	}
	return f, nil
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
