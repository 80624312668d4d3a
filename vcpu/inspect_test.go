package vcpu_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// TestInspectRunningGuest: Inspect stops a spinning guest long enough to
// read its registers on the vCPU's own thread, and the guest goes on. The
// guest spins with IF=1, so the kick reaches it on every platform (Bochs
// 2.7's VMX never interrupts a guest with IF=0: kvmtest.RequireStopWithIFClear).
func TestInspectRunningGuest(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode guestMode
	}{
		{"long mode CPL 0", modeLong},
		{"long mode CPL 3", modeUser},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuestEnv(t, spinGuest, tt.mode)
			g.setIF(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan vcpu.Action, 1)
			go func() {
				a, err := g.v.Run(ctx)
				assert.NoError(t, err)
				done <- a
			}()
			time.Sleep(50 * time.Millisecond) // let it spin
			for i := range 3 {
				var rip uint64
				var regsErr error
				ictx, icancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := g.v.Inspect(ictx, func(kv *kvm.VCPU) {
					r, err := kv.GetRegs()
					rip, regsErr = r.RIP, err
				})
				icancel()
				require.NoError(t, err, "inspection %d", i)
				require.NoError(t, regsErr)
				assert.Equal(t, uint64(guestCode), rip, "the guest is on its jmp")
				select {
				case a := <-done:
					t.Fatalf("the guest stopped after inspection %d: %v", i, a)
				default:
				}
			}
			assert.GreaterOrEqual(t, g.v.Stats().Exits(kvm.ExitIntr), uint64(1), "the kick made KVM_RUN return")
			cancel()
			select {
			case a := <-done:
				assert.Equal(t, vcpu.ActionInterrupted, a)
			case <-time.After(5 * time.Second):
				t.Fatal("vCPU still running 5s after cancel")
			}
		})
	}
}

// TestInspectIdleVCPU: with no Run active, Inspect runs fn at once.
func TestInspectIdleVCPU(t *testing.T) {
	g := newGuestEnv(t, spinGuest, modeLong)
	var rip uint64
	require.NoError(t, g.v.Inspect(context.Background(), func(kv *kvm.VCPU) {
		r, err := kv.GetRegs()
		assert.NoError(t, err)
		rip = r.RIP
	}))
	assert.Equal(t, uint64(guestCode), rip)
}

// TestInspectDoesNotBreakRun: Inspects racing with Run's start and end
// never make Run report "already running", and every Inspect is served.
// The guest spins with IF=1, as in TestInspectRunningGuest.
func TestInspectDoesNotBreakRun(t *testing.T) {
	g := newGuestEnv(t, spinGuest, modeUser)
	g.setIF(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	served := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := g.v.Inspect(ctx, func(*kvm.VCPU) { served++ })
			cancel()
			assert.NoError(t, err)
		}
	}()
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		a, err := g.v.Run(ctx)
		cancel()
		require.NoError(t, err)
		assert.Equal(t, vcpu.ActionInterrupted, a)
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, served)
}
