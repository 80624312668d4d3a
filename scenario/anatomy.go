package scenario

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/launch"
)

// anatomyG1Memory is G1's memory: its initramfs, and the loops' guests
// (16 MiB each, 48 MiB for pf at the default n).
const anatomyG1Memory = 512 << 20

// anatomyG1Tick gives G1 a periodic timer tick on the LAPIC's own periodic
// mode, as the lab gives H (lab/qemu.go): QEMU's TCG loses one-shot timer
// interrupts around its SVM world switches, and a G1 that lost one left
// G2's hlt loop halted for good, waiting for G1's timer, in one run of
// three; a periodic timer fires again.
const anatomyG1Tick = "highres=off nohz=off lapic=notscdeadline"

// anatomyG1Window is H's window: G2's loop, as G1's gonest forwards its
// markers one level up.
const anatomyG1Window = "+1 scenario start..+1 scenario end"

// runAnatomy is H's side of the exit-multiplication experiment:
//
//  1. the baseline: each loop of the plan as H's own guest (a guest of
//     L0, where G1 would be), windows and L0's tracepoints by gonest;
//  2. G1 under gonest with -window '+1 scenario start..+1 scenario end'
//     -trace-exits, running anatomy-g1: the same loops as G2. H's window
//     of each says which of G2's exits L0 handled, which it reflected
//     into G1, and how many exits of G1's own each cost; G1's result
//     says what G1's KVM saw;
//  3. while G1 runs, H reads G1's nested state live (SIGUSR1 to its
//     gonest): once before G1 starts any G2, which must say no vCPU was
//     in guest mode and leave the run unharmed, and during the spin loop,
//     which must catch G1 in guest mode with vmcb12's (or vmcs12's)
//     address.
//
// It prints the table, sends each row and the nested-state summary up as
// results (and as bench rows, for make bench), and passes when the
// result has its structure: every workload measured at every level, L0's
// handled and reflected exits adding up to G2's, every exit given to G1
// costing it more than one of its own, the live readings as above. It
// asserts no speed.
func runAnatomy(ctx context.Context, env *Env) guestabi.Verdict {
	set, err := readAnatomySettings(env)
	if err != nil {
		env.Log.Error("bad experiment parameters", "err", err)
		return guestabi.SetupError
	}
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	logNestingFeatures(env)
	logTHP(env)
	dir, err := os.MkdirTemp("", "anatomy-")
	if err != nil {
		env.Log.Error("temp dir for the loops", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(dir)

	env.Log.Info("exit multiplication: each loop as H's own guest", "workloads", len(set.plan), "runs", set.runs, "n", set.n)
	var base []launchWindowOf
	for _, w := range set.order() {
		// gonest's window tables stay off H's console, whose bytes cost
		// H's time (in the Intel lab, a UART at 9600 baud in emulated
		// time); the figures travel in -stats-json.
		win, err := runLoop(ctx, env, dir, w, set.iterations(w), true, false, io.Discard)
		if err != nil {
			env.Log.Error("baseline loop failed", "err", err)
			return guestabi.Fail
		}
		base = append(base, launchWindowOf{w.name, win})
	}

	env.Log.Info("exit multiplication: G1 runs each loop as G2", "window", anatomyG1Window)
	spec := env.NextSpec(ctx, "anatomy-g1", anatomyG1Memory)
	spec.Params = inheritedParams(env.Params)
	spec.Window, spec.TraceExits, spec.StatsJSON = anatomyG1Window, true, true
	spec.Append += " " + anatomyG1Tick
	// H's gonest prints its window tables at exit, and launch gives its
	// output a few seconds to drain once it has exited: through H's
	// console in the Intel lab that took longer, and the run failed. Its
	// output goes to memory; the live readings go on to the console.
	var vmmLog syncbuf.Buffer
	spec.VMMLog = &vmmLog
	probe := newStateProbe(set)
	v, res := env.RunNext(ctx, spec, guestabi.Pass, &launch.Observer{Started: probe.started, Mark: probe.mark})
	probe.stop()
	for _, l := range liveReadingLines(vmmLog.String()) {
		fmt.Fprintln(env.Console, l)
	}
	if v != guestabi.Pass {
		return v
	}
	rows, err := buildAnatomyRows(set, base, res)
	if err != nil {
		env.Log.Error("the experiment's results do not line up", "err", err)
		return guestabi.Fail
	}
	writeAnatomyTable(env.Console, set, rows)
	for _, r := range rows {
		env.Result(ResultAnatomyRow, r.summary(), r.metrics())
		env.Result(guestabi.ResultBenchRow, r.benchRow(), nil)
	}
	states := summarizeStates(res.Stats)
	env.Log.Info("live nested state of G1", "readings", states.text())
	env.Result(ResultAnatomyState, states.text(), states.metrics())
	if raw := states.rawText(); raw != "" {
		env.Log.Info("live nested state in guest mode, as KVM returned it", "format", states.format, "gzip_base64", raw)
	}
	problems := append(checkAnatomy(set, rows), states.problems()...)
	for _, p := range problems {
		env.Log.Error("exit multiplication: the result lacks its structure", "problem", p)
	}
	if len(problems) > 0 {
		return guestabi.Fail
	}
	env.Log.Info("exit multiplication: every workload measured at every level", "workloads", len(rows))
	return guestabi.Pass
}

// launchWindowOf is one baseline window with its workload's name.
type launchWindowOf struct {
	workload string
	window   launch.Window
}

// stateProbe signals G1's gonest (SIGUSR1) to read G1's nested state at
// two moments: when G1's init has loaded its modules (no G2 exists yet),
// and while G2 runs the first spin loop, every spinProbeEvery from
// spinProbeEvery after its opening marker (when G1 is still handling that
// marker's exit) until the loop ends or spinProbeMax readings were asked
// for.
type stateProbe struct {
	spinIndex int // the spin loop's place among G2's loops; -1 when none runs

	mu      sync.Mutex
	proc    *launch.Process
	starts  int           // G2 loops started so far
	spinEnd chan struct{} // closed when the spin loop's window closes
	ended   bool
	done    sync.WaitGroup
}

const (
	spinProbeEvery = 100 * time.Millisecond
	spinProbeMax   = 10
)

func newStateProbe(set anatomySettings) *stateProbe {
	p := &stateProbe{spinIndex: -1, spinEnd: make(chan struct{})}
	for i, w := range set.plan {
		if w.name == "spin" {
			p.spinIndex = i
			break
		}
	}
	return p
}

func (p *stateProbe) started(proc *launch.Process) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.proc = proc
}

// mark is the Observer's Mark: it runs with launch's recorder locked, so
// it only signals and starts goroutines.
func (p *stateProbe) mark(m launch.Mark) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case m.Depth == 0 && m.Marker == guestabi.MarkerModulesLoaded:
		p.signal()
	case m.Depth == 1 && m.Marker == guestabi.MarkerScenarioStart:
		if p.starts == p.spinIndex {
			p.done.Add(1)
			go p.whileSpinning()
		}
		p.starts++
	case m.Depth == 1 && m.Marker == guestabi.MarkerScenarioEnd && p.starts == p.spinIndex+1 && !p.ended:
		p.ended = true
		close(p.spinEnd)
	}
}

// whileSpinning asks for more readings until the spin loop ends.
func (p *stateProbe) whileSpinning() {
	defer p.done.Done()
	t := time.NewTicker(spinProbeEvery)
	defer t.Stop()
	for range spinProbeMax {
		select {
		case <-p.spinEnd:
			return
		case <-t.C:
			p.mu.Lock()
			p.signal()
			p.mu.Unlock()
		}
	}
}

// signal sends SIGUSR1 to G1's gonest; p.mu is held.
func (p *stateProbe) signal() {
	if p.proc != nil {
		_ = p.proc.Signal(syscall.SIGUSR1) // a gonest that has exited reads nothing, and the check says so
	}
}

// stop waits for the probing goroutine.
func (p *stateProbe) stop() {
	p.mu.Lock()
	if !p.ended {
		p.ended = true
		close(p.spinEnd)
	}
	p.mu.Unlock()
	p.done.Wait()
}

// splitList splits a comma-separated parameter, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
