package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// tailLines is how many lines of a failing child are printed again.
const tailLines = 40

// Env is what a scenario gets: the console, the parameters and this level's
// place in the nesting chain.
type Env struct {
	Log     *slog.Logger
	Console io.Writer         // this level's console (serial)
	Level   string            // gonest.level, "H", "G1", ...
	Params  map[string]string // every parameter of /proc/cmdline
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

// RunChild runs a VMM command (typically gonest booting the next level),
// streams its output to the console with the next level's prefix so the
// log reads "[G1] ...", and returns the next level's verdict. The VMM's own
// diagnostics on stderr belong to this level and pass through unprefixed.
//
// The verdict is the VMM's exit status (gonest exits with its guest's
// verdict), cross-checked against the "init: verdict code=N" line the
// child's init printed: a VMM that fails before its guest reports (bad
// flags, too little memory) gives SetupError, and a status that disagrees
// with the child's own report (a VMM crash after the guest finished) gives
// Fail. If the result is not Pass, the child's last lines are printed again
// so the failing level's tail ends the log.
func (e *Env) RunChild(ctx context.Context, name string, args ...string) guestabi.Verdict {
	return e.RunChildIO(ctx, ChildIO{}, name, args...)
}

// ChildIO is what RunChildIO adds to RunChild: input for the child's
// console and a look at each line of it as it arrives.
type ChildIO struct {
	// Stdin is the VMM's standard input (the child's serial input); nil
	// gives it /dev/null.
	Stdin io.Reader
	// OnLine, if set, is called with each complete line of the child's
	// console (without the prefix) as it arrives, from the goroutine that
	// copies the output: it must not block on the child.
	OnLine func(line string)
	// Hide, if set, keeps a line off this level's console and the failure
	// tail when it returns true (bulk test data); OnLine still sees it.
	Hide func(line string) bool
	// Expect is the verdict this level wants from the child, Pass unless
	// set: a child that returns it is logged as expected, without its
	// tail (l2-tiny wants the tiny guest's exit code, l2-off NoKVM).
	Expect guestabi.Verdict
}

// RunChildIO is RunChild with console input and a live view of the
// child's console lines (see ChildIO).
func (e *Env) RunChildIO(ctx context.Context, cio ChildIO, name string, args ...string) guestabi.Verdict {
	child := guestabi.NextLevel(e.Level)
	out := newLineWriter(e.Console, "["+child+"] ", tailLines)
	reported, sawReport := guestabi.Verdict(0), false
	out.onLine = func(line string) {
		if v, ok := parseVerdictLine(line); ok {
			reported, sawReport = v, true
		}
		if cio.OnLine != nil {
			cio.OnLine(line)
		}
	}
	out.hide = cio.Hide
	errOut := newLineWriter(e.Console, "", tailLines)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = cio.Stdin
	cmd.Stdout = out
	cmd.Stderr = errOut
	e.Log.Info("starting next level", "level", child, "cmd", strings.Join(cmd.Args, " "))
	err := cmd.Run()
	for _, w := range []*lineWriter{out, errOut} {
		if ferr := w.Flush(); ferr != nil {
			e.Log.Warn("console write", "err", ferr)
		}
	}
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (scenario timeout)", err)
	}
	v, why := childVerdict(err, reported, sawReport)
	switch {
	case v == guestabi.Pass && cio.Expect == guestabi.Pass:
		e.Log.Info("next level passed", "level", child)
		return v
	case v == cio.Expect:
		e.Log.Info("next level returned the verdict expected", "level", child, "verdict", v)
		return v
	}
	if cio.Expect != guestabi.Pass {
		e.Log.Error("next level did not return the verdict expected", "level", child, "verdict", v,
			"want", cio.Expect, "why", why)
	} else {
		e.Log.Error("next level did not pass", "level", child, "verdict", v, "why", why)
	}
	e.printTail(child+" console", out.Tail())
	e.printTail(name+" stderr", errOut.Tail())
	return v
}

// verdictPrefix starts the line end() logs: "init: verdict code=N ...".
const verdictPrefix = "init: verdict code="

// parseVerdictLine reads the verdict from an "init: verdict code=N" line.
func parseVerdictLine(line string) (guestabi.Verdict, bool) {
	rest, ok := strings.CutPrefix(line, verdictPrefix)
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, " ")
	n, err := strconv.ParseUint(num, 10, 7)
	if err != nil {
		return 0, false
	}
	return guestabi.Verdict(n), true
}

// childVerdict combines a VMM's exit (err from exec) with the verdict its
// guest printed, and says why when they do not make a clean result.
func childVerdict(err error, reported guestabi.Verdict, sawReport bool) (guestabi.Verdict, string) {
	status := exitStatus(err)
	if status < 0 {
		return guestabi.Fail, fmt.Sprintf("the VMM did not exit normally: %v", err)
	}
	switch {
	case !sawReport && status == 0:
		return guestabi.Fail, "the VMM exited 0 but the guest never reported a verdict"
	case !sawReport:
		return guestabi.SetupError, fmt.Sprintf("the VMM exited with status %d before the guest reported a verdict", status)
	case status >= 0x80 || guestabi.Verdict(status) != reported:
		return guestabi.Fail, fmt.Sprintf("the VMM exited with status %d but the guest reported verdict %d (%s): did the VMM crash?",
			status, uint8(reported), reported)
	}
	return reported, fmt.Sprintf("the guest reported verdict %d (%s)", uint8(reported), reported)
}

func (e *Env) printTail(what string, lines []string) {
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(e.Console, "----- last %d lines of %s -----\n", len(lines), what)
	for _, l := range lines {
		fmt.Fprintf(e.Console, "  | %s\n", l)
	}
	fmt.Fprintf(e.Console, "----- end of %s -----\n", what)
}

// exitStatus is a command's exit status from exec's error: 0 for nil, -1
// when it did not exit normally.
func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}
