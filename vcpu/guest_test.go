package vcpu_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// guestTimeout bounds every guest run; the guests take microseconds even
// where KVM emulates them instruction by instruction.
const guestTimeout = 10 * time.Second

func TestTinyGuests(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		mode guestMode
	}{
		{"real mode", realModeGuest, modeReal},
		{"32-bit protected mode", protectedModeGuest, modeProtected},
		{"64-bit long mode", longModeGuest, modeLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuestEnv(t, tt.code, tt.mode)
			ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
			defer cancel()

			action, err := g.v.Run(ctx)
			require.NoError(t, err)
			require.Equal(t, vcpu.ActionHalt, action, "the guest ends with HLT")

			assert.Equal(t, []access{
				{Write: true, Offset: 0, Data: []byte("H")},
				{Write: true, Offset: 0, Data: []byte("i")},
				{Offset: 1, Data: []byte{0x5a}},                                // in $0x11
				{Write: true, Offset: 2, Data: []byte{0x5b}},                   // the value read, plus one
				{Write: true, Offset: 3, Data: le32(0x12345678)},               // the MMIO read, echoed
				{Write: true, Offset: 4, Data: []byte("h")},                    // rep outsb "hello"
				{Write: true, Offset: 4, Data: []byte("e")},                    //
				{Write: true, Offset: 4, Data: []byte("l")},                    //
				{Write: true, Offset: 4, Data: []byte("l")},                    //
				{Write: true, Offset: 4, Data: []byte("o")},                    //
				{Offset: 5, Data: []byte("w")}, {Offset: 5, Data: []byte("x")}, // rep insb
				{Offset: 5, Data: []byte("y")}, {Offset: 5, Data: []byte("z")}, //
				{Write: true, Offset: 6, Data: []byte("w")}, // rep outsb of what insb read
				{Write: true, Offset: 6, Data: []byte("x")}, //
				{Write: true, Offset: 6, Data: []byte("y")}, //
				{Write: true, Offset: 6, Data: []byte("z")}, //
			}, g.ports.log())
			assert.Equal(t, []access{
				{Write: true, Offset: 0, Data: le32(0xdeadbeef)},
				{Offset: 4, Data: le32(0x12345678)},
			}, g.dev.log())

			buf, err := g.mem.Slice(guestCode+uint64(len(tt.code))-4, 4)
			require.NoError(t, err)
			assert.Equal(t, []byte("wxyz"), buf, "rep insb stored what the device returned")

			stats := g.v.Stats()
			assert.Equal(t, uint64(1), stats.Exits(kvm.ExitHLT))
			assert.Equal(t, uint64(2), stats.Exits(kvm.ExitMMIO))
			// 7 single OUT/IN exits and 3 string instructions, which KVM may
			// split into several exits but never merges.
			assert.GreaterOrEqual(t, stats.Exits(kvm.ExitIO), uint64(8))
			assert.LessOrEqual(t, stats.Exits(kvm.ExitIO), uint64(5+13))

			regs, err := g.kv.GetRegs()
			require.NoError(t, err)
			assert.Equal(t, uint64(guestCode+len(tt.code)-9), regs.RIP, "RIP is just past the HLT")
		})
	}
}

func TestStopSpinningGuestFromAnotherGoroutine(t *testing.T) {
	// spinGuest is a 2-byte jmp to itself, valid in every mode. Real mode
	// and CPL 0 are emulated instruction by instruction on kvm_pvm hosts;
	// CPL 3 runs natively there. Stopping must be bounded in every case.
	// With IF=0 only a VM exit that the host's interrupt forces can stop
	// the guest, which some platforms never force (see
	// kvmtest.RequireStopWithIFClear); with IF=1 every platform does.
	tests := []struct {
		name  string
		mode  guestMode
		ifSet bool
	}{
		{"real mode", modeReal, false},
		{"long mode CPL 0", modeLong, false},
		{"long mode CPL 3", modeUser, false},
		{"real mode IF=1", modeReal, true},
		{"long mode CPL 0 IF=1", modeLong, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ifSet {
				kvmtest.RequireStopWithIFClear(t)
			}
			g := newGuestEnv(t, spinGuest, tt.mode)
			if tt.ifSet {
				g.setIF(t)
			}
			r, ok := kvmtest.RunAndStop(g.v, 100*time.Millisecond, 5*time.Second)
			require.True(t, ok, "vCPU still running 5s after cancel")
			require.False(t, r.Early, "guest stopped by itself: %v, %v", r.Action, r.Err)
			require.NoError(t, r.Err)
			assert.Equal(t, vcpu.ActionInterrupted, r.Action)
			t.Logf("stop latency %v", r.Latency)
			assert.Less(t, r.Latency, time.Second, "stopping is bounded")
			assert.GreaterOrEqual(t, g.v.Stats().Exits(kvm.ExitIntr), uint64(1))

			regs, err := g.kv.GetRegs()
			require.NoError(t, err)
			assert.Equal(t, uint64(guestCode), regs.RIP, "still on the jmp")

			// The vCPU can run again after a stop, and stop again.
			ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel2()
			a, err := g.v.Run(ctx2)
			require.NoError(t, err)
			assert.Equal(t, vcpu.ActionInterrupted, a)
		})
	}
}

