package vmexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vmexec/job"
)

// Result is how a run ended.
type Result struct {
	// ExitCode is what gonest exec exits with: the command's own status
	// when Exited, else ExitTimeout, ExitGuestFailed, or 128+N for a run
	// stopped by signal N.
	ExitCode int
	// Exited says the command ran and ExitCode is its status (128+N when
	// signal N killed it, as a shell reports it).
	Exited bool
	// Signal names the signal that killed the command, if one did.
	Signal string
	// Reason says why the run ended without the command's own status, or
	// why the command could not start (ExitCannotRun, ExitNotFound).
	Reason string
	// Tail is the last lines of the guest's console, for a failure.
	Tail []string
	// Outcome is how the VM stopped.
	Outcome machine.Outcome
	// Phases are when each step was reached, since the run started.
	Phases Phases
}

// Phases times a run from its start (before the VM is built).
type Phases struct {
	InitStarted    time.Duration // the guest init wrote its first marker
	CommandStarted time.Duration // the command was started
	CommandExited  time.Duration // its exit status arrived
	Total          time.Duration // the VM had stopped
}

// String is the timeline for -v: "init 0.41s, command 0.52s, exit 0.53s, total 0.55s".
func (p Phases) String() string {
	f := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
	return fmt.Sprintf("init %s, command %s, exit %s, total %s", f(p.InitStarted), f(p.CommandStarted), f(p.CommandExited), f(p.Total))
}

// Session is a Plan being run: Signal and Stop act on it from any
// goroutine.
type Session struct {
	plan    *Plan
	ctl     *controlStream
	console *tail
	start   time.Time

	mu       sync.Mutex
	m        *machine.Machine
	exit     *guestabi.EventBody
	setupErr string
	started  bool
	phases   Phases
}

// Start builds the VM for p. Its error is a *UsageError when the VMM
// refuses the input (too little memory, say), else gonest's own failure.
func (p *Plan) Start() (*Session, error) {
	line, err := job.Encode(p.Job)
	if err != nil {
		return nil, err
	}
	s := &Session{plan: p, ctl: newControlStream(line), console: newTail(TailLines, p.cfg.Console), start: time.Now()}
	cfg := p.Machine
	cfg.ConsoleOut = s.console
	cfg.OnMessage = s.onMessage
	cfg.OnMarker = s.onMarker
	stdin := p.cfg.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	cfg.Ports = []machine.PortConfig{
		{Name: job.PortControl, In: s.ctl},
		{Name: job.PortStdin, In: stdin},
		{Name: job.PortStdout, Out: orDiscard(p.cfg.Stdout)},
		{Name: job.PortStderr, Out: orDiscard(p.cfg.Stderr)},
	}
	m, err := machine.New(cfg)
	if err != nil {
		s.ctl.Close()
		if machine.IsInputError(err) {
			return nil, usagef("%v", err)
		}
		return nil, err
	}
	s.m = m
	return s, nil
}

// Run runs the command: Start, then Session.Run.
func (p *Plan) Run(ctx context.Context) (Result, error) {
	s, err := p.Start()
	if err != nil {
		return Result{}, err
	}
	return s.Run(ctx), nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Run boots the guest, waits for the command, and returns how it ended.
// Cancelling ctx stops the VM (Result.ExitCode 130).
func (s *Session) Run(ctx context.Context) Result {
	out := s.m.Run(ctx)
	s.ctl.Close()
	closeErr := s.m.Close()
	res := s.result(out)
	if closeErr != nil && res.Reason == "" && !res.Exited {
		res.Reason = closeErr.Error()
	}
	return res
}

// Signal passes sig on to the command's process group in the guest.
func (s *Session) Signal(sig syscall.Signal) {
	s.ctl.Send(job.EncodeControl(job.Control{Signal: int(sig)}))
}

// Stop stops the VM at once; the run ends with code (128+N for signal N).
func (s *Session) Stop(code int, why string) {
	s.m.Stop(machine.Outcome{Reason: machine.ReasonSignal, Code: code, Err: errors.New(why)})
}

// Started says whether the command has started in the guest.
func (s *Session) Started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// onMessage takes the guest init's events. It runs on a vCPU thread: no
// blocking.
func (s *Session) onMessage(m guestabi.Message) {
	if m.Depth != 0 || m.Type != guestabi.MsgEvent || m.Event == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Since(s.start)
	switch m.Event.Name {
	case job.EventStarted:
		s.started = true
		s.phases.CommandStarted = now
	case job.EventExit:
		if s.exit == nil {
			e := *m.Event
			s.exit = &e
			s.phases.CommandExited = now
		}
	case job.EventError:
		if s.setupErr == "" {
			s.setupErr = m.Event.Fields["error"]
		}
	}
}

func (s *Session) onMarker(mk machine.Marker) {
	if depth, m := guestabi.SplitMarker(uint8(mk.Value)); depth != 0 || m != guestabi.MarkerInitStarted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phases.InitStarted == 0 {
		s.phases.InitStarted = time.Since(s.start)
	}
}

// result decides the exit code from the guest's report and the outcome.
func (s *Session) result(out machine.Outcome) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := decide(out, s.exit, s.setupErr, s.console.Lines(), s.console.Panic(), s.plan.cfg.Timeout)
	res.Phases = s.phases
	res.Phases.Total = time.Since(s.start)
	return res
}

// decide turns what a run left into its Result: the command's exit event
// when one came (whatever stopped the VM after it), else the reason the
// guest gave, else how the VM stopped.
func decide(out machine.Outcome, exit *guestabi.EventBody, setupErr string, tail []string, panicLine string, timeout time.Duration) Result {
	res := Result{Outcome: out, Tail: tail}
	if exit != nil {
		code, err := strconv.Atoi(exit.Fields["code"])
		if err == nil && code >= 0 && code <= 255 {
			res.ExitCode, res.Exited = code, true
			res.Signal = exit.Fields["signal"]
			if why := exit.Fields["error"]; why != "" {
				res.Exited = false
				res.Reason = why
			}
			return res
		}
		setupErr = fmt.Sprintf("the guest reported a bad exit status %q", exit.Fields["code"])
	}
	switch {
	case setupErr != "":
		res.ExitCode = ExitGuestFailed
		res.Reason = "the guest could not run the command: " + setupErr
	case out.Reason == machine.ReasonTimeout:
		res.ExitCode = ExitTimeout
		res.Reason = fmt.Sprintf("-timeout %s expired; the command was stopped with its VM", timeout)
	case out.Reason == machine.ReasonSignal:
		res.ExitCode = out.Code
		res.Reason = fmt.Sprintf("stopped: %v", out.Err)
	case out.Reason == machine.ReasonFatal:
		res.ExitCode = ExitGuestFailed
		res.Reason = fmt.Sprintf("the VM failed before the command finished: %v", firstLine(out.Err))
	case panicLine != "":
		res.ExitCode = ExitGuestFailed
		res.Reason = "the guest's kernel panicked before the command finished: " + panicLine
	default:
		res.ExitCode = ExitGuestFailed
		res.Reason = fmt.Sprintf("the guest stopped (%s) before the command finished", out.Reason)
	}
	return res
}

func firstLine(err error) string {
	if err == nil {
		return ""
	}
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
