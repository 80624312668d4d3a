package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSession records what the signal handler did.
type fakeSession struct {
	signals []syscall.Signal
	stopped []int
}

func (f *fakeSession) Signal(s syscall.Signal)   { f.signals = append(f.signals, s) }
func (f *fakeSession) Stop(code int, why string) { f.stopped = append(f.stopped, code) }

func TestExecSignals(t *testing.T) {
	var stderr strings.Builder
	s := &execSignals{stderr: &stderr}
	exited := -1
	exit := func(code int) { exited = code }

	s.handle(syscall.SIGINT, exit)
	assert.Equal(t, 130, exited, "before the VM exists, a signal ends gonest at once")
	assert.Contains(t, stderr.String(), "received SIGINT before the guest started")

	s = &execSignals{stderr: &stderr}
	f := &fakeSession{}
	s.setSession(f)
	s.handle(syscall.SIGINT, exit)
	s.handle(syscall.SIGTERM, exit)
	assert.Equal(t, []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, f.signals, "passed on to the command")
	assert.Empty(t, f.stopped)
	s.handle(syscall.SIGINT, exit)
	assert.Equal(t, []int{130}, f.stopped, "the third stops the VM")
	assert.Len(t, f.signals, 2)

	f = &fakeSession{}
	s = &execSignals{stderr: &stderr}
	s.setSession(f)
	s.handle(syscall.SIGPIPE, exit)
	assert.Equal(t, []int{141}, f.stopped, "SIGPIPE: nobody reads the output; stop")
	assert.Empty(t, f.signals)
}

func TestExecStdin(t *testing.T) {
	assert.Nil(t, execStdin(nil))
	f, err := os.CreateTemp(t.TempDir(), "in")
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, f, execStdin(f), "a file or pipe is the command's input as it is")
}
