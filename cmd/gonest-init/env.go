package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"

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
}

// Param returns a gonest.* parameter, or def when it is absent.
func (e *Env) Param(key, def string) string {
	if v, ok := e.Params[key]; ok {
		return v
	}
	return def
}

// Command prepares a command whose output goes to this level's console.
func (e *Env) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = e.Console
	cmd.Stderr = e.Console
	cmd.Env = append(os.Environ(), "PATH=/bin:/bbin:/usr/bin:/sbin")
	return cmd
}

// RunChild runs a VMM command (typically gonest booting the next level) and
// streams its output to the console with the next level's prefix, so the
// log reads "[G1] ...". The VMM's own diagnostics on stderr belong to this
// level and pass through unprefixed. If the command fails, the child's last
// lines are printed again so the failing level's tail ends the log.
func (e *Env) RunChild(ctx context.Context, name string, args ...string) error {
	child := guestabi.NextLevel(e.Level)
	out := newLineWriter(e.Console, "["+child+"] ", tailLines)
	errOut := newLineWriter(e.Console, "", tailLines)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = out
	cmd.Stderr = errOut
	e.Log.Info("starting next level", "level", child, "cmd", strings.Join(cmd.Args, " "))
	err := cmd.Run()
	out.Flush()
	errOut.Flush()
	if err == nil {
		e.Log.Info("next level finished", "level", child)
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w (scenario timeout)", err)
	}
	e.Log.Error("next level failed", "level", child, "err", err)
	e.printTail(child+" console", out.Tail())
	e.printTail(name+" stderr", errOut.Tail())
	return fmt.Errorf("%s: %w", child, err)
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

// verdictForExit maps a finished child (gonest running the next level) to
// a verdict: gonest's exit status is the next level's verdict.
func verdictForExit(err error) guestabi.Verdict {
	if err == nil {
		return guestabi.Pass
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() > 0 && exitErr.ExitCode() < 0x80 {
		return guestabi.Verdict(exitErr.ExitCode())
	}
	return guestabi.Fail
}
