package machine_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/machine"
)

// TestCaptureNestedStatesWhileRunning: reading the nested state kicks the
// vCPU out of KVM_RUN and lets it go on; the run ends only when stopped.
func TestCaptureNestedStatesWhileRunning(t *testing.T) {
	kvmtest.RequireStopWithIFClear(t) // the guest spins with IF=0 and never exits
	sys := kvmtest.Open(t)
	size, err := sys.CheckExtension(kvm.CapNestedState)
	require.NoError(t, err)
	var a tinyelf.Asm
	path, err := tinyelf.Write(t.TempDir(), "spin.elf", a.Spin().Bytes())
	require.NoError(t, err)
	m, err := machine.New(machine.Config{Kernel: path, MemSize: 16 << 20, CPUs: 1, ConsoleOut: io.Discard, Timeout: time.Minute})
	require.NoError(t, err)
	defer m.Close()
	done := make(chan machine.Outcome, 1)
	go func() { done <- m.Run(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st := m.CaptureNestedStates(ctx)
		cancel()
		require.Len(t, st, 1)
		if size == 0 {
			assert.Contains(t, st[0].Text, "unavailable: host KVM has no nested state")
			assert.Nil(t, st[0].Raw)
		} else {
			assert.Contains(t, st[0].Text, "L1 (not in guest mode)", "this guest runs no guest of its own")
			assert.False(t, st[0].GuestMode)
			assert.NotNil(t, st[0].Raw)
		}
		select {
		case out := <-done:
			t.Fatalf("the run ended after a capture: %v", out)
		default:
		}
	}
	m.Stop(machine.Outcome{Reason: machine.ReasonQuit, Code: machine.ExitOK})
	select {
	case out := <-done:
		assert.Equal(t, machine.ReasonQuit, out.Reason)
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not stop")
	}
	assert.Len(t, m.NestedStates(), 1, "and after the run")
}
