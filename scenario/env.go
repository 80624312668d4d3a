package scenario

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gonest/gonest/guest/report"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Env is what a scenario gets: the console, the parameters, this level's
// place in the nesting chain, and the reporter to the level above.
type Env struct {
	Log     *slog.Logger
	Console io.Writer         // this level's console (serial)
	Level   string            // gonest.level, "H", "G1", ...
	Params  map[string]string // every parameter of /proc/cmdline
	// Report sends events and results to the level above; nil drops them.
	Report *report.Reporter
	// ModuleErrors are the required modules that failed to load; a
	// scenario that needs them turns them into SetupError.
	ModuleErrors []error
	// PowerOff, set by a scenario, ends a passing run with reboot(2)
	// POWER_OFF (ACPI S5 under the VMM) instead of the exit port: the VMM
	// then exits 0 through its poweroff path. A verdict other than Pass
	// still goes to the exit port.
	PowerOff bool
}

// Param returns a gonest.* parameter, or def when it is absent.
func (e *Env) Param(key, def string) string {
	if v, ok := e.Params[key]; ok {
		return v
	}
	return def
}

// Budget returns part of the time left before ctx's deadline (frac of
// it, whole seconds, at least one), or def when ctx has none. A scenario
// hands such a budget to what it starts (a test binary's -test.timeout,
// the next level's gonest.timeout), so the inner level times out first and
// reports, rather than being killed from outside without a word.
func (e *Env) Budget(ctx context.Context, frac float64, def time.Duration) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return def
	}
	d := time.Duration(float64(time.Until(deadline)) * frac).Truncate(time.Second)
	return max(d, time.Second)
}

// Command prepares a command whose output goes to this level's console.
func (e *Env) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = e.Console
	cmd.Stderr = e.Console
	cmd.Env = append(os.Environ(), "PATH=/bin:/bbin:/usr/bin:/sbin")
	return cmd
}

// Event sends an event to the level above.
func (e *Env) Event(name string, kv ...string) {
	if e.Report != nil {
		e.Report.Event(name, kv...)
	}
}

// Result sends a result to the level above.
func (e *Env) Result(name, text string, metrics map[string]float64) {
	if e.Report != nil {
		e.Report.Result(name, text, metrics)
	}
}

// NextSpec is the Spec that boots the next level with this level's gonest
// from the images at guestabi.NextDir, to run scenario: its console
// prefixed with its name, its markers and messages forwarded up (so the
// outermost VMM sees every level's), and its verdict read from its
// message. The time left before ctx's deadline is split so that the
// innermost level reports its own timeout first: the next level's init
// gets 80% of it, gonest 90% (it then exits 124 with its statistics),
// and Run kills gonest at 100%.
func (e *Env) NextSpec(ctx context.Context, scenario string, memory uint64) launch.Spec {
	return launch.Spec{
		VMM:    launch.Gonest{Binary: guestabi.GonestBinary, Forward: true},
		Kernel: guestabi.NextKernel, Initrd: guestabi.NextInitrd, Memory: memory,
		Level: guestabi.NextLevel(e.Level), Scenario: scenario,
		// quiet: each console byte of a nested guest costs exits at every level.
		Append:  "quiet",
		Timeout: e.Budget(ctx, 1, 0), GuestTimeout: e.Budget(ctx, 0.8, 0),
		GuestReports: true, Console: e.Console,
	}
}

// Launch runs spec with launch.Run, logging the VMM's command line once it
// started (obs may be nil).
func (e *Env) Launch(ctx context.Context, spec launch.Spec, obs *launch.Observer) (launch.Result, error) {
	o := launch.Observer{}
	if obs != nil {
		o = *obs
	}
	started := o.Started
	o.Started = func(p *launch.Process) {
		e.Log.Info("starting next level", "level", spec.Level, "cmd", strings.Join(p.Args(), " "))
		if started != nil {
			started(p)
		}
	}
	return launch.Run(ctx, spec, &o)
}

// RunNext boots spec and returns the verdict this level takes from it:
// the next level's own, or, when none came back, SetupError (its VMM
// could not start it) or Fail. Unless that is expect (usually Pass), it
// logs why and prints the last lines of every level below, so the failing
// level's tail ends the log.
func (e *Env) RunNext(ctx context.Context, spec launch.Spec, expect guestabi.Verdict, obs *launch.Observer) (guestabi.Verdict, launch.Result) {
	res, err := e.Launch(ctx, spec, obs)
	var se *launch.SpecError
	if errors.As(err, &se) {
		e.Log.Error("the next level cannot start; rebuild the images with `make images`", "level", spec.Level, "err", err)
		return guestabi.SetupError, res
	}
	if err != nil && ctx.Err() != nil {
		res.Reason += " (scenario timeout)"
	}
	v := res.Verdict
	switch {
	case err == nil && v == expect && expect == guestabi.Pass:
		e.Log.Info("next level passed", "level", spec.Level)
		return v, res
	case err == nil && v == expect:
		e.Log.Info("next level returned the verdict expected", "level", spec.Level, "verdict", v)
		return v, res
	case expect != guestabi.Pass:
		e.Log.Error("next level did not return the verdict expected", "level", spec.Level, "verdict", v,
			"want", expect, "why", res.Reason)
	default:
		e.Log.Error("next level did not pass", "level", spec.Level, "verdict", v, "why", res.Reason)
	}
	e.PrintTails(res)
	return v, res
}

// PrintTails repeats the last console lines of every level below, and of
// its VMM, on this level's console.
func (e *Env) PrintTails(res launch.Result) {
	if t := res.TailsText(); t != "" {
		_, _ = io.WriteString(e.Console, strings.TrimPrefix(t, "\n")+"\n")
	}
}
