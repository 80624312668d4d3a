package vcpu_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vcpu"
)

// Guest physical layout of vmxGuest's VMX structures, above the usual
// test guest layout.
const (
	vmxonRegion = 0x9000 // VMXON region, 4 KiB aligned
	vmcsRegion  = 0xa000 // the VMCS L1 makes current
	vmxPointers = 0xb000 // two 64-bit operands: vmxonRegion, then vmcsRegion
	vmxGuestRIP = 0x12345678
)

// vmxGuest is a minimal L1 hypervisor in long mode: it enables VMX
// (CR4.VMXE), stamps the VMCS revision identifier from IA32_VMX_BASIC into
// its VMXON region and its VMCS, executes VMXON and VMPTRLD, writes the
// guest RIP field with VMWRITE, tries VMLAUNCH with every other field
// zero, which fails with VMfailValid, reads the VM-instruction error into
// RBX with VMREAD and halts.
var vmxGuest = []byte{
	0xb9, 0x80, 0x04, 0x00, 0x00, // mov $0x480,%ecx (IA32_VMX_BASIC)
	0x0f, 0x32, // rdmsr: EAX = VMCS revision identifier
	0x89, 0x04, 0x25, 0x00, 0x90, 0x00, 0x00, // mov %eax,0x9000 (VMXON region)
	0x89, 0x04, 0x25, 0x00, 0xa0, 0x00, 0x00, // mov %eax,0xa000 (VMCS region)
	0x0f, 0x20, 0xe0, // mov %cr4,%rax
	0x0d, 0x00, 0x20, 0x00, 0x00, // or $0x2000,%eax (CR4.VMXE)
	0x0f, 0x22, 0xe0, // mov %rax,%cr4
	0xf3, 0x0f, 0xc7, 0x34, 0x25, 0x00, 0xb0, 0x00, 0x00, // vmxon 0xb000
	0x0f, 0xc7, 0x34, 0x25, 0x08, 0xb0, 0x00, 0x00, // vmptrld 0xb008
	0xb8, 0x1e, 0x68, 0x00, 0x00, // mov $0x681e,%eax (VMCS field: guest RIP, SDM Vol. 3D Appendix B)
	0xbb, 0x78, 0x56, 0x34, 0x12, // mov $0x12345678,%ebx
	0x0f, 0x79, 0xc3, // vmwrite %rbx,%rax
	0x0f, 0x01, 0xc2, // vmlaunch: VMfailValid, the controls are all zero
	0xb8, 0x00, 0x44, 0x00, 0x00, // mov $0x4400,%eax (VMCS field: VM-instruction error)
	0x0f, 0x78, 0xc3, // vmread %rax,%rbx
	0xf4, // hlt
}

// TestNestedStateVMX runs vmxGuest on a vCPU that sees VMX and decodes the
// nested state KVM then returns: the VMXON region, the current VMCS, and
// the vmcs12 with the field L1 wrote and the error its VMLAUNCH got.
func TestNestedStateVMX(t *testing.T) {
	g := newGuestEnv(t, vmxGuest, modeLong)
	size, err := g.sys.CheckExtension(kvm.CapNestedState)
	require.NoError(t, err)
	if size == 0 {
		kvmtest.NestedUnavailable(t, "KVM_CAP_NESTED_STATE is 0 on this host")
	}
	supported, err := g.sys.GetSupportedCPUID()
	require.NoError(t, err)
	switch {
	case vcpu.HasSVM(supported):
		t.Skip("skipping: this host's KVM offers SVM, whose nested state is a vmcb12, not a vmcs12")
	case !vcpu.HasVMX(supported):
		kvmtest.NestedUnavailable(t, "KVM offers no VMX to guests (kvm_intel without nested=1?)")
	}
	cpuid, err := vcpu.CPUIDPolicy{Supported: supported, CPUs: 1, Nested: vcpu.NestedOn}.For(0)
	require.NoError(t, err)
	require.NoError(t, g.kv.SetCPUID2(cpuid))
	require.NoError(t, vcpu.SetBootMSRs(g.kv, true), "IA32_FEATURE_CONTROL locked with VMXON allowed, as firmware leaves it")
	require.NoError(t, g.mem.PutUint64(vmxPointers, vmxonRegion))
	require.NoError(t, g.mem.PutUint64(vmxPointers+8, vmcsRegion))

	ctx, cancel := context.WithTimeout(context.Background(), guestTimeout)
	defer cancel()
	action, err := g.v.Run(ctx)
	require.NoError(t, err, "L1's VMX instructions")
	require.Equal(t, vcpu.ActionHalt, action)
	regs, err := g.kv.GetRegs()
	require.NoError(t, err)
	assert.Equal(t, uint64(guestCode+len(vmxGuest)), regs.RIP, "L1 ran to its HLT")

	st, err := g.kv.GetNestedState(size)
	require.NoError(t, err)
	require.NotNil(t, st.VMX, "format VMX")
	d, err := st.VMXData()
	require.NoError(t, err)
	require.NotNil(t, d, "G1 has a current VMCS: KVM sends its vmcs12")
	t.Logf("KVM_CAP_NESTED_STATE=%d; %s\n  %s", size, machine.DescribeNestedState(st), strings.Join(d.Describe(), "\n  "))
	assert.False(t, st.GuestMode(), "VMLAUNCH failed: L1 never entered L2")
	assert.Equal(t, uint64(vmxonRegion), st.VMX.VMXONPA)
	assert.Equal(t, uint64(vmcsRegion), st.VMX.VMCS12PA)
	assert.Equal(t, uint32(128+kvm.VMCS12Size), st.Size, "the header and one vmcs12: no shadow vmcs12 outside guest mode")
	assert.Nil(t, d.Shadow, "no shadow vmcs12 outside guest mode")
	v := d.VMCS12
	assert.Equal(t, uint32(kvm.VMCS12Revision), v.RevisionID)
	assert.Equal(t, uint64(vmxGuestRIP), v.GuestRIP, "the field L1 wrote with VMWRITE")
	assert.Equal(t, uint32(0), v.LaunchState, "a failed VMLAUNCH leaves the VMCS clear")
	assert.Equal(t, uint32(7), v.InstructionError, "VM entry with invalid control field(s)")
	assert.Equal(t, uint64(7), regs.RBX, "L1's VMREAD of the VM-instruction error agrees")
}