func TestRunWithDoneContextDoesNotEnterGuest(t *testing.T) {
	g := newGuestEnv(t, longModeGuest, modeLong)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a, err := g.v.Run(ctx)
	require.NoError(t, err)
	assert.Equal(t, vcpu.ActionInterrupted, a)
	assert.Empty(t, g.ports.log())
}

func TestTripleFaultIsFatalWithRegisters(t *testing.T) {
	g := newGuestEnv(t, tripleFaultGuest, modeLong)
	sregs, err := g.kv.GetSregs()
	require.NoError(t, err)
	sregs.IDT = kvm.DTable{Base: 0, Limit: 0} // nowhere to deliver #UD
	require.NoError(t, g.kv.SetSregs(sregs))

	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	_, err = g.v.Run(ctx)
	require.Error(t, err)
	var fe *vcpu.FatalError
	require.True(t, errors.As(err, &fe), "got %T: %v", err, err)
	assert.IsType(t, &vcpu.ExitShutdown{}, fe.Exit)
	require.NotNil(t, fe.Regs)
	require.NotNil(t, fe.Sregs)
	if fe.ResetState() {
		// AMD: KVM reset the VMCB on the shutdown intercept; the error
		// says so instead of pointing at a RIP the guest never ran.
		assert.Contains(t, err.Error(), "vcpu 0: KVM_EXIT_SHUTDOWN (triple fault) at rip=0xfff0 (real mode cs=0xf000)")
		assert.Contains(t, err.Error(), "(registers show the reset state")
	} else {
		assert.Equal(t, "vcpu 0: KVM_EXIT_SHUTDOWN (triple fault) at rip=0x1000", err.Error())
		assert.Contains(t, fe.Dump(), "rip=0000000000001000")
		assert.Contains(t, fe.Dump(), "mode=long")
	}
	assert.Equal(t, uint64(1), g.v.Stats().Exits(kvm.ExitShutdown))
}

func TestUserModeGuestRunsOutLoop(t *testing.T) {
	g, a, done := runOutLoopToDone(t, 10)
	assert.Equal(t, vcpu.ActionInterrupted, a)
	assert.Equal(t, 1, done.writes)
	assert.Len(t, g.ports.log(), 10, "ten OUTs at CPL 3")
	sregs, err := g.kv.GetSregs()
	require.NoError(t, err)
	assert.Equal(t, uint8(3), sregs.CS.DPL, "the guest ran at CPL 3")
}

// runOutLoopToDone runs userOutLoopGuest for n OUTs; its write to the done
// port cancels the run.
func runOutLoopToDone(t *testing.T, n uint64) (*guestEnv, vcpu.Action, *doneDevice) {
	t.Helper()
	g := newGuestEnv(t, userOutLoopGuest, modeUser)
	regs, err := g.kv.GetRegs()
	require.NoError(t, err)
	regs.RCX, regs.RDX = n, portBase+3
	require.NoError(t, g.kv.SetRegs(regs))
	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	done := &doneDevice{cancel: cancel}
	require.NoError(t, g.pio.Insert(done, 0x81, 1))
	a, err := g.v.Run(ctx)
	require.NoError(t, err)
	return g, a, done
}

// doneDevice cancels a context when the guest writes to it.
type doneDevice struct {
	cancel context.CancelFunc
	writes int
}

func (d *doneDevice) Read(offset uint64, data []byte) {}
func (d *doneDevice) Write(offset uint64, data []byte) {
	d.writes++
	d.cancel()
}

// TestStopDuringExitSkipsReentry: a device that ends the run while its
// exit is handled stops the vCPU before the guest runs again, so the
// guest's next instructions (here a spin with IF=0 that no host interrupt
// may ever stop, under Bochs) never run and no kick is needed.
func TestStopDuringExitSkipsReentry(t *testing.T) {
	g, a, _ := runOutLoopToDone(t, 1)
	assert.Equal(t, vcpu.ActionInterrupted, a)
	assert.Equal(t, uint64(0), g.v.Stats().Exits(kvm.ExitIntr), "no KVM_RUN after the exit that stopped the run")
	// VMX and SVM KVM finish an OUT that went to userspace (advance RIP
	// past it) at the next KVM_RUN (complete_fast_pio_out in
	// arch/x86/kvm/x86.c), which never came: RIP is still on the OUT.
	// kvm_pvm has advanced it already. Either way the spin never ran.
	regs, err := g.kv.GetRegs()
	require.NoError(t, err)
	outDone := uint64(guestCode + len(userOutLoopGuest) - 3) // out %al,(%dx) to the done port
	assert.Contains(t, []uint64{outDone, outDone + 1}, regs.RIP, "the guest stopped at its OUT to the done port, before its spin")
}
