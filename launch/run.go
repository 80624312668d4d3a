package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// Result is how a run ended and what it showed on the way.
type Result struct {
	// Verdict is the guest's verdict when Run's error is nil. Otherwise it
	// is the verdict a level reports for a child that gave none:
	// SetupError when the VMM exited before the guest reported, Fail for
	// a crash, a timeout or a contradiction.
	Verdict guestabi.Verdict
	// Reason says where the verdict came from, or why there is none.
	Reason   string
	ExitCode int  // the VMM's exit status; -1 when a signal ended it
	TimedOut bool // Spec.Timeout passed and Run killed the VMM
	Duration time.Duration
	// CPUTime is the user and system CPU time the VMM's process used: the
	// figure of an emulating VMM (Bochs, QEMU's TCG) that does not depend
	// on what else the machine runs.
	CPUTime  time.Duration
	Marks    []Mark    // boot markers, in arrival order
	Messages []Message // messages, in arrival order
	// Tails holds each level's last console lines ("G1", "G1/G2") and the
	// VMM's own ("gonest", "qemu").
	Tails map[string][]string
	// Stats is gonest's statistics when Spec.StatsJSON asked for them.
	Stats *Stats
	// ConsoleLines and HiddenLines count the guest's console lines and
	// those an observer or the VMM kept off the log.
	ConsoleLines, HiddenLines int
	// Dropped counts marks and messages beyond what a Result keeps.
	Dropped int
}

// TailsText renders every level's tail, outermost first (FormatTails).
func (r Result) TailsText() string { return FormatTails(r.Tails) }

// Mark returns when the launched guest's own marker m first arrived.
func (r Result) Mark(m guestabi.Marker) (time.Duration, bool) { return r.MarkAt(0, m) }

// MarkAt returns when marker m of the level depth below the launched
// guest first arrived.
func (r Result) MarkAt(depth int, m guestabi.Marker) (time.Duration, bool) {
	for _, mk := range r.Marks {
		if mk.Depth == depth && mk.Marker == m {
			return mk.At, true
		}
	}
	return 0, false
}

// Events returns the messages of type event called name, in order.
func (r Result) Events(name string) []Message {
	var out []Message
	for _, m := range r.Messages {
		if m.IsEvent(name) {
			out = append(out, m)
		}
	}
	return out
}

// Results returns the messages of type result called name written by the
// level depth below the launched guest, in order.
func (r Result) Results(depth int, name string) []Message {
	var out []Message
	for _, m := range r.Messages {
		if m.Type == guestabi.MsgResult && m.Depth == depth && m.Result.Name == name {
			out = append(out, m)
		}
	}
	return out
}

// Process is a running VMM, for Observer.Started.
type Process struct{ cmd *exec.Cmd }

// Args is the VMM's command line, program first.
func (p *Process) Args() []string { return p.cmd.Args }

// Signal sends sig to the VMM.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// NoVerdictError is Run's error for a VMM that ran but gave no verdict:
// Reason says why, and the tails follow it.
type NoVerdictError struct {
	VMM    string
	Reason string
	Tails  string
}

func (e *NoVerdictError) Error() string { return e.VMM + ": " + e.Reason + e.Tails }

// waitDelay is how long Run waits for the VMM's output after killing it.
const waitDelay = 5 * time.Second

// Run boots spec and waits until the VMM exits, ctx ends or Spec.Timeout
// passes (the VMM is then killed). obs may be nil. The error is a
// *SpecError, before anything started, for a spec that cannot run; a
// *NoVerdictError when the guest's verdict did not come back; nil when it
// did, and Result.Verdict is then the guest's.
func Run(ctx context.Context, spec Spec, obs *Observer) (Result, error) {
	if err := spec.check(); err != nil {
		return Result{}, err
	}
	if err := spec.VMM.Check(&spec); err != nil {
		var se *SpecError
		if !errors.As(err, &se) {
			err = &SpecError{Field: "VMM", Err: fmt.Errorf("%s: %w", spec.VMM.Name(), err)}
		}
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "gonest-launch-")
	if err != nil {
		return Result{}, fmt.Errorf("launch: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	rec := &recorder{}
	if obs != nil {
		rec.obs = *obs
	}
	w := spec.wiring(rec, dir)
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if spec.Timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, spec.Timeout)
	}
	defer cancel()
	cmd, err := spec.VMM.Command(runCtx, &spec, w)
	if err != nil {
		w.finish()
		return Result{}, fmt.Errorf("launch: %s: %w", spec.VMM.Name(), err)
	}
	spec.connect(cmd, w)
	// The observer hears of the start before any line or message.
	rec.mu.Lock()
	rec.start = time.Now()
	err = cmd.Start()
	if err == nil && rec.obs.Started != nil {
		rec.obs.Started(&Process{cmd: cmd})
	}
	rec.mu.Unlock()
	if err != nil {
		w.finish()
		return Result{}, &NoVerdictError{VMM: spec.VMM.Name(), Reason: fmt.Sprintf("start %s: %v", cmd.Path, err)}
	}
	w.started()
	waitErr := cmd.Wait()
	w.finish()

	res := spec.result(rec, w, cmd, dir)
	res.TimedOut = errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	why, ok := judge(&spec, &res, rec.verdict, waitErr, ctx.Err())
	res.Reason = why
	if !ok {
		return res, &NoVerdictError{VMM: spec.VMM.Name(), Reason: why, Tails: res.TailsText()}
	}
	return res, nil
}

