package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ExecSpec is a command to run in a VM with `gonest exec`: it sees this
// machine's files (its root read-only, Dir and RW writable), runs as this
// user in Dir with Env, and its stdin, stdout, stderr and exit code are
// its own.
type ExecSpec struct {
	// Gonest is the gonest binary (Binary; "gonest" from $PATH when
	// empty); Verbose adds gonest exec -v (the guest's console on Stderr).
	Gonest Gonest
	// Args is the command and its arguments; required.
	Args []string
	// Dir is the working directory, shared writable; this process's when
	// empty.
	Dir string
	// Env is the command's environment (gonest exec drops the host-only
	// variables); this process's when nil.
	Env []string
	// RW lists more directories the guest may write through to.
	RW []string
	// Kernel and Modules pick the kernel (gonest exec -kernel, -modules);
	// empty: gonest exec's own choice.
	Kernel, Modules string
	Memory          uint64 // bytes, a whole number of MiB; gonest exec's default when zero
	CPUs            int    // gonest exec's default when zero
	Nested          string // "auto", "on", "off"; empty keeps the default (auto)
	// Timeout is gonest exec -timeout: the VM is stopped and ExitCode is
	// 124. ctx bounds the whole run besides.
	Timeout time.Duration
	// Stdin is the command's input; none (end of file) when nil.
	Stdin io.Reader
	// Stdout and Stderr get the command's output; when nil it is kept in
	// ExecResult.
	Stdout, Stderr io.Writer
}

// ExecResult is how a command run by Exec ended.
type ExecResult struct {
	// ExitCode is gonest exec's exit status: the command's own when
	// CommandExited.
	ExitCode int
	// CommandExited says the command ran to its end; Signal names the
	// signal that killed it, if one did (ExitCode is then 128+N).
	CommandExited bool
	Signal        string
	// Reason says why the command has no exit status of its own (the
	// guest's kernel panicked, -timeout, ...), as gonest exec put it.
	Reason string
	// Stdout and Stderr are the command's output when ExecSpec left them
	// nil.
	Stdout, Stderr []byte
	// Duration is the whole run; Phases when the guest reached each step,
	// as gonest exec timed them.
	Duration time.Duration
	Phases   ExecPhases
}

// ExecPhases times a run from gonest exec's start.
type ExecPhases struct {
	InitStarted, CommandStarted, CommandExited, Total time.Duration
}

// ExecError is Exec's error when the command did not run to an exit
// status: gonest exec refused the input (exit 2, Reason its line), or the
// VM ended first (Result.Reason).
type ExecError struct {
	Result ExecResult
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("gonest exec: exit %d: %s", e.Result.ExitCode, e.Result.Reason)
}

// Exec runs spec.Args in a VM with gonest exec and waits for it. The error
// is nil when the command ran and exited, whatever its code; an
// *ExecError when it did not (the result is in it too); another error
// when gonest could not be started.
func Exec(ctx context.Context, spec ExecSpec) (ExecResult, error) {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return ExecResult{}, specErrorf("Args", "no command")
	}
	if err := spec.Gonest.Check(nil); err != nil {
		return ExecResult{}, &SpecError{Field: "Gonest", Err: err}
	}
	args, err := spec.args()
	if err != nil {
		return ExecResult{}, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return ExecResult{}, fmt.Errorf("launch: status pipe: %w", err)
	}
	defer statusR.Close()
	cmd := exec.CommandContext(ctx, spec.Gonest.binary(), append([]string{"exec", "-status", "/proc/self/fd/3"}, args...)...)
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.Dir, cmd.Env, cmd.Stdin = spec.Dir, spec.Env, spec.Stdin
	cmd.WaitDelay = waitDelay
	var res ExecResult
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = orBuffer(spec.Stdout, &stdout), &stderr
	if spec.Stderr != nil {
		cmd.Stderr = io.MultiWriter(spec.Stderr, &stderr)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		statusW.Close()
		return ExecResult{}, fmt.Errorf("launch: start %s: %w", cmd.Path, err)
	}
	statusW.Close()
	status, readErr := io.ReadAll(io.LimitReader(statusR, 1<<20))
	waitErr := cmd.Wait()
	res.Duration = time.Since(start)
	if spec.Stdout == nil {
		res.Stdout = stdout.Bytes()
	}
	if spec.Stderr == nil {
		res.Stderr = stderr.Bytes()
	}
	var ee *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &ee) && ee.ExitCode() >= 0:
		res.ExitCode = ee.ExitCode()
	default:
		return res, fmt.Errorf("launch: gonest exec: %w", waitErr)
	}
	if readErr != nil || len(bytes.TrimSpace(status)) == 0 {
		// No status: gonest exec stopped before the VM (bad input), and
		// its one line says why.
		res.Reason = lastLine(stderr.String())
		return res, &ExecError{Result: res}
	}
	if err := res.decodeStatus(status); err != nil {
		return res, err
	}
	if !res.CommandExited {
		return res, &ExecError{Result: res}
	}
	return res, nil
}

// args are gonest exec's flags and the command.
func (s *ExecSpec) args() ([]string, error) {
	var a []string
	add := func(flag, v string) {
		if v != "" {
			a = append(a, flag, v)
		}
	}
	add("-kernel", s.Kernel)
	add("-modules", s.Modules)
	if s.Memory != 0 {
		m, err := FormatMemory(s.Memory)
		if err != nil {
			return nil, &SpecError{Field: "Memory", Err: err}
		}
		add("-m", m)
	}
	if s.CPUs < 0 {
		return nil, specErrorf("CPUs", "%d: want 1 or more (0 keeps the default)", s.CPUs)
	}
	if s.CPUs > 0 {
		add("-smp", strconv.Itoa(s.CPUs))
	}
	switch s.Nested {
	case "", "auto", "on", "off":
		add("-nested", s.Nested)
	default:
		return nil, specErrorf("Nested", "%q: want auto, on, off or empty", s.Nested)
	}
	if s.Timeout < 0 {
		return nil, specErrorf("Timeout", "negative")
	}
	if s.Timeout > 0 {
		add("-timeout", s.Timeout.String())
	}
	for _, d := range s.RW {
		add("-rw", d)
	}
	if s.Gonest.Verbose {
		a = append(a, "-v")
	}
	return append(append(a, "--"), s.Args...), nil
}

// execStatus mirrors what gonest exec -status writes.
type execStatus struct {
	ExitCode      int                `json:"exit_code"`
	CommandExited bool               `json:"command_exited"`
	Signal        string             `json:"signal"`
	Reason        string             `json:"reason"`
	Phases        map[string]float64 `json:"phases"`
}

func (r *ExecResult) decodeStatus(b []byte) error {
	var st execStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("launch: gonest exec -status: %w", err)
	}
	if st.ExitCode != r.ExitCode {
		return fmt.Errorf("launch: gonest exec exited %d but its status says %d", r.ExitCode, st.ExitCode)
	}
	r.CommandExited, r.Signal, r.Reason = st.CommandExited, st.Signal, st.Reason
	sec := func(k string) time.Duration { return time.Duration(st.Phases[k] * float64(time.Second)) }
	r.Phases = ExecPhases{InitStarted: sec("init_started_s"), CommandStarted: sec("command_started_s"),
		CommandExited: sec("command_exited_s"), Total: sec("total_s")}
	return nil
}

func orBuffer(w io.Writer, b *bytes.Buffer) io.Writer {
	if w == nil {
		return b
	}
	return w
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
