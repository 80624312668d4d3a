package vcpu

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/kvm"
)

func TestFatalErrorResetState(t *testing.T) {
	reset := &FatalError{Exit: &ExitShutdown{}, Regs: &kvm.Regs{RIP: 0xfff0}, Sregs: &kvm.Sregs{CS: kvm.Segment{Base: 0xffff0000, Selector: 0xf000}}}
	assert.True(t, reset.ResetState())
	assert.Contains(t, reset.Error(), "registers show the reset state")
	died := &FatalError{Exit: &ExitShutdown{}, Regs: &kvm.Regs{RIP: 0x1000}, Sregs: &kvm.Sregs{CR0: CR0PE}}
	assert.False(t, died.ResetState())
	assert.NotContains(t, died.Error(), "reset state")
	other := &FatalError{Exit: &ExitFailEntry{}, Regs: &kvm.Regs{RIP: 0xfff0}, Sregs: &kvm.Sregs{CS: kvm.Segment{Base: 0xffff0000}}}
	assert.False(t, other.ResetState(), "only a shutdown resets the VMCB")
}
