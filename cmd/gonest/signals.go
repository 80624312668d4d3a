package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/gonest/gonest/console"
	"github.com/gonest/gonest/machine"
)

// Exit codes for the signals that only gonest run handles; machine has
// the codes of SIGINT (130) and SIGTERM (143).
const (
	exitHangup = 128 + 1  // SIGHUP: the terminal went away
	exitPipe   = 128 + 13 // SIGPIPE: whoever read stdout went away (gonest run | head)
)

// signalStop turns SIGINT and SIGTERM into exit codes 130 and 143, and
// SIGHUP and SIGPIPE into 129 and 141: each stops the guest the same way,
// where their default action would kill gonest with the terminal still raw
// and the disks unflushed.
//
// While the guest runs, a signal stops the machine: the vCPUs leave
// KVM_RUN, disks are flushed, the terminal is restored, and gonest exits
// through the normal path. Before the machine exists (opening the kernel,
// mapping memory) there is nothing to stop, so gonest exits at once; and a
// second SIGINT exits at once too, in case the first stop is stuck.
type signalStop struct {
	sigs chan os.Signal
	exit func(code int) // os.Exit; tests replace it

	mu     sync.Mutex
	m      stopper
	con    *console.Console
	stderr io.Writer
	count  int
}

// stopper is what a signal stops: a *machine.Machine.
type stopper interface {
	Stop(machine.Outcome)
}

// catchSignals starts catching SIGINT and SIGTERM. Call stop when done.
func catchSignals(stderr io.Writer) *signalStop {
	s := newSignalStop(stderr, os.Exit)
	signal.Notify(s.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go s.loop()
	return s
}

// newSignalStop returns a signalStop that is not yet catching anything.
func newSignalStop(stderr io.Writer, exit func(int)) *signalStop {
	return &signalStop{sigs: make(chan os.Signal, 2), exit: exit, stderr: stderr}
}

// setConsole records the console to restore, and the writer for messages
// once the terminal is raw.
func (s *signalStop) setConsole(con *console.Console, stderr io.Writer) {
	s.mu.Lock()
	s.con, s.stderr = con, stderr
	s.mu.Unlock()
}

// setMachine records the machine a signal stops from now on.
func (s *signalStop) setMachine(m stopper) {
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
}

// stop stops catching signals.
func (s *signalStop) stop() { signal.Stop(s.sigs) }

func (s *signalStop) loop() {
	for sig := range s.sigs {
		code := signalExitCode(sig)
		s.mu.Lock()
		s.count++
		m, con, stderr, count := s.m, s.con, s.stderr, s.count
		s.mu.Unlock()
		switch {
		case m == nil:
			s.exitNow(con, stderr, code, fmt.Sprintf("received %s before the guest started; exiting", sig))
			return
		case count > 1 && sig == syscall.SIGINT:
			// A second Ctrl-C: the user means it.
			s.exitNow(con, stderr, code, "second SIGINT, exiting now")
			return
		default:
			m.Stop(machine.Outcome{Reason: machine.ReasonSignal, Code: code, Err: fmt.Errorf("received %s", sig)})
		}
	}
}

// exitNow restores the terminal, says why and exits with code.
func (s *signalStop) exitNow(con *console.Console, stderr io.Writer, code int, msg string) {
	if con != nil {
		con.Restore()
	}
	fmt.Fprintln(stderr, "gonest: "+msg)
	s.exit(code)
}

// signalExitCode is the exit code for a run ended by sig.
func signalExitCode(sig os.Signal) int {
	switch sig {
	case syscall.SIGTERM:
		return machine.ExitTerm
	case syscall.SIGHUP:
		return exitHangup
	case syscall.SIGPIPE:
		return exitPipe
	}
	return machine.ExitInterrupt
}