// wiring prepares the writers of a run.
func (s *Spec) wiring(rec *recorder, dir string) *Wiring {
	keep := s.TailLines
	if keep <= 0 {
		keep = DefaultTailLines
	}
	console := s.Console
	if console == nil {
		console = io.Discard
	}
	vmmLog := s.VMMLog
	if vmmLog == nil {
		vmmLog = console
	}
	w := &Wiring{rec: rec, dir: dir, vmmLog: vmmLog, keep: keep, name: s.VMM.Name()}
	w.console = newLines(console, "["+s.level()+"] ", s.level(), true, keep)
	w.console.filter = rec.line
	return w
}

// connect gives the command the streams its VMM left unset.
func (s *Spec) connect(cmd *exec.Cmd, w *Wiring) {
	cmd.WaitDelay = waitDelay
	if s.Interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		return
	}
	if cmd.Stdout == nil {
		cmd.Stdout = w.Console()
	}
	if cmd.Stderr == nil {
		cmd.Stderr = w.Diag("", nil)
	}
	if cmd.Stdin == nil && s.Stdin != nil {
		cmd.Stdin = s.Stdin
	}
}

// result gathers what a finished run left.
func (s *Spec) result(rec *recorder, w *Wiring, cmd *exec.Cmd, dir string) Result {
	res := Result{ExitCode: cmd.ProcessState.ExitCode(), Duration: time.Since(rec.start), Tails: map[string][]string{},
		CPUTime: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	rec.mu.Lock()
	res.Marks = append([]Mark(nil), rec.marks...)
	res.Messages = append([]Message(nil), rec.msgs...)
	res.Dropped = rec.dropped
	rec.mu.Unlock()
	w.console.copyTails(res.Tails)
	res.ConsoleLines, res.HiddenLines = w.console.counts()
	for _, d := range w.diags {
		d.copyTails(res.Tails)
		_, hidden := d.counts()
		res.HiddenLines += hidden
	}
	if s.StatsJSON {
		st, err := ReadStats(filepath.Join(dir, statsFile))
		if err == nil {
			res.Stats = &st
		}
	}
	return res
}

// judge decides the verdict from the guest's report (reported, nil when
// none came), the VMM's exit and how the run ended. ok is false when there
// is no verdict to trust; res.Verdict is then SetupError or Fail.
func judge(s *Spec, res *Result, reported *guestabi.Verdict, waitErr, ctxErr error) (string, bool) {
	name := s.VMM.Name()
	res.Verdict = guestabi.Fail
	var exitErr *exec.ExitError
	switch {
	case res.TimedOut:
		return fmt.Sprintf("timeout: no verdict within %v; %s killed", s.Timeout, name), false
	case ctxErr != nil:
		return fmt.Sprintf("stopped before the guest's verdict: %v", ctxErr), false
	case waitErr != nil && !errors.As(waitErr, &exitErr):
		return fmt.Sprintf("%s did not exit normally: %v", name, waitErr), false
	case res.ExitCode < 0:
		return fmt.Sprintf("%s was killed by a signal: %v", name, waitErr), false
	}
	status := res.ExitCode
	v, decoded := s.VMM.Decode(status)
	_, blind := s.VMM.(StatusBlind)
	switch {
	case reported != nil && decoded && v == *reported:
		res.Verdict = v
		return fmt.Sprintf("the guest reported verdict %d (%s)", uint8(v), v), true
	case reported != nil && blind:
		res.Verdict = *reported
		return fmt.Sprintf("the guest reported verdict %d (%s); %s's exit status %d says nothing of it",
			uint8(*reported), *reported, name, status), true
	case reported != nil && (decoded || status != 0):
		return fmt.Sprintf("%s exited with status %d but the guest reported verdict %d (%s): did the VMM crash?",
			name, status, uint8(*reported), *reported), false
	case reported != nil:
		res.Verdict = *reported
		return fmt.Sprintf("the guest reported verdict %d (%s), then powered off", uint8(*reported), *reported), true
	case s.GuestReports && decoded && status == 0:
		return fmt.Sprintf("%s exited 0 but the guest never reported a verdict", name), false
	case s.GuestReports:
		res.Verdict = guestabi.SetupError
		return fmt.Sprintf("%s exited with status %d before the guest reported a verdict", name, status), false
	case decoded:
		res.Verdict = v
		return fmt.Sprintf("%s's exit status %d carries verdict %d (%s)", name, status, uint8(v), v), true
	}
	return fmt.Sprintf("%s exited with status %d and no verdict: the guest powered off, rebooted or panicked", name, status), false
}
