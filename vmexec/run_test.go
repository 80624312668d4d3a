package vmexec

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/machine"
)

func exitEvent(kv ...string) *guestabi.EventBody {
	return guestabi.EventMessage("exec-exit", kv...).Event
}

func TestDecide(t *testing.T) {
	exitPort := machine.Outcome{Reason: machine.ReasonExitPort, Code: 7}
	reset := machine.Outcome{Reason: machine.ReasonReset}
	panicLine := "Kernel panic - not syncing: sysrq triggered crash"
	tests := []struct {
		name     string
		out      machine.Outcome
		exit     *guestabi.EventBody
		setupErr string
		panic    string // the panic line, if any
		want     Result
	}{
		{"the command's code", exitPort, exitEvent("code", "7"), "", "",
			Result{ExitCode: 7, Exited: true}},
		{"killed by a signal", exitPort, exitEvent("code", "130", "signal", "SIGINT"), "", "",
			Result{ExitCode: 130, Exited: true, Signal: "SIGINT"}},
		{"exit then timeout: the exit wins", machine.Outcome{Reason: machine.ReasonTimeout, Code: 124}, exitEvent("code", "0"), "", "",
			Result{ExitCode: 0, Exited: true}},
		{"not found", exitPort, exitEvent("code", "127", "error", "nosuch: command not found"), "", "",
			Result{ExitCode: 127, Reason: "nosuch: command not found"}},
		{"setup failed", exitPort, nil, "mount overlay: ENODEV", "",
			Result{ExitCode: 125, Reason: "the guest could not run the command: mount overlay: ENODEV"}},
		{"bad code", exitPort, exitEvent("code", "300"), "", "",
			Result{ExitCode: 125, Reason: `the guest could not run the command: the guest reported a bad exit status "300"`}},
		{"timeout", machine.Outcome{Reason: machine.ReasonTimeout, Code: 124}, nil, "", "",
			Result{ExitCode: 124, Reason: "-timeout 30s expired; the command was stopped with its VM"}},
		{"stopped by signals", machine.Outcome{Reason: machine.ReasonSignal, Code: 130, Err: errors.New("SIGINT received 3 times")}, nil, "", "",
			Result{ExitCode: 130, Reason: "stopped: SIGINT received 3 times"}},
		{"crash", machine.Outcome{Reason: machine.ReasonFatal, Code: 1, Err: errors.New("vcpu 0: triple fault\nregisters...")}, nil, "", "",
			Result{ExitCode: 125, Reason: "the VM failed before the command finished: vcpu 0: triple fault"}},
		{"panic", reset, nil, "", panicLine,
			Result{ExitCode: 125, Reason: "the guest's kernel panicked before the command finished: Kernel panic - not syncing: sysrq triggered crash"}},
		{"poweroff", machine.Outcome{Reason: machine.ReasonPoweroff}, nil, "", "",
			Result{ExitCode: 125, Reason: "the guest stopped (poweroff) before the command finished"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tail := []string{"last line"}
			got := decide(tt.out, tt.exit, tt.setupErr, tail, tt.panic, 30*time.Second)
			tt.want.Outcome, tt.want.Tail = tt.out, tail
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPhasesString(t *testing.T) {
	p := Phases{InitStarted: 410 * time.Millisecond, CommandStarted: 520 * time.Millisecond, Total: 2 * time.Second}
	assert.Equal(t, "init 0.41s, command 0.52s, exit -, total 2.00s", p.String())
}

func TestControlStream(t *testing.T) {
	s := newControlStream([]byte("job\n"))
	buf := make([]byte, 64)
	n, err := s.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "job\n", string(buf[:n]))

	got := make(chan string)
	go func() {
		n, _ := s.Read(buf)
		got <- string(buf[:n])
	}()
	select {
	case g := <-got:
		t.Fatalf("Read returned %q with nothing sent", g)
	case <-time.After(50 * time.Millisecond):
	}
	s.Send([]byte("sig\n"))
	assert.Equal(t, "sig\n", <-got)

	go func() {
		_, err := s.Read(buf)
		got <- err.Error()
	}()
	require.NoError(t, s.Close())
	assert.Equal(t, io.EOF.Error(), <-got)
	s.Send([]byte("late\n"))
	_, err = s.Read(buf)
	assert.ErrorIs(t, err, io.EOF)
}

func TestTail(t *testing.T) {
	var live strings.Builder
	tl := newTail(3, &live)
	for _, chunk := range []string{"one\r\ntw", "o\nthree\nfour\n", "fi", strings.Repeat("x", 2*maxTailLine) + "\n", "six"} {
		n, err := tl.Write([]byte(chunk))
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	lines := tl.Lines()
	require.Len(t, lines, 3)
	assert.Equal(t, "four", lines[0])
	assert.Equal(t, "fi"+strings.Repeat("x", maxTailLine-2), lines[1], "a long line is cut")
	assert.Equal(t, "six", lines[2], "the unfinished line too")
	assert.True(t, strings.HasPrefix(live.String(), "one\r\ntwo\n"), "everything goes on to the live console")
	assert.Empty(t, tl.Panic())
	_, _ = tl.Write([]byte("[ 8.8] Kernel panic - not syncing: sysrq triggered crash\n"))
	for i := range 50 {
		_, _ = tl.Write([]byte(fmt.Sprintf("[ 8.9] trace line %d\n", i)))
	}
	assert.Equal(t, "Kernel panic - not syncing: sysrq triggered crash", tl.Panic(), "the panic line outlives the tail")
}
